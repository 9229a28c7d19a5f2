package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/connector/protocol"
)

type inventoryOpts struct {
	sel     selectFlags
	timeout time.Duration
	json    bool
}

func newInventoryCmd(g *globals) *cobra.Command {
	o := &inventoryOpts{}
	cmd := &cobra.Command{
		Use:   "inventory [NODE] [filters]",
		Short: "Show the facts, classes, agents and statistics of one node or of the matching nodes",
		Long: "inventory sends rpcutil#inventory and rpcutil#daemon_stats and prints the answers. With NODE, an\n" +
			"identity, it asks that node; a name that is no node's identity (a short name) is an error at once,\n" +
			"naming the identities it could mean. Without NODE it asks every node the filters match (or\n" +
			"--nodes FILE names), and --json prints a list. Replies must be signed by the node's certificate;\n" +
			"any refused reply (unsigned while signed replies are required, or not verifying) exits 3.",
		Example: "  tutti inventory web1.example.net\n  tutti inventory -F role=web\n  tutti inventory -C role::db --json",
		Args:    usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return runInventoryMany(cmd, g, o)
			}
			return runInventory(cmd, g, o, args[0])
		},
	}
	o.sel.add(cmd)
	durationVar(cmd.Flags(), &o.timeout, "timeout", "t", 10*time.Second, "longest time to wait for each reply")
	cmd.Flags().BoolVarP(&o.json, "json", "j", false, "print one JSON document (a list without NODE)")
	registerFlagCompletions(cmd)
	return cmd
}

// nodeInventory is what inventory prints.
type nodeInventory struct {
	Identity       string         `json:"identity"`
	Version        string         `json:"version"`
	Agents         []string       `json:"agents"`
	Classes        []string       `json:"classes"`
	Facts          map[string]any `json:"facts"`
	Collectives    []string       `json:"collectives"`
	MainCollective string         `json:"main_collective"`
	Stats          map[string]any `json:"stats"`
}

func runInventory(cmd *cobra.Command, g *globals, o *inventoryOpts, node string) error {
	if f := o.sel.filter.o; o.sel.nodesFile != "" || len(f.Identity)+len(f.Class)+len(f.Fact)+len(f.Agent)+len(f.Select)+len(f.With) > 0 {
		return exitWith(ExitUsage, fmt.Errorf("give NODE or filters, not both (-I %s selects it among others)", node))
	}
	s, err := g.connect(cmd)
	if err != nil {
		return err
	}
	defer s.Close()
	refused, err := checkIdentity(cmd, g, s, &o.sel, node, o.timeout)
	if err != nil {
		return err
	}
	inv := &nodeInventory{Identity: node}
	ask := func(action string, into any) error {
		// Only a reply from node that verifies (or is accepted unsigned)
		// counts; refused replies are reported, anything else when no
		// such reply came.
		var res, bad *client.Result
		_, err := s.client.Do(cmd.Context(), client.Request{Agent: "rpcutil", Action: action, Collective: o.sel.target,
			Filter: protocol.NewFilter("rpcutil"), Targets: []string{node}, Expect: 1, Timeout: o.timeout},
			func(r client.Result) {
				switch {
				case r.State == client.Failed:
					refused = append(refused, toRefused(r, ""))
					fmt.Fprintln(g.stderr, "tutti: "+refusedLine(refused[len(refused)-1]))
				case r.Sender == node:
					res = &r
				case bad == nil:
					bad = &r
				}
			})
		switch {
		case err != nil:
			return exitWith(ExitFailed, err)
		case res == nil && len(refused) > 0:
			return exitWith(ExitRefused, fmt.Errorf("no reply from %s was accepted for rpcutil#%s: %s", node, action, refusedSummary(refused)))
		case res == nil && bad != nil:
			return exitWith(ExitFailed, fmt.Errorf("%s answered instead of %s", bad.Sender, node))
		case res == nil:
			return exitWith(ExitNoReplies, fmt.Errorf("%s did not answer rpcutil#%s within %s", node, action, o.timeout))
		case res.RPC == nil:
			return exitWith(ExitFailed, fmt.Errorf("%s sent a reply that is not an RPC reply", node))
		case res.RPC.StatusCode != protocol.OK:
			return exitWith(ExitFailed, fmt.Errorf("rpcutil#%s on %s: %s: %s", action, node, res.RPC.StatusCode, res.RPC.StatusMsg))
		}
		if res.State == client.Unsigned {
			fmt.Fprintf(g.stderr, "tutti: warning: the rpcutil#%s reply from %s was accepted unsigned "+
				"(plugin.tutti.require_signed_replies = false): nothing proves it comes from %s\n", action, node, node)
		}
		if err := json.Unmarshal(res.RPC.Data, into); err != nil {
			return exitWith(ExitFailed, fmt.Errorf("rpcutil#%s reply from %s: %w", action, node, err))
		}
		return nil
	}
	if err := ask("inventory", inv); err != nil {
		return err
	}
	inv.Stats = map[string]any{}
	if err := ask("daemon_stats", &inv.Stats); err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(inv); err != nil {
			return exitWith(ExitFailed, err)
		}
	} else {
		printInventory(g.stdout, inv)
	}
	if len(refused) > 0 {
		return exitWith(ExitRefused, fmt.Errorf("%s", refusedSummary(refused)))
	}
	return nil
}

func printInventory(w io.Writer, inv *nodeInventory) {
	fmt.Fprintf(w, "Inventory for %s:\n\n", inv.Identity)
	fmt.Fprintln(w, "   Server Statistics:")
	row := func(label string, v any) { fmt.Fprintf(w, "   %27s: %v\n", label, v) }
	row("Version", inv.Version)
	if st, ok := inv.Stats["starttime"].(float64); ok {
		row("Start Time", time.Unix(int64(st), 0).UTC().Format(time.RFC3339))
	}
	row("Config File", inv.Stats["configfile"])
	row("Collectives", strings.Join(inv.Collectives, ", "))
	row("Main Collective", inv.MainCollective)
	row("Process ID", inv.Stats["pid"])
	for _, s := range [][2]string{
		{"Total Messages", "total"}, {"Messages Passed Filters", "passed"}, {"Messages Filtered", "filtered"},
		{"Valid Messages", "validated"}, {"Invalid Messages", "unvalidated"}, {"Expired Messages", "ttlexpired"},
		{"Replayed Messages", "replayed"}, {"Replies Sent", "replies"},
	} {
		row(s[0], inv.Stats[s[1]])
	}
	if t, ok := inv.Stats["times"].(map[string]any); ok {
		row("Total Processor Time", fmt.Sprintf("%v seconds", t["utime"]))
		row("System Time", fmt.Sprintf("%v seconds", t["stime"]))
	}
	fmt.Fprintln(w)
	list := func(title string, items []string) {
		fmt.Fprintf(w, "   %s:\n", title)
		if len(items) == 0 {
			fmt.Fprintln(w, "      (none)")
		}
		for _, it := range items {
			fmt.Fprintf(w, "      %s\n", it)
		}
		fmt.Fprintln(w)
	}
	list("Agents", inv.Agents)
	list("Configuration Management Classes", inv.Classes)
	var facts []string
	flattenFacts("", inv.Facts, &facts)
	sort.Strings(facts)
	list("Facts", facts)
}

// flattenFacts renders nested facts as dotted.path => value lines, the
// paths fact filters (-F) use.
func flattenFacts(prefix string, v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flattenFacts(p, val, out)
		}
	default:
		if prefix == "" {
			return
		}
		var s string
		if str, ok := x.(string); ok {
			s = str
		} else {
			b, _ := json.Marshal(x)
			s = string(b)
		}
		*out = append(*out, prefix+" => "+s)
	}
}
