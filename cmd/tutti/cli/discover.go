package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
)

func newDiscoverCmd(g *globals) *cobra.Command {
	var (
		sel    selectFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:     "discover",
		Aliases: []string{"find"},
		Short:   "List the nodes matching the filters",
		Long: "discover broadcasts a discovery request with the filters and prints the name of each node that\n" +
			"answers, sorted, one per line. It ends " + discoveryIdleGap.String() + " after the last reply or at --discovery-timeout.\n" +
			"With --nodes or exact -I names it prints those nodes without asking the network.\n" +
			"A reply that is unsigned (while signed replies are required) or does not verify names no node:\n" +
			"it is reported on stderr and the exit status is 3.",
		Example: "  tutti discover -C role::web -F 'os.family=debian'\n" +
			"  tutti find -S 'role=db or with(\"apache\")' --json",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := sel.build()
			if err != nil {
				return exitWith(ExitUsage, err)
			}
			var nodes []string
			var sum *client.Summary
			if !sel.discovers() {
				nodes, _, err = sel.nodes(cmd.Context(), g, nil, f)
			} else {
				s, cerr := g.connect(cmd)
				if cerr != nil {
					return cerr
				}
				defer s.Close()
				nodes, sum, err = sel.nodes(cmd.Context(), g, s, f)
			}
			if err != nil {
				return err
			}
			nodes = slices.Compact(slices.Sorted(slices.Values(nodes)))
			if asJSON {
				if err := json.NewEncoder(g.stdout).Encode(nonNil(nodes)); err != nil {
					return exitWith(ExitFailed, err)
				}
			} else {
				for _, n := range nodes {
					fmt.Fprintln(g.stdout, n)
				}
			}
			return discoverExit(g.stderr, nodes, sum, &sel)
		},
	}
	sel.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON list")
	registerFlagCompletions(cmd)
	return cmd
}

// discoverExit reports what the discovery refused or accepted unsigned on
// stderr (stdout holds node names only) and picks the exit status.
func discoverExit(stderr io.Writer, nodes []string, sum *client.Summary, sel *selectFlags) error {
	var refused []refusedReply
	if sum != nil {
		refused = refusedFrom(sum, "")
		if len(sum.UnsignedFrom) > 0 {
			fmt.Fprintf(stderr, "tutti: %s: %s\n", unsignedNote(len(sum.UnsignedFrom)), strings.Join(slices.Sorted(slices.Values(sum.UnsignedFrom)), ", "))
		}
	}
	if len(refused) > 0 {
		for _, r := range refused {
			fmt.Fprintln(stderr, "tutti: "+refusedLine(r))
		}
		return exitWith(ExitRefused, fmt.Errorf("%s; not listed", refusedSummary(refused)))
	}
	switch {
	case len(nodes) > 0:
	case sel.nodesFile == "" && !sel.filter.given():
		return exitWith(ExitNoReplies, noAnswer("discovery", sel.target, ""))
	default:
		return exitWith(ExitNoReplies, fmt.Errorf("no nodes matched"))
	}
	return nil
}
