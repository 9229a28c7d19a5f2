// Package cli is the tutti command line, one file per verb. Tests call
// Main with arguments and buffers, exactly as a user would run it.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/server/version"
)

// Exit codes scripts can rely on (docs/cli.md).
const (
	ExitOK        = 0 // every targeted node replied OK
	ExitFailed    = 1 // an error, or some replies failed (status ≠ 0 or verification)
	ExitNoReplies = 2 // no node replied / nothing discovered
	// ExitRefused: a reply was refused — unsigned while signed replies
	// are required, or it did not verify. Something answered that could
	// not prove it is a node; it wins over 1 and 2.
	ExitRefused = 3
	ExitUsage   = 64
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func exitWith(code int, err error) error { return &exitError{code: code, err: err} }

// globals are the flags every verb shares.
type globals struct {
	config  string
	verbose bool
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	// approval is rpc's --no-wait, --approval-timeout and --approval
	// (approve.go); a zero value waits without a bound.
	approval approvalFlags
}

// NewRoot builds the command tree.
func NewRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "tutti",
		Short:         "Secure broadcast RPC for server fleets",
		Long:          "tutti sends signed requests to many servers at once over a message broker and verifies every reply.",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitWith(ExitUsage, flagHint(err)) })
	root.SetGlobalNormalizationFunc(normaliseFlag)
	root.PersistentFlags().StringVarP(&g.config, "config", "c", "", "client configuration `FILE` (default: the first that exists of "+strings.Join(config.ClientConfigPaths()[:4], ", ")+", …)")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log what happens on stderr")
	// Every verb, each built in its own file.
	root.AddCommand(
		newPKICmd(g), newPingCmd(g), newRPCCmd(g), newDiscoverCmd(g), newFactsCmd(g), newInventoryCmd(g),
		newServiceCmd(g), newPluginCmd(g), newLoginCmd(g), newDemoCmd(g), newBenchCmd(g), newBenchWorkerCmd(g),
		newAuditCmd(g), newApprovalsCmd(g), newApproveCmd(g), newDenyCmd(g),
	)
	usageArgsAll(root)
	return root
}

// Main runs the CLI and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	g := &globals{stdin: stdin, stdout: stdout, stderr: stderr}
	root := NewRoot(g)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "tutti:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "tutti:", err)
	if strings.HasPrefix(err.Error(), "unknown command ") {
		return ExitUsage // cobra's error for an unknown verb
	}
	return ExitFailed
}
