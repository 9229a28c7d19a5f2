package compound

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLimited(t *testing.T) {
	nested := strings.Repeat("(", 10) + "role=web" + strings.Repeat(")", 10)
	for _, tc := range []struct {
		name, src string
		lim       Limits
		refused   bool
	}{
		{"within every limit", "role=web and /^apache/ and with('/nginx/')", Limits{MaxLength: 100, MaxDepth: 20, MaxRegexes: 2}, false},
		{"too long", "role=web and location=dc1", Limits{MaxLength: 10}, true},
		{"too deep", nested, Limits{MaxDepth: 5}, true},
		{"deep enough", nested, Limits{MaxDepth: 40}, false},
		{"too many class regexes", "/a/ or /b/ or /c/", Limits{MaxRegexes: 2}, true},
		{"too many =~", "role=~/a/ or role=~/b/ or role=~/c/", Limits{MaxRegexes: 2}, true},
		{"too many matches", "fact('a') matches 'x' or fact('b') matches 'y' or fact('c') matches 'z'", Limits{MaxRegexes: 2}, true},
		{"too many with regexes", "with('/a/') or with('/b/') or with('/c/')", Limits{MaxRegexes: 2}, true},
		{"with names are no regexes", "with('a') or with('b') or with('c')", Limits{MaxRegexes: 2}, false},
		{"negative allows no regex", "role=web and /a/", Limits{MaxRegexes: -1}, true},
		{"negative allows no regex, none there", "role=web", Limits{MaxRegexes: -1}, false},
		{"zero limits are the package's", "/a/ or /b/ or /c/", Limits{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := ParseLimited(tc.src, tc.lim)
			if tc.refused {
				var se *SyntaxError
				if !errors.Is(err, ErrLimit) || !errors.As(err, &se) {
					t.Fatalf("ParseLimited(%q) = %v, want a *SyntaxError wrapping ErrLimit", tc.src, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseLimited(%q): %v", tc.src, err)
			}
			if err := x.Within(tc.lim); err != nil {
				t.Fatalf("Within after a parse within the same limits: %v", err)
			}
		})
	}
}

// A syntax error is not a limit error.
func TestParseLimitedSyntaxIsNotLimit(t *testing.T) {
	if _, err := ParseLimited("role=web and", Limits{MaxRegexes: 1}); err == nil || errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want a syntax error that is not ErrLimit", err)
	}
}

// Within applies tighter limits to an expression parsed under looser ones
// (the filter package's cache).
func TestWithin(t *testing.T) {
	x, err := Parse("((/a/ or /b/) and role=~/c/)")
	if err != nil {
		t.Fatal(err)
	}
	if x.Regexes() != 3 {
		t.Fatalf("Regexes() = %d, want 3", x.Regexes())
	}
	for _, lim := range []Limits{{MaxLength: 5}, {MaxDepth: 2}, {MaxRegexes: 2}} {
		if err := x.Within(lim); !errors.Is(err, ErrLimit) {
			t.Errorf("Within(%+v) = %v, want ErrLimit", lim, err)
		}
	}
	if err := x.Within(Limits{MaxLength: 100, MaxDepth: 20, MaxRegexes: 3}); err != nil {
		t.Errorf("Within(loose) = %v", err)
	}
}

// The regex count is checked before compiling: an expression of many
// invalid patterns over the limit fails on the limit, not on the first
// pattern after it.
func TestParseLimitedCountsBeforeCompiling(t *testing.T) {
	src := "/a/ or /b/ or /[/"
	_, err := ParseLimited(src, Limits{MaxRegexes: 2})
	if !errors.Is(err, ErrLimit) {
		t.Fatalf("err = %v, want ErrLimit before compiling the third pattern", err)
	}
}

// FuzzParseLimited: an expression ParseLimited accepts is within its
// limits, and one it refuses for a limit is over them.
func FuzzParseLimited(f *testing.F) {
	for _, s := range []string{"role=web", "/a/ or (/b/ and c=~/d/)", "with('/x/') and fact('a') matches 'b'", "((((a=b))))"} {
		f.Add(s, 3, 4)
	}
	f.Fuzz(func(t *testing.T, src string, regexes, depth int) {
		lim := Limits{MaxRegexes: regexes%8 - 1, MaxDepth: depth % 16, MaxLength: 256}
		x, err := ParseLimited(src, lim)
		if err == nil {
			if werr := x.Within(lim); werr != nil {
				t.Fatalf("accepted %q under %+v but Within says %v", src, lim, werr)
			}
			return
		}
		if errors.Is(err, ErrLimit) {
			if y, perr := Parse(src); perr == nil && y.Within(lim) == nil {
				t.Fatalf("refused %q under %+v for a limit (%v) but it is within them", src, lim, err)
			}
		}
	})
}
