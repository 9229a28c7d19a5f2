package emulate

import (
	"maps"
	"strconv"

	"github.com/tuttifleet/tutti/server"
)

// Groups is how many groups the fleet is split into: node i (1-based)
// has the fact group = i % Groups and the class emulate::group<group>.
const Groups = 10

// nodeFacts are one emulated node's facts: its own index, group,
// identity and emulated=true, over the facts and classes of the
// configuration's fact files (shared and read only, as a fleet built
// from one image shares them). Nothing is stored per node but the
// index: facts are computed when asked for.
type nodeFacts struct {
	index    int
	identity string
	base     server.FactStore // nil without fact files
	classes  []string         // shared by every node of the group
}

// Fact implements server.FactStore.
func (f *nodeFacts) Fact(path string) (any, bool) {
	switch path {
	case "index":
		return f.index, true
	case "group":
		return f.index % Groups, true
	case "identity":
		return f.identity, true
	case "emulated":
		return true, true
	}
	if f.base == nil {
		return nil, false
	}
	return f.base.Fact(path)
}

// Facts implements server.FactStore; the map is built on every call.
func (f *nodeFacts) Facts() map[string]any {
	m := map[string]any{}
	if f.base != nil {
		maps.Copy(m, f.base.Facts())
	}
	m["index"], m["group"], m["identity"], m["emulated"] = f.index, f.index%Groups, f.identity, true
	return m
}

// Classes implements server.FactStore.
func (f *nodeFacts) Classes() []string { return f.classes }

// HasClass implements server.FactStore.
func (f *nodeFacts) HasClass(name string) bool {
	for _, c := range f.classes {
		if c == name {
			return true
		}
	}
	return false
}

// groupClasses returns the class list of each group: the base classes,
// "emulate" and "emulate::group<g>".
func groupClasses(base server.FactStore) [Groups][]string {
	var out [Groups][]string
	for g := range out {
		var cl []string
		if base != nil {
			cl = append(cl, base.Classes()...)
		}
		out[g] = append(cl, "emulate", "emulate::group"+strconv.Itoa(g))
	}
	return out
}

var _ server.FactStore = (*nodeFacts)(nil)
