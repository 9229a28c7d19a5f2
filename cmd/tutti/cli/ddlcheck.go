package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
	"github.com/tuttifleet/tutti/agents/external"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/protocol"

	// the built-in agents' DDLs
	_ "github.com/tuttifleet/tutti/agents/discovery"
	_ "github.com/tuttifleet/tutti/agents/rpcutil"
	_ "github.com/tuttifleet/tutti/agents/service"
)

// errNoDDL means no DDL is known locally for an agent.
var errNoDDL = errors.New("no DDL found")

// findDDL returns an agent's DDL and where it came from: a built-in
// agent's, else <name>.json in the client's agents directories
// (plugin.tutti.agents_dir, <libdir>/mcollective/agent). The client
// configuration is read only for those directories; when it cannot be
// read and none was named with --config, only built-in DDLs are known.
func findDDL(g *globals, agent string) (*ddl.DDL, string, error) {
	if !agents.ValidName(agent) {
		return nil, "", fmt.Errorf("invalid agent name %q", agent)
	}
	if d, ok := agents.BuiltinDDL(agent); ok {
		return d, "built in", nil
	}
	dirs, err := clientAgentDirs(g)
	if err != nil {
		return nil, "", err
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, agent+".json")
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		d, err := ddl.Parse(b)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
		if d.Name() != agent {
			return nil, "", fmt.Errorf("%s describes agent %q, not %q", path, d.Name(), agent)
		}
		return d, path, nil
	}
	return nil, "", fmt.Errorf("agent %s: %w (built in: %s; searched %s)", agent, errNoDDL,
		strings.Join(agents.BuiltinDDLs(), ", "), orNone(dirs))
}

func clientAgentDirs(g *globals) ([]string, error) {
	cfg, _, err := config.LoadClient(g.config)
	if err != nil {
		if g.config != "" {
			return nil, err
		}
		return nil, nil
	}
	return external.Dirs(cfg.AgentDirs, cfg.LibDirs), nil
}

func orNone(dirs []string) string {
	if len(dirs) == 0 {
		return "no agents directories"
	}
	return strings.Join(dirs, ", ")
}

// rpcInputs turns key=value arguments into a request's data. When the
// agent's DDL is known locally the request is checked before anything
// is sent: the action must exist, every key must be one of its inputs,
// each value is converted to its input's type (count=3 is the integer 3
// when the DDL says integer, the string "3" when it says string) and
// validated, and required inputs must be given. Without a DDL an agent
// name a typing slip away from a known one is refused unless force is
// set (unknownAgent); otherwise the values are typed by their look
// (parseInputs) and the nodes judge. The DDL
// found (nil without one) is returned for the output's aggregates.
func rpcInputs(g *globals, agent, action string, args []string, force bool) (json.RawMessage, *ddl.DDL, error) {
	d, _, err := findDDL(g, agent)
	if errors.Is(err, errNoDDL) {
		if err := unknownAgent(g, agent, err, force); err != nil {
			return nil, nil, err
		}
		data, err := parseInputs(args)
		return data, nil, err
	}
	if err != nil {
		return nil, nil, err
	}
	act, ok := d.Action(action)
	if !ok {
		return nil, nil, fmt.Errorf("agent %s has no action %q; its actions are %s", agent, action, strings.Join(d.ActionNames(), ", "))
	}
	data := map[string]json.RawMessage{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, nil, fmt.Errorf("input %q is not key=value", a)
		}
		in, ok := act.Input[k]
		if !ok {
			return nil, nil, fmt.Errorf("%s#%s has no input %q; %s", agent, action, k, inputList(act))
		}
		raw, err := in.Convert(v)
		if err != nil {
			return nil, nil, fmt.Errorf("invalid input %s: %w", k, err)
		}
		data[k] = raw
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, nil, err
	}
	if _, err := act.Validate(b); err != nil {
		var e *ddl.Error
		if errors.As(err, &e) && e.Code == protocol.MissingData {
			return nil, nil, fmt.Errorf("%s#%s needs the input %s", agent, action, missingInput(act, data))
		}
		return nil, nil, err
	}
	return b, d, nil
}

func inputList(act *ddl.Action) string {
	if len(act.InputNames()) == 0 {
		return "it takes no inputs"
	}
	return "its inputs are " + strings.Join(act.InputNames(), ", ")
}

func missingInput(act *ddl.Action, given map[string]json.RawMessage) string {
	for _, n := range act.InputNames() {
		if _, ok := given[n]; !ok && !act.Input[n].Optional && len(act.Input[n].Default) == 0 {
			return fmt.Sprintf("%s (%s=…)", n, n)
		}
	}
	return "?"
}

// ddlAggregates computes the DDL aggregates of the action over the
// successful replies, as Choria's summaries (aggregateLines), for the
// human output of rpc (it fits the output's aggregates hook).
func ddlAggregates(d *ddl.DDL, agent, action string, replies []rpcResult) []string {
	act := actionDDL(d, agent, action)
	if act == nil || len(act.Aggregates) == 0 {
		return nil
	}
	var data []json.RawMessage
	for _, r := range replies {
		if r.StatusCode == protocol.OK {
			data = append(data, r.Data)
		}
	}
	if len(data) == 0 {
		return nil
	}
	return aggregateLines(act.Aggregate(data))
}
