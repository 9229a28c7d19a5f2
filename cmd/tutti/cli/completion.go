package cli

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/agents"
)

// Shell completion is cobra's `tutti completion bash|zsh|fish|powershell`
// command; this file adds completion of values cobra cannot guess.

// completeAgents completes the AGENT argument of rpc with the agents
// built into tutti (the node may have more; their names are typed).
func completeAgents(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, a := range agents.Registered() {
		if strings.HasPrefix(a, toComplete) {
			out = append(out, a)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// registerFlagCompletions completes the values of the shared flags.
func registerFlagCompletions(cmd *cobra.Command) {
	none := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	for _, name := range []string{"identity", "class", "fact", "select", "with", "target", "limit", "limit-seed", "batch"} {
		if cmd.Flags().Lookup(name) != nil {
			_ = cmd.RegisterFlagCompletionFunc(name, none)
		}
	}
	if cmd.Flags().Lookup("agent") != nil {
		_ = cmd.RegisterFlagCompletionFunc("agent", func(c *cobra.Command, _ []string, s string) ([]string, cobra.ShellCompDirective) {
			return completeAgents(c, nil, s)
		})
	}
}
