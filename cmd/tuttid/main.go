// Command tuttid is the tutti node daemon; `tuttid broker` runs the
// embedded NATS broker.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/server/daemon"
	"github.com/tuttifleet/tutti/server/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tuttid:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	var cfg string
	root := &cobra.Command{
		Use:           "tuttid",
		Short:         "The tutti node daemon",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return daemon.RunNode(cmd.Context(), cfg)
		},
	}
	root.PersistentFlags().StringVar(&cfg, "config", "", "configuration file (default: the first of "+
		strings.Join(config.ServerConfigPaths(), ", ")+"; broker: of "+strings.Join(config.BrokerConfigPaths(), ", ")+")")
	root.AddCommand(&cobra.Command{
		Use:   "broker",
		Short: "Run the embedded NATS broker (TLS, mutual auth, optional cluster)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return daemon.RunBroker(cmd.Context(), cfg)
		},
	})
	root.AddCommand(newEmulateCmd(&cfg))
	return root
}
