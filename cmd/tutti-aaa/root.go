package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/server/version"
)

// newRootCmd assembles the verbs; one file per verb holds its flags.
func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "tutti-aaa",
		Short:         "Central login and request signing for tutti and Choria fleets",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newRunCmd(), newHashPasswordCmd(), newBenchCmd(), newUserCmd(), newTokenCmd())
	return root
}

// execute runs the CLI and returns the process exit code.
func execute(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "tutti-aaa: %v\n", err)
		return 1
	}
	return 0
}
