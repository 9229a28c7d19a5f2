package actionpolicy

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// GroupsFile is the name of the groups file inside the policy directory.
const GroupsFile = "groups"

// maxLineBytes bounds one line of a policy or groups file.
const maxLineBytes = 1 << 20

var groupNameRE = regexp.MustCompile(`^[\w.\-]+$`)

// Groups maps a group name to its member callerids, as read from the
// policies/groups file. A nil Groups has no groups.
type Groups map[string][]string

// Has reports whether callerID is a member of group.
func (g Groups) Has(group, callerID string) bool {
	for _, m := range g[group] {
		if m == callerID {
			return true
		}
	}
	return false
}

// ParseGroups reads a groups file: one group per line, "name member
// member …" separated by spaces, '#' comments and blank lines allowed
// (docs/actionpolicy.md §2.4). Lines with a bad name or no members are skipped with a
// warning; a group named on several lines collects all their members. The
// error is non-nil only when the text cannot be read; it is a
// *PolicyError naming the line.
func ParseGroups(r io.Reader) (Groups, []Warning, error) {
	groups := Groups{}
	var warns []Warning
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineBytes)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		switch {
		case !groupNameRE.MatchString(f[0]):
			warns = append(warns, Warning{n, fmt.Sprintf("invalid group name %q, line ignored", f[0])})
			continue
		case len(f) == 1:
			warns = append(warns, Warning{n, fmt.Sprintf("group %q has no members, line ignored", f[0])})
			continue
		}
		if _, dup := groups[f[0]]; dup {
			warns = append(warns, Warning{n, fmt.Sprintf("group %q defined again, members are added", f[0])})
		}
		groups[f[0]] = append(groups[f[0]], f[1:]...)
	}
	if err := sc.Err(); err != nil {
		return nil, warns, &PolicyError{File: GroupsFile, Line: n + 1, Reason: "cannot read line", Err: err}
	}
	return groups, warns, nil
}
