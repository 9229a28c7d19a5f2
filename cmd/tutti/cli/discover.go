package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
)

func newDiscoverCmd(g *globals) *cobra.Command {
	var (
		filter  filterFlags
		timeout time.Duration
		asJSON  bool
		target  string
	)
	cmd := &cobra.Command{
		Use:     "discover",
		Aliases: []string{"find"},
		Short:   "List the nodes matching the filters",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := client.BuildFilter(filter.o)
			if err != nil {
				return exitWith(ExitUsage, err)
			}
			s, err := g.connect(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			nodes, _, err := s.client.Discover(cmd.Context(), f, target, timeout, 300*time.Millisecond)
			if err != nil {
				return exitWith(ExitFailed, err)
			}
			sort.Strings(nodes)
			if asJSON {
				if nodes == nil {
					nodes = []string{}
				}
				return json.NewEncoder(g.stdout).Encode(nodes)
			}
			for _, n := range nodes {
				fmt.Fprintln(g.stdout, n)
			}
			if len(nodes) == 0 {
				return exitWith(ExitNoReplies, fmt.Errorf("no nodes matched"))
			}
			return nil
		},
	}
	filter.add(cmd)
	cmd.Flags().DurationVar(&timeout, "discovery-timeout", 2*time.Second, "longest time to wait for discovery replies")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON list")
	cmd.Flags().StringVarP(&target, "target", "T", "", "collective to address")
	return cmd
}
