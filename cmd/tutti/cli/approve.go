package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/remote"
)

// ExitPending: the request is held by tutti-aaa for a second person's
// approval (rpc --no-wait, or no decision within --approval-timeout).
const ExitPending = 4

// defaultApprovalTimeout is how long rpc waits for an approval.
const defaultApprovalTimeout = 10 * time.Minute

// approvalFlags are rpc's flags for requests tutti-aaa holds for approval.
type approvalFlags struct {
	noWait  bool
	timeout time.Duration
	id      string
}

func (f *approvalFlags) add(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.noWait, "no-wait", false, "when tutti-aaa holds the request for approval, print its approval id and exit 4 instead of waiting")
	durationVar(fl, &f.timeout, "approval-timeout", "", defaultApprovalTimeout, "longest wait for a second person's approval (the request stays pending after it)")
	fl.StringVar(&f.id, "approval", "", "send the request approved under this approval `ID` (after --no-wait or a timeout: the same agent, action, inputs and filter)")
}

// options are the remote signer's approval options; waiting is shown on
// stderr.
func (f *approvalFlags) options(stderr io.Writer) remote.ApprovalOptions {
	return remote.ApprovalOptions{
		Wait: !f.noWait, Timeout: f.timeout, ID: f.id,
		OnPending: func(id, msg string) {
			if f.noWait {
				fmt.Fprintf(stderr, "Pending: %s\n", msg)
				return
			}
			fmt.Fprintf(stderr, "Waiting up to %s: %s. Interrupting leaves it pending: rerun with --approval %s.\n",
				f.timeout, msg, id)
		},
	}
}

// failCode is ExitPending for a request held for approval, else ExitFailed.
func failCode(err error) int {
	if errors.Is(err, remote.ErrPending) {
		return ExitPending
	}
	return ExitFailed
}

// approvalSigner builds the remote signer from client.conf, without a
// broker connection.
func approvalSigner(g *globals) (*remote.Signer, error) {
	cfg, _, err := config.LoadClient(g.config)
	if err != nil {
		return nil, exitWith(ExitFailed, err)
	}
	rs := cfg.RequestSigner
	if rs.URL == "" {
		return nil, exitWith(ExitFailed, errors.New("approvals live in tutti-aaa: client.conf names no plugin.choria.security.request_signer.url"))
	}
	s, err := remote.New(remote.Config{URL: rs.URL, TokenFile: rs.TokenFile, TokenEnv: rs.TokenEnv,
		SeedFile: rs.SeedFile, CA: rs.CA, Insecure: rs.Insecure})
	if err != nil {
		return nil, exitWith(ExitFailed, err)
	}
	return s, nil
}

func newApprovalsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List the requests waiting for a second person's approval",
		Long: "approvals lists the pending requests tutti-aaa holds that you may approve (your approve\n" +
			"entitlement covers them and someone else asked) and your own pending requests, oldest first.",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return listApprovals(cmd, g, asJSON) },
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the approvals as JSON")
	return cmd
}

func listApprovals(cmd *cobra.Command, g *globals, asJSON bool) error {
	s, err := approvalSigner(g)
	if err != nil {
		return err
	}
	list, err := s.Approvals(cmd.Context(), "list", "", "")
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	if asJSON {
		return writeApprovalsJSON(cmd.OutOrStdout(), list)
	}
	if len(list) == 0 {
		fmt.Fprintln(cmd.OutOrStdout(), "No pending approvals.")
		return nil
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tREQUESTER\tACTION\tTARGETS\tEXPIRES IN")
	now := time.Now()
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s#%s\t%s\t%s\n", a.ID, age(now.Sub(a.Created)), a.Requester, a.Agent, a.Action,
			targetSummary(a), age(a.Expires.Sub(now)))
	}
	return tw.Flush()
}

func writeApprovalsJSON(w io.Writer, list []remote.Approval) error {
	if list == nil {
		list = []remote.Approval{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}

func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Truncate(time.Second).String()
}

func targetSummary(a remote.Approval) string {
	if len(a.Targets) == 0 {
		return "(by filter)"
	}
	if len(a.Targets) > 3 {
		return fmt.Sprintf("%s … (%d)", strings.Join(a.Targets[:3], ", "), len(a.Targets))
	}
	return strings.Join(a.Targets, ", ")
}

func newApproveCmd(g *globals) *cobra.Command {
	var yes, list bool
	var note string
	cmd := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve a request tutti-aaa holds for a second person",
		Long: "approve shows the held request — agent, action, inputs, filter, targets, requester and age —\n" +
			"and asks to confirm (unless --yes), then approves it: the requester's tutti, waiting or rerun\n" +
			"with --approval ID, gets it signed once. Your approve entitlement must cover the action, and\n" +
			"nobody approves their own request. --list lists the pending ones (tutti approvals).",
		Example: "  tutti approvals\n  tutti approve 3f9c2a7d41b0e5c8\n  tutti approve 3f9c2a7d41b0e5c8 --yes --reason 'change 4711'",
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return usageArgs(cobra.NoArgs)(cmd, args)
			}
			return usageArgs(cobra.ExactArgs(1))(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				return listApprovals(cmd, g, false)
			}
			return decideApproval(cmd, g, "approve", args[0], note, yes)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "approve without asking")
	cmd.Flags().BoolVar(&list, "list", false, "list the pending approvals instead")
	cmd.Flags().StringVar(&note, "reason", "", "a note kept with the approval in tutti-aaa's audit")
	return cmd
}

func newDenyCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "deny ID --reason TEXT",
		Short:   "Deny a request tutti-aaa holds for a second person",
		Long:    "deny refuses a held request; the requester is told the reason, and it is never signed.",
		Example: "  tutti deny 3f9c2a7d41b0e5c8 --reason 'not during the freeze'",
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return exitWith(ExitUsage, errors.New("deny needs --reason: the requester and the audit are told why"))
			}
			return decideApproval(cmd, g, "deny", args[0], reason, true)
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the request is denied (required)")
	return cmd
}

func decideApproval(cmd *cobra.Command, g *globals, op, id, reason string, yes bool) error {
	s, err := approvalSigner(g)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if !yes {
		list, err := s.Approvals(cmd.Context(), "show", id, "")
		if err != nil {
			return exitWith(ExitFailed, err)
		}
		showApproval(out, list[0], time.Now())
		if list[0].State != remote.StatePending {
			return exitWith(ExitFailed, fmt.Errorf("approval %s is %s, not pending", id, list[0].State))
		}
		fmt.Fprintf(out, "Approve %s#%s for %s? [y/N] ", list[0].Agent, list[0].Action, list[0].Requester)
		line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return exitWith(ExitFailed, fmt.Errorf("not approved: approval %s stays pending", id))
		}
	}
	list, err := s.Approvals(cmd.Context(), op, id, reason)
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	a := list[0]
	fmt.Fprintf(out, "Approval %s of %s#%s for %s is %s by %s.\n", a.ID, a.Agent, a.Action, a.Requester, a.State, a.Approver)
	return nil
}

// showApproval prints what an approver decides on.
func showApproval(w io.Writer, a remote.Approval, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Approval:\t%s (%s)\n", a.ID, a.State)
	fmt.Fprintf(tw, "Requester:\t%s\n", a.Requester)
	fmt.Fprintf(tw, "Action:\t%s#%s (collective %s)\n", a.Agent, a.Action, a.Collective)
	fmt.Fprintf(tw, "Inputs:\t%s\n", compactJSON(a.Data))
	fmt.Fprintf(tw, "Filter:\t%s\n", compactJSON(a.Filter))
	fmt.Fprintf(tw, "Targets:\t%s\n", targetSummary(a))
	fmt.Fprintf(tw, "Why:\t%s\n", a.Rule)
	fmt.Fprintf(tw, "Age:\t%s (expires in %s)\n", age(now.Sub(a.Created)), age(a.Expires.Sub(now)))
	_ = tw.Flush()
}
