package version

import (
	"os"
	"regexp"
	"testing"
)

// Every binary the Makefile links gets its version through this one
// variable: each -X in the Makefile names it, and nothing else.
func TestMakefileSetsThisVariable(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	xs := regexp.MustCompile(`-X\s+([^=\s]+)=`).FindAllSubmatch(mk, -1)
	if len(xs) == 0 {
		t.Fatal("the Makefile sets no version with -X")
	}
	for _, x := range xs {
		if got := string(x[1]); got != "github.com/tuttifleet/tutti/server/version.Version" {
			t.Errorf("the Makefile sets %s; the version variable is server/version.Version", got)
		}
	}
}
