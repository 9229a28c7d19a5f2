package cli

import (
	"encoding/json"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/cmd/tutti/internal/bench"
	"github.com/tuttifleet/tutti/cmd/tutti/internal/demo"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
	"github.com/tuttifleet/tutti/server/emulate"
)

// The verbs that run a fleet on this machine: demo, bench and the hidden
// bench-worker that bench starts as its child processes. The work is
// done in cmd/tutti/internal/demo and cmd/tutti/internal/bench.

func newDemoCmd(g *globals) *cobra.Command {
	o := &demo.Options{Tutti: Main}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a throwaway fleet on the embedded broker and show tutti at work",
		Long: "demo creates a temporary PKI, starts the embedded NATS broker (TLS, mutual auth) and a few nodes\n" +
			"in this process, runs ping and rpc against them, shows an ActionPolicy denial and a request signed\n" +
			"by an untrusted certificate being refused, then cleans up.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return exitWith(ExitUsage, err)
			}
			o.Stdin, o.Out = g.stdin, g.stdout
			if err := demo.Run(cmd.Context(), o); err != nil {
				return exitWith(ExitFailed, err)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&o.Nodes, "nodes", 3, "number of nodes")
	cmd.Flags().BoolVar(&o.Keep, "keep", false, "keep the temporary directory")
	return cmd
}

func newBenchCmd(g *globals) *cobra.Command {
	o := &bench.Options{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a fleet: time to all replies, CPU per request on nodes, client and broker, RSS per node",
		Long: "bench starts the embedded broker (TLS, mutual auth) and an emulated fleet (tuttid emulate) as child\n" +
			"processes, then runs `ping` and `rpc rpcutil ping` --runs times per fleet size with full security:\n" +
			"signed requests, signed replies, every reply verified by the client. CPU is read per process from\n" +
			"/proc, so nodes, client and broker are measured separately. See docs/benchmark.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return exitWith(ExitUsage, err)
			}
			if err := bench.Run(cmd.Context(), o, g.stdout, g.stderr); err != nil {
				return exitWith(ExitFailed, err)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&o.Nodes, "nodes", []int{100, 1000, 5000, 10000}, "fleet sizes")
	fl.IntVar(&o.Runs, "runs", 5, "measured requests of each kind per fleet size")
	fl.StringVar(&o.Key, "key", "ecdsa", "key type of the CA, broker, client and nodes: ecdsa or ed25519")
	fl.StringVar(&o.Out, "out", "", "write the results as JSON to this file")
	fl.StringVar(&o.Plot, "plot", "", "write an SVG plot of time to all replies against fleet size to this file")
	fl.StringVar(&o.Workdir, "workdir", "", "keep the PKI, configs, logs and issued node certificates here (default: a temporary directory, removed)")
	fl.StringVar(&o.Audit, "audit", "file", `node audit: "file" (one audit log in the workdir), "stream" (the log, and each node's spool to the broker's audit stream; every record checked there) or "discard" (records encoded, then dropped)`)
	durationVar(fl, &o.Timeout, "timeout", "", time.Minute, "longest wait for all replies to one request")
	fl.BoolVar(&o.SharedConn, "shared-conn", false, "emulated nodes share one broker connection")
	fl.BoolVar(&o.Leaf, "leaf", false, "put the nodes behind a leafnode broker linked to the client's broker (another data centre)")
	fl.StringVar(&o.From, "from", "", "measure nothing: print and plot the results of an earlier --out file")
	fl.IntVar(&o.Brokers, "brokers", 1, "brokers in one cluster: the client on the first, the nodes spread over the others")
	fl.BoolVar(&o.NodesOnClientBroker, "nodes-on-client-broker", false, "with --brokers > 1, spread the nodes over the client's broker too")
	fl.StringArrayVar(&o.NodeSet, "node-set", nil, "add key=value to the emulated nodes' configuration (repeatable), e.g. plugin.tutti.audit.stream_linger=1")
	fl.StringVar(&o.Profile, "profile", "", "write CPU profiles of the measured runs of every process (client, brokers, emulators) to this directory")
	fl.IntVar(&o.EmulatorGOGC, "emulator-gogc", 0, "garbage collection target (GOGC) of the emulators: below 100 they hold less of the request bursts' garbage, for more collector CPU per node (default: Go's 100)")
	return cmd
}

// newBenchWorkerCmd is the hidden `tutti bench-worker broker|emulate`
// that tutti bench runs as its child processes.
func newBenchWorkerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: bench.WorkerVerb, Hidden: true, Short: "child processes of tutti bench"}
	var conf, profile string
	brokerCmd := &cobra.Command{
		Use: "broker", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bench.ProfileOnSignal(cmd.Context(), profile)
			return daemon.RunBroker(cmd.Context(), conf)
		},
	}
	brokerCmd.Flags().StringVar(&conf, "config", "", "broker.conf")
	brokerCmd.Flags().StringVar(&profile, bench.ProfileFlag, "", "CPU profiles, toggled by SIGUSR2")
	var (
		rc   emulate.RunConfig
		key  string
		gogc int
	)
	emuCmd := &cobra.Command{
		Use: "emulate", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kt, err := x509.ParseKeyType(key)
			if err != nil {
				return err
			}
			if gogc > 0 {
				debug.SetGCPercent(gogc)
			}
			rc.KeyType, rc.ConfigPath, rc.LogLevel = kt, conf, "warn"
			rc.Ready = func(r emulate.Report) error { return json.NewEncoder(g.stdout).Encode(r) }
			rc.Settled = func(m emulate.Memory) { _ = json.NewEncoder(g.stdout).Encode(m) }
			bench.ProfileOnSignal(cmd.Context(), profile)
			return emulate.Run(cmd.Context(), rc)
		},
	}
	fl := emuCmd.Flags()
	fl.StringVar(&conf, "config", "", "server.conf")
	fl.IntVar(&rc.Count, "count", 1, "nodes")
	fl.IntVar(&rc.Offset, "offset", 0, "number the nodes from offset+1")
	fl.StringVar(&rc.PKIDir, "pki", "", "PKI directory")
	fl.StringVar(&key, "key", "ecdsa", "key type")
	fl.StringVar(&rc.Audit, "audit", "", "audit destination")
	fl.BoolVar(&rc.SharedConn, "shared-conn", false, "one connection")
	fl.StringVar(&profile, bench.ProfileFlag, "", "CPU profiles, toggled by SIGUSR2")
	fl.IntVar(&gogc, bench.GOGCFlag, 0, "GOGC (0: the default)")
	cmd.AddCommand(brokerCmd, emuCmd)
	return cmd
}
