package config

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// mdRefRe finds a reference to a Markdown file: a path or name ending in
// .md (not part of a longer word).
var mdRefRe = regexp.MustCompile(`[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md\b`)

// mdRefAllowed are .md names that are not references to files: cobra's
// per-command file names, which the CLI reference generator turns into
// in-page anchors.
var mdRefAllowed = map[string]bool{"tutti_pki_init.md": true}

// repoFiles lists the tracked files of the repository (git ls-files), or
// every file under root when git is not available (a source tarball).
func repoFiles(t *testing.T, root string) []string {
	t.Helper()
	if out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output(); err == nil && len(out) > 0 {
		var files []string
		for _, f := range bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0}) {
			files = append(files, string(f))
		}
		return files
	}
	var files []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// missingMDRefs returns "line: ref" for each .md reference in text that
// names no file: neither relative to dir (the citing file's directory,
// as Markdown links are) nor relative to the repository root (as code
// comments cite docs/protocol.md), nor, for a bare name, the name of some
// file of the repository (code that writes or reads docs: "quickstart.md"
// joined to a directory). Absolute paths (installed docs) are not checked.
func missingMDRefs(text string, exists func(string) bool, dir string) []string {
	var bad []string
	for i, line := range strings.Split(text, "\n") {
		for _, loc := range mdRefRe.FindAllStringIndex(line, -1) {
			ref := line[loc[0]:loc[1]]
			if strings.HasPrefix(ref, "/") || mdRefAllowed[ref] {
				continue
			}
			if loc[0] > 0 && strings.HasSuffix(line[:loc[0]], "://") {
				continue // a URL
			}
			if exists(filepath.Join(dir, ref)) || exists(filepath.Clean(ref)) ||
				(!strings.Contains(ref, "/") && exists("*/"+ref)) {
				continue
			}
			bad = append(bad, strconv.Itoa(i+1)+": "+ref)
		}
	}
	return bad
}

// TestNoReferenceToMissingMarkdown: nothing in the repository may cite a
// Markdown file that is not in it (the reference notes the code was first
// written from live outside; their content is in docs/).
func TestNoReferenceToMissingMarkdown(t *testing.T) {
	root := ".."
	files := repoFiles(t, root)
	known := map[string]bool{}
	for _, f := range files {
		known[filepath.Clean(f)] = true
		known["*/"+filepath.Base(f)] = true // the bare name, anywhere
	}
	exists := func(p string) bool { return known[p] }
	checked := 0
	for _, f := range files {
		switch filepath.Ext(f) {
		case ".svg", ".gz", ".pem", ".b64", ".json", ".jsonl":
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil || bytes.IndexByte(b, 0) >= 0 {
			continue // gone from the work tree, or binary
		}
		checked++
		for _, bad := range missingMDRefs(string(b), exists, filepath.Dir(f)) {
			t.Errorf("%s:%s: no such file in the repository", f, bad)
		}
	}
	if checked < 50 {
		t.Errorf("checked only %d files; the file list broke", checked)
	}
}

func TestMissingMDRefs(t *testing.T) {
	// the names are built so that this file does not cite them itself
	notes, wrong := "PROTOCOL"+".md", "docs/nosuch/"+"protocol.md"
	exists := func(p string) bool { return p == "docs/protocol.md" || p == "README.md" || p == "*/protocol.md" }
	text := "see docs/protocol.md §7\n[p](protocol.md) and " + notes + " §3\n" + wrong + "\n" +
		"installed as /usr/share/doc/tutti/README.md, https://example.net/x.md\n"
	got := missingMDRefs(text, exists, "docs")
	if want := "2: " + notes + ",3: " + wrong; strings.Join(got, ",") != want {
		t.Errorf("missing = %q, want %q", got, want)
	}
}
