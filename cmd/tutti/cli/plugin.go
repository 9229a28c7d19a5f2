package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/agents/ddl"
)

func newPluginCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Describe agents from their DDL",
	}
	var asJSON bool
	doc := &cobra.Command{
		Use:   "doc [AGENT[/ACTION]]",
		Short: "Print an agent's DDL as help: its actions, their inputs and outputs",
		Long: "doc prints the DDL of a built-in agent, or of an agent whose <name>.json is in the client's\n" +
			"agents directories (plugin.tutti.agents_dir, <libdir>/mcollective/agent). Without AGENT it lists\n" +
			"the agents the client has a DDL for.",
		Example: "  tutti plugin doc\n  tutti plugin doc service\n  tutti plugin doc rpcutil/get_fact\n  tutti plugin doc service --json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return writeAgentList(g.stdout, g.stderr, g, asJSON)
			}
			agent, action, _ := strings.Cut(args[0], "/")
			d, source, err := findDDL(g, agent)
			if errors.Is(err, errNoDDL) {
				if near := nearestName(agent, knownAgentNames(g)); near != "" {
					err = fmt.Errorf("%w; did you mean %s?", err, near)
				}
			}
			if err != nil {
				return exitWith(ExitUsage, err)
			}
			if action != "" {
				if _, ok := d.Action(action); !ok {
					return exitWith(ExitUsage, fmt.Errorf("agent %s has no action %q; its actions are %s", agent, action, strings.Join(d.ActionNames(), ", ")))
				}
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				if action != "" {
					a, _ := d.Action(action)
					return enc.Encode(a)
				}
				return enc.Encode(d)
			}
			writeDoc(g.stdout, d, source, action)
			return nil
		},
	}
	doc.Flags().BoolVar(&asJSON, "json", false, "print the DDL itself")
	cmd.AddCommand(doc)
	return cmd
}

// writeDoc renders a DDL (or one of its actions) for people.
func writeDoc(w io.Writer, d *ddl.DDL, source, only string) {
	m := d.Metadata
	if only == "" {
		fmt.Fprintf(w, "%s — %s\n\n", m.Name, m.Description)
		for _, kv := range [][2]string{{"Author", m.Author}, {"Version", m.Version}, {"License", m.License},
			{"Timeout", timeoutText(m.Timeout)}, {"Home page", m.URL}, {"DDL", source}} {
			if kv[1] != "" {
				fmt.Fprintf(w, "  %-10s %s\n", kv[0]+":", kv[1])
			}
		}
		fmt.Fprintln(w, "\nACTIONS:")
		names := d.ActionNames()
		width := 0
		for _, n := range names {
			width = max(width, len(n))
		}
		for _, n := range names {
			a, _ := d.Action(n)
			fmt.Fprintf(w, "  %-*s  %s\n", width, n, a.Description)
		}
	}
	for _, n := range d.ActionNames() {
		if only != "" && n != only {
			continue
		}
		a, _ := d.Action(n)
		writeActionDoc(w, m.Name, a)
	}
}

func timeoutText(secs int) string {
	if secs == 0 {
		return ""
	}
	return fmt.Sprintf("%ds", secs)
}

func writeActionDoc(w io.Writer, agent string, a *ddl.Action) {
	fmt.Fprintf(w, "\n%s#%s: %s\n", agent, a.Name, a.Description)
	example := []string{"tutti rpc", agent, a.Name}
	if len(a.InputNames()) > 0 {
		fmt.Fprintln(w, "\n  INPUTS:")
	}
	for _, name := range a.InputNames() {
		in := a.Input[name]
		need := "required"
		if in.Optional || len(in.Default) > 0 {
			need = "optional"
		} else {
			example = append(example, name+"="+strings.ToUpper(in.Type))
		}
		fmt.Fprintf(w, "    %s (%s, %s)  %s\n", name, in.Type, need, in.Description)
		for _, kv := range [][2]string{{"Prompt", in.Prompt}, {"Validation", in.Validation}, {"Max length", intText(in.MaxLength)},
			{"Values", strings.Join(in.List, ", ")}, {"Default", string(in.Default)}} {
			if kv[1] != "" {
				fmt.Fprintf(w, "        %-11s %s\n", kv[0]+":", kv[1])
			}
		}
	}
	if len(a.Output) > 0 {
		fmt.Fprintln(w, "\n  OUTPUTS:")
	}
	for _, name := range a.OutputNames() {
		o := a.Output[name]
		line := fmt.Sprintf("    %s", name)
		if o.DisplayAs != "" && o.DisplayAs != name {
			line += fmt.Sprintf(" (%s)", o.DisplayAs)
		}
		line += "  " + o.Description
		if len(o.Default) > 0 {
			line += fmt.Sprintf(" [default %s]", o.Default)
		}
		fmt.Fprintln(w, line)
	}
	if len(a.Aggregates) > 0 {
		var ags []string
		for i := range a.Aggregates {
			ags = append(ags, fmt.Sprintf("%s(%s)", a.Aggregates[i].Function, a.Aggregates[i].Output()))
		}
		fmt.Fprintf(w, "\n  AGGREGATES: %s\n", strings.Join(ags, ", "))
	}
	fmt.Fprintf(w, "\n  Example: %s\n", strings.Join(example, " "))
}

func intText(i int) string {
	if i == 0 {
		return ""
	}
	return fmt.Sprint(i)
}
