package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/aaa/audit"
)

type auditShowOpts struct {
	src  auditSourceFlags
	json bool
}

func newAuditShowCmd(g *globals) *cobra.Command {
	o := &auditShowOpts{}
	cmd := &cobra.Command{
		Use:   "show REQUEST_ID",
		Short: "Trace one request: who asked, what, the filter, and what every node decided and did",
		Long: "show gathers every record of one request: tutti-aaa's signing decision and, per node, the\n" +
			"decision record written before the action (received, allowed or denied and why) and the\n" +
			"outcome record written after it (status code, timing). It reads the audit stream to its\n" +
			"end, or the audit files given with --file. It exits 2 when no record names the request.",
		Example: "  tutti audit show 839a99254f3c4a07a050ce6897cef158\n" +
			"  tutti audit show 839a99254f3c4a07a050ce6897cef158 --since 1h --json | jq '.nodes[] | select(.decision != \"allow\")'\n" +
			"  tutti audit show 839a99254f3c4a07a050ce6897cef158 --file /var/log/tutti/audit.log --file node2-audit.log",
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error { return runAuditShow(cmd, g, o, args[0]) },
	}
	o.src.add(cmd, "read only the records of this long ago onwards (default: the whole stream)")
	cmd.Flags().BoolVar(&o.json, "json", false, "print one JSON document")
	return cmd
}

// auditTrace is one request end to end, audit show --json.
type auditTrace struct {
	RequestID string `json:"request_id"`
	// Caller is who asked: the caller the signer signed for, else the
	// one the nodes saw.
	Caller string `json:"caller"`
	// Signer is the signing certificate; Site, SignerDecision and
	// SignerReason tutti-aaa's record (empty without one).
	Signer         string     `json:"signer,omitempty"`
	Site           string     `json:"site,omitempty"`
	SignerDecision string     `json:"signer_decision,omitempty"`
	SignerReason   string     `json:"signer_reason,omitempty"`
	Signed         *time.Time `json:"signed,omitempty"`
	// Approver approved the request for the caller (two-person
	// approval); ApprovalID names the approval.
	Approver   string          `json:"approver,omitempty"`
	ApprovalID string          `json:"approval_id,omitempty"`
	Agent      string          `json:"agent"`
	Action     string          `json:"action"`
	Data       json.RawMessage `json:"data,omitempty"`
	Filter     json.RawMessage `json:"filter,omitempty"`
	Nodes      []nodeTrace     `json:"nodes"`
}

// nodeTrace is what one node recorded of the request.
type nodeTrace struct {
	Identity   string     `json:"identity"`
	Received   *time.Time `json:"received,omitempty"`
	Decided    *time.Time `json:"decided,omitempty"`
	Decision   string     `json:"decision,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Policy     string     `json:"policy,omitempty"`
	Signer     string     `json:"signer,omitempty"`
	StatusCode *int       `json:"statuscode,omitempty"`
	StatusMsg  string     `json:"statusmsg,omitempty"`
	Started    *time.Time `json:"started,omitempty"`
	DurationMS *float64   `json:"duration_ms,omitempty"`
}

func runAuditShow(cmd *cobra.Command, g *globals, o *auditShowOpts, id string) error {
	tr := &auditTrace{RequestID: id, Nodes: []nodeTrace{}}
	nodes := map[string]*nodeTrace{}
	add := func(e audit.Event) error {
		if e.RequestID == id {
			tr.add(e, nodes)
		}
		return nil
	}
	var err error
	if len(o.src.files) > 0 {
		err = readAuditFiles(o.src.files, g.stderr, add)
	} else {
		var s *auditStream
		if s, err = g.openAuditStream(); err != nil {
			return err
		}
		defer s.Close()
		err = s.readAll(cmd.Context(), o.src.since, g.stderr, add)
	}
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	if tr.Signer == "" && tr.SignerDecision == "" && len(nodes) == 0 {
		return exitWith(ExitNoReplies, fmt.Errorf("no audit record names request %s", id))
	}
	for _, n := range nodes {
		tr.Nodes = append(tr.Nodes, *n)
	}
	sort.Slice(tr.Nodes, func(i, j int) bool { return tr.Nodes[i].Identity < tr.Nodes[j].Identity })
	if o.json {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tr)
	}
	return tr.print(g.stdout)
}

// add folds one record of the request into the trace.
func (tr *auditTrace) add(e audit.Event, nodes map[string]*nodeTrace) {
	if tr.Agent == "" {
		tr.Agent, tr.Action = e.Agent, e.Action
	}
	if tr.Data == nil && e.Data != nil {
		tr.Data = e.Data
	}
	if tr.Filter == nil && e.Filter != nil {
		tr.Filter = e.Filter
	}
	if e.Approver != "" {
		tr.Approver, tr.ApprovalID = e.Approver, e.ApprovalID
	}
	if e.Kind == audit.KindSigner {
		t := e.Time
		tr.Caller, tr.Signer, tr.Site, tr.SignerDecision, tr.SignerReason, tr.Signed = e.Caller, e.Signer, e.Site, e.Decision, e.Reason, &t
		return
	}
	if e.Kind != audit.KindDecision && e.Kind != audit.KindOutcome {
		return
	}
	if tr.Caller == "" {
		tr.Caller = e.Caller
	}
	n := nodes[e.Identity]
	if n == nil {
		n = &nodeTrace{Identity: e.Identity}
		nodes[e.Identity] = n
	}
	if e.Kind == audit.KindOutcome {
		code, ms := e.StatusCode, float64(e.Duration.Microseconds())/1000
		n.StatusCode, n.StatusMsg, n.Started, n.DurationMS = code, e.StatusMsg, timePtr(e.Started), &ms
		return
	}
	n.Received, n.Decided, n.Decision, n.Reason, n.Policy = timePtr(e.Received), timePtr(e.Time), e.Decision, e.Reason, e.Policy
	n.Signer = e.Signer
	if tr.Signer == "" {
		tr.Signer = e.Signer
	}
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// auditTimeLayout is how audit show and tail print times.
const auditTimeLayout = "2006-01-02T15:04:05.000Z07:00"

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(auditTimeLayout)
}

func (tr *auditTrace) print(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "request %s\n", tr.RequestID)
	fmt.Fprintf(&b, "  caller:  %s\n", orDash(tr.Caller))
	switch {
	case tr.SignerDecision != "":
		fmt.Fprintf(&b, "  signer:  %s (tutti-aaa site %s: %s%s at %s)\n", orDash(tr.Signer), tr.Site, tr.SignerDecision, because(tr.SignerReason), fmtTime(tr.Signed))
	case tr.Signer != "":
		fmt.Fprintf(&b, "  signer:  %s (no tutti-aaa record)\n", tr.Signer)
	default:
		fmt.Fprintf(&b, "  signer:  - (signed by the caller's own certificate)\n")
	}
	if tr.Approver != "" {
		fmt.Fprintf(&b, "  approver: %s (approval %s)\n", tr.Approver, orDash(tr.ApprovalID))
	}
	fmt.Fprintf(&b, "  request: %s#%s\n", orDash(tr.Agent), orDash(tr.Action))
	fmt.Fprintf(&b, "  inputs:  %s\n", orDash(string(tr.Data)))
	fmt.Fprintf(&b, "  filter:  %s\n", orDash(string(tr.Filter)))
	allowed, denied, ran := 0, 0, 0
	for _, n := range tr.Nodes {
		switch n.Decision {
		case audit.Allow:
			allowed++
		case audit.Deny:
			denied++
		}
		if n.StatusCode != nil {
			ran++
		}
	}
	fmt.Fprintf(&b, "  nodes:   %d (%d allowed, %d denied, %d ran)\n\n", len(tr.Nodes), allowed, denied, ran)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  NODE\tRECEIVED\tDECISION\tSTATUS\tTOOK\tWHY")
	for _, n := range tr.Nodes {
		status, took := "-", "-"
		if n.StatusCode != nil {
			status = strconv.Itoa(*n.StatusCode) + " " + n.StatusMsg
		}
		if n.DurationMS != nil {
			took = strconv.FormatFloat(*n.DurationMS, 'f', 3, 64) + "ms"
		}
		why := n.Reason
		if n.Policy != "" && !strings.Contains(why, n.Policy) {
			why += " (" + n.Policy + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", n.Identity, fmtTime(n.Received), orDash(n.Decision), status, took, orDash(why))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(b.Bytes())
	return err
}

func because(reason string) string {
	if reason == "" {
		return ""
	}
	return ", " + reason
}
