package cli

import (
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
)

// filterFlags are the node selection flags shared by rpc, discover and ping.
type filterFlags struct{ o client.FilterOptions }

func (f *filterFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringSliceVarP(&f.o.Identity, "identity", "I", nil, "match nodes by identity (exact, or /regex/; also --wi, --with-identity)")
	fl.StringSliceVarP(&f.o.Class, "class", "C", nil, "match nodes having a class (name or /regex/; also --wc, --with-class)")
	fl.StringSliceVarP(&f.o.Fact, "fact", "F", nil, "match nodes by fact: name=value, name!=value, name>=1, name=~re, os.family=linux (also --wf, --with-fact)")
	fl.StringSliceVarP(&f.o.Agent, "agent", "A", nil, "match nodes having an agent (also --wa, --with-agent)")
	fl.StringSliceVarP(&f.o.Select, "select", "S", nil, "compound expression: \"role=web and not country=uk\"")
	fl.StringSliceVarP(&f.o.With, "with", "W", nil, "combined fact and class filter: \"role=web apache\"")
}
