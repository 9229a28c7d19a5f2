package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tuttifleet/tutti/agents"
)

// knownAgent is one agent whose DDL the client has.
type knownAgent struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Version     string `json:"version"`
	Source      string `json:"source"` // "built in" or the DDL file
}

// knownAgents lists the agents whose DDL the client has, as findDDL
// finds them: built in, then <name>.json in the agents directories (a
// built-in agent's name or a name found earlier wins). Files that are
// not an agent's DDL are skipped, each named in skipped.
func knownAgents(g *globals) (list []knownAgent, skipped []string, err error) {
	seen := map[string]bool{}
	for _, n := range agents.BuiltinDDLs() {
		d, _ := agents.BuiltinDDL(n)
		list = append(list, knownAgent{Name: n, Description: d.Metadata.Description, Version: d.Metadata.Version, Source: "built in"})
		seen[n] = true
	}
	dirs, err := clientAgentDirs(g)
	if err != nil {
		return nil, nil, err
	}
	for _, dir := range dirs {
		paths, _ := filepath.Glob(filepath.Join(dir, "*.json")) // only a bad pattern fails
		for _, p := range paths {
			name := strings.TrimSuffix(filepath.Base(p), ".json")
			if seen[name] || !agents.ValidName(name) {
				continue
			}
			d, source, err := findDDL(g, name)
			if err != nil || source != p {
				skipped = append(skipped, fmt.Sprintf("%s: %v", p, err))
				continue
			}
			seen[name] = true
			list = append(list, knownAgent{Name: name, Description: d.Metadata.Description, Version: d.Metadata.Version, Source: p})
		}
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list, skipped, nil
}

// writeAgentList prints the agents for `tutti plugin doc` without AGENT.
func writeAgentList(w, stderr io.Writer, g *globals, asJSON bool) error {
	list, skipped, err := knownAgents(g)
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	for _, s := range skipped {
		fmt.Fprintln(stderr, "tutti: skipped", s)
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	width := 0
	for _, a := range list {
		width = max(width, len(a.Name))
	}
	fmt.Fprintln(w, "Agents this client has a DDL for (tutti plugin doc AGENT describes one):")
	fmt.Fprintln(w)
	for _, a := range list {
		fmt.Fprintf(w, "  %-*s  %s (%s, %s)\n", width, a.Name, shorten(a.Description, 60), orDash(a.Version), a.Source)
	}
	return nil
}

// shorten cuts s at a word before n characters, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if i := strings.LastIndex(s[:n], " "); i > 0 {
		return strings.TrimRight(s[:i], ",.:;") + " …"
	}
	return s[:n] + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
