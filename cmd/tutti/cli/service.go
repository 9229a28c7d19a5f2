package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/agents/service"
)

// newServiceCmd is `tutti service ACTION NAME`: a shortcut for
// `tutti rpc service ACTION service=NAME` with every flag of rpc.
func newServiceCmd(g *globals) *cobra.Command {
	rpc := newRPCCmd(g)
	cmd := &cobra.Command{
		Use:   "service start|stop|restart|status NAME [filters]",
		Short: "Start, stop, restart or query a systemd service on the matching nodes",
		Long: "service runs the service agent's action on the matching nodes; it is\n" +
			"`tutti rpc service ACTION service=NAME` with the same flags. NAME is a systemd unit\n" +
			"(nginx or nginx.service): letters, digits and @ . _ : - only, not starting with '-'.",
		Example:   "  tutti service status nginx\n  tutti service restart nginx -C role::web",
		ValidArgs: []string{"start", "stop", "restart", "status"},
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 2 {
				return exitWith(ExitUsage, fmt.Errorf("want ACTION NAME (start|stop|restart|status and a service), got %d arguments", len(args)))
			}
			switch args[0] {
			case "start", "stop", "restart", "status":
			default:
				return exitWith(ExitUsage, fmt.Errorf("unknown service action %q; use start, stop, restart or status", args[0]))
			}
			if err := service.ValidName(args[1]); err != nil {
				return exitWith(ExitUsage, err)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return rpc.RunE(cmd, []string{"service", args[0], "service=" + args[1]})
		},
	}
	cmd.Flags().AddFlagSet(rpc.Flags())
	return cmd
}
