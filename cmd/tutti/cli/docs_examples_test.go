package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// docErrorExample is a fenced block of the user docs that shows a tutti
// command and the error it prints: "$ tutti ARGS" then lines starting
// with "tutti: " (and their continuation lines).
type docErrorExample struct {
	file string
	line int
	args []string
	want string
}

// docErrorExamples finds the error examples of a Markdown text.
func docErrorExamples(file, text string) ([]docErrorExample, error) {
	var out []docErrorExample
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```" || i+2 >= len(lines) {
			continue
		}
		cmd, ok := strings.CutPrefix(lines[i+1], "$ tutti ")
		if !ok || !strings.HasPrefix(lines[i+2], "tutti: ") {
			continue
		}
		end := i + 2
		for end < len(lines) && strings.TrimSpace(lines[end]) != "```" {
			end++
		}
		args, err := shellWords(cmd)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, i+2, err)
		}
		out = append(out, docErrorExample{file: file, line: i + 2, args: args, want: strings.Join(lines[i+2:end], "\n")})
		i = end
	}
	return out, nil
}

// shellWords splits a command line as sh would for the simple quoting
// the docs use: single and double quotes, no escapes or expansions.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// TestDocErrorExamples runs every error example of the user docs (with an
// empty config file, so nothing is contacted) and compares what tutti
// prints with what the doc says: a changed message fails here until the
// doc is updated.
func TestDocErrorExamples(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "empty.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples, err := docErrorExamples(filepath.Base(f), string(b))
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range examples {
			n++
			code, _, stderr := runCLI(t, append(ex.args, "--config", conf)...)
			if code == ExitOK {
				t.Errorf("%s:%d: tutti %s succeeded; the doc shows an error", ex.file, ex.line, strings.Join(ex.args, " "))
				continue
			}
			if got := strings.TrimRight(stderr, "\n"); got != ex.want {
				t.Errorf("%s:%d: tutti %s prints\n%s\nthe doc says\n%s", ex.file, ex.line, strings.Join(ex.args, " "), got, ex.want)
			}
		}
	}
	if n == 0 {
		t.Error("found no error examples in docs/*.md; the scanner broke")
	}
}

func TestShellWords(t *testing.T) {
	got, err := shellWords(`rpc x -S 'a and (b' -F "c=d e" plain`)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"rpc", "x", "-S", "a and (b", "-F", "c=d e", "plain"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("shellWords = %q, want %q", got, want)
	}
	if _, err := shellWords(`a 'b`); err == nil {
		t.Error("an unterminated quote was accepted")
	}
}
