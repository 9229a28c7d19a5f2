package cli

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/aaa/audit"
)

type auditTailOpts struct {
	src                                   auditSourceFlags
	caller, agent, action, node, decision string
	count                                 int
	json                                  bool
}

func newAuditTailCmd(g *globals) *cobra.Command {
	o := &auditTailOpts{}
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Follow the audit trail live, filtered by caller, agent, action, node or decision",
		Long: "tail prints the audit records as they arrive on the stream (or are appended to the files\n" +
			"given with --file, as tail -f does), one line each: signing decisions, node decisions and\n" +
			"outcomes. Filters are regular expressions matched against the whole value; a record must\n" +
			"match every filter given. --decision matches allow or deny, so outcome records do not pass it.\n" +
			"It runs until interrupted, or until --count records were printed.",
		Example: "  tutti audit tail\n" +
			"  tutti audit tail --caller 'up=alice' --agent service --decision deny\n" +
			"  tutti audit tail --node 'web.*' --since 10m --json | jq -c 'select(.kind == \"outcome\")'\n" +
			"  tutti audit tail --file /var/log/tutti/audit.log --action restart",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditTail(cmd, g, o) },
	}
	o.src.add(cmd, "start with the records of this long ago (default: only new records)")
	fl := cmd.Flags()
	fl.StringVar(&o.caller, "caller", "", "only records of callers matching this regex")
	fl.StringVar(&o.agent, "agent", "", "only records of agents matching this regex")
	fl.StringVar(&o.action, "action", "", "only records of actions matching this regex")
	fl.StringVar(&o.node, "node", "", "only node records of identities matching this regex")
	fl.StringVar(&o.decision, "decision", "", "only decisions (the node's or the signer's) matching this regex: allow or deny")
	fl.IntVar(&o.count, "count", 0, "stop after printing this many records (0: follow until interrupted)")
	fl.BoolVar(&o.json, "json", false, "print one JSON object per line")
	return cmd
}

// tailFilter is the compiled filter flags; nil regexes match anything.
type tailFilter struct{ caller, agent, action, node, decision *regexp.Regexp }

func compileTailFilter(o *auditTailOpts) (*tailFilter, error) {
	f := &tailFilter{}
	for _, x := range []struct {
		flag, expr string
		out        **regexp.Regexp
	}{
		{"caller", o.caller, &f.caller}, {"agent", o.agent, &f.agent}, {"action", o.action, &f.action},
		{"node", o.node, &f.node}, {"decision", o.decision, &f.decision},
	} {
		if x.expr == "" {
			continue
		}
		re, err := regexp.Compile("^(?:" + x.expr + ")$")
		if err != nil {
			return nil, exitWith(ExitUsage, fmt.Errorf("--%s: %w", x.flag, err))
		}
		*x.out = re
	}
	return f, nil
}

func (f *tailFilter) match(e audit.Event) bool {
	ok := func(re *regexp.Regexp, s string) bool { return re == nil || re.MatchString(s) }
	if f.node != nil && e.Kind == audit.KindSigner {
		return false
	}
	return ok(f.caller, e.Caller) && ok(f.agent, e.Agent) && ok(f.action, e.Action) && ok(f.node, e.Identity) && ok(f.decision, e.Decision)
}

func runAuditTail(cmd *cobra.Command, g *globals, o *auditTailOpts) error {
	f, err := compileTailFilter(o)
	if err != nil {
		return err
	}
	printed := 0
	enc := json.NewEncoder(g.stdout)
	print := func(e audit.Event) error {
		if !f.match(e) {
			return nil
		}
		if o.json {
			if err := enc.Encode(e); err != nil {
				return err
			}
		} else if _, err := fmt.Fprintln(g.stdout, tailLine(e)); err != nil {
			return err
		}
		if printed++; o.count > 0 && printed >= o.count {
			return errStopReading
		}
		return nil
	}
	ctx := cmd.Context()
	if len(o.src.files) > 0 {
		err = followAuditFiles(ctx, o.src.files, o.src.since > 0, g.stderr, print)
	} else {
		var s *auditStream
		if s, err = g.openAuditStream(); err != nil {
			return err
		}
		defer s.Close()
		err = s.follow(ctx, o.src.since, g.stderr, print)
	}
	if err != nil && err != errStopReading {
		return exitWith(ExitFailed, err)
	}
	return nil
}

// tailLine is one record on one line: time, kind, request, who, what and
// the decision or outcome.
func tailLine(e audit.Event) string {
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format(auditTimeLayout))
	fmt.Fprintf(&b, " %-8s %s", e.Kind, e.RequestID)
	switch e.Kind {
	case audit.KindSigner:
		fmt.Fprintf(&b, " signer=%s caller=%s %s#%s %s", orDash(e.Signer), e.Caller, e.Agent, e.Action, e.Decision)
	case audit.KindOutcome:
		fmt.Fprintf(&b, " node=%s caller=%s %s#%s", e.Identity, e.Caller, e.Agent, e.Action)
		if e.StatusCode != nil {
			fmt.Fprintf(&b, " status=%s", strconv.Itoa(*e.StatusCode))
		}
		fmt.Fprintf(&b, " took=%.3fms", float64(e.Duration.Microseconds())/1000)
	default:
		fmt.Fprintf(&b, " node=%s caller=%s %s#%s %s", orDash(e.Identity), e.Caller, e.Agent, e.Action, e.Decision)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " (%s)", e.Reason)
	}
	return b.String()
}
