package client

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// MaxNodesLine bounds one line of a nodes file.
const MaxNodesLine = 4096

// ParseNodes reads a flat list of node identities (the --nodes file):
// one per line, surrounding spaces ignored, blank lines and lines whose
// first non-space character is '#' skipped, and a " #" comment after a
// name allowed. Duplicates are dropped; the order of first appearance is
// kept. A line that is not a valid identity is an error naming the line.
func ParseNodes(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), MaxNodesLine)
	var out []string
	seen := map[string]bool{}
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.Index(s, "#"); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !filterIdentityRe.MatchString(s) {
			return nil, fmt.Errorf("line %d: %q is not a node identity (letters, digits, '_', '.' and '-')", line, s)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("after %d nodes: %w", len(out), err)
	}
	return out, nil
}

// ReadNodesFile reads a nodes file with ParseNodes; "-" is stdin.
func ReadNodesFile(path string, stdin io.Reader) ([]string, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	nodes, err := ParseNodes(r)
	if err != nil {
		return nil, fmt.Errorf("nodes file %s: %w", path, err)
	}
	return nodes, nil
}

// SelectIdentities keeps the nodes matching any of the -I patterns (exact
// or /regex/, as a node matches its identity filter, docs/protocol.md §13.2).
// No pattern keeps every node.
func SelectIdentities(nodes, patterns []string) ([]string, error) {
	if len(patterns) == 0 {
		return nodes, nil
	}
	exact := map[string]bool{}
	var res []*regexp.Regexp
	for _, p := range patterns {
		if !protocol.IsRegex(p) {
			exact[p] = true
			continue
		}
		re, err := protocol.CompileNameRegex(p)
		if err != nil {
			return nil, fmt.Errorf("-I %q: %w", p, err)
		}
		res = append(res, re)
	}
	var out []string
	for _, n := range nodes {
		if exact[n] || slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(n) }) {
			out = append(out, n)
		}
	}
	return out, nil
}
