package cli

import (
	"fmt"

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
	// -S takes each value whole: expressions have commas (include(fact('ips'), '10.0.0.1')).
	fl.StringArrayVarP(&f.o.Select, "select", "S", nil, "compound expression: \"role=web and not country=uk\" (repeat -S for more; all must match)")
	fl.StringSliceVarP(&f.o.With, "with", "W", nil, "combined fact and class filter: \"role=web apache\"")
}

// given reports whether any selection flag was used.
func (f *filterFlags) given() bool {
	o := f.o
	return len(o.Identity)+len(o.Class)+len(o.Fact)+len(o.Agent)+len(o.Select)+len(o.With) > 0
}

// noAnswer is the error when no node answered a discovery or a ping
// that had no filter to blame: it names the likely causes, in the order
// to check them, without guessing which one it is.
func noAnswer(what, collective, agent string) error {
	if collective == "" {
		collective = "the main collective"
	}
	hasAgent := ""
	if agent != "" {
		hasAgent = "no node has the agent " + agent + "; "
	}
	return fmt.Errorf("%s: no node answered on %s. Likely causes: %sno node is connected to this broker on that collective "+
		"(check tuttid is running and its collectives and middleware_hosts); every node refused this caller "+
		"(see the node logs for certname_whitelist or an ActionPolicy denial); or the nodes' replies cannot reach this client "+
		"(broker permissions)", what, collective, hasAgent)
}
