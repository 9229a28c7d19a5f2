package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // --pprof
	"os"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/emulate"
)

func newEmulateCmd(cfgPath *string) *cobra.Command {
	var (
		rc      emulate.RunConfig
		key     string
		jsonOut bool
		pprof   string
	)
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run many complete nodes in one process (fleet emulator for benchmarks)",
		Long: "emulate starts --count nodes from one server.conf. Each has its own identity (<prefix>-00001…),\n" +
			"its own certificate and key issued from the CA in --pki (cached in <pki>/emulate/), its own facts\n" +
			"(index, group = index % 10, class emulate::group<g>), its own broker connection unless --shared-conn,\n" +
			"and runs every request through the full node pipeline. It prints its startup time and RSS per node\n" +
			"and runs until interrupted. SIGUSR1 collects garbage and prints the RSS per node again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kt, err := x509.ParseKeyType(key)
			if err != nil {
				return err
			}
			if kt == x509.KeyRSA {
				return errors.New("--key rsa is not supported: issuing thousands of RSA keys takes minutes; use ecdsa or ed25519")
			}
			rc.KeyType, rc.ConfigPath = kt, *cfgPath
			if rc.ConfigPath == "" {
				rc.ConfigPath = "/etc/choria/server.conf"
			}
			if pprof != "" {
				if err := servePprof(pprof); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			rc.Ready = func(r emulate.Report) error { return printEmulateReport(out, r, jsonOut) }
			rc.Settled = func(m emulate.Memory) {
				if jsonOut {
					_ = json.NewEncoder(out).Encode(m)
					return
				}
				fmt.Fprintf(out, "settled: RSS %.1f MiB, %.3f MiB per node (Go heap %.3f MiB per node), %d goroutines\n",
					mib(m.RSS), m.RSSPerNode/(1<<20), m.HeapPerNode/(1<<20), m.Goroutines)
			}
			return emulate.Run(cmd.Context(), rc)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&rc.Count, "count", 100, "number of nodes")
	fl.StringVar(&rc.PKIDir, "pki", "", "tutti pki directory with ca.pem and ca.key (required)")
	fl.StringVar(&rc.Prefix, "prefix", emulate.DefaultPrefix, "node name prefix")
	fl.IntVar(&rc.Offset, "offset", 0, "number the nodes offset+1… (several emulators, one fleet)")
	fl.StringVar(&rc.Audit, "audit", "", `audit: "discard" (encode each record, then drop it), "stream" (the config's file plus a spool per node to the broker's audit stream, over the node's connection), a file all nodes append to, or "" to follow the config`)
	fl.StringVar(&key, "key", "ecdsa", "node key type: ecdsa or ed25519")
	fl.BoolVar(&rc.SharedConn, "shared-conn", false, "one broker connection for all nodes instead of one each")
	fl.IntVar(&rc.Parallel, "parallel", emulate.DefaultParallel, "nodes connecting at the same time")
	fl.BoolVar(&jsonOut, "json", false, "print the startup report as one JSON line")
	fl.StringVar(&rc.LogLevel, "log-level", "warn", "log level (the config's logfile; stdout becomes stderr)")
	fl.StringVar(&pprof, "pprof", "", "serve net/http/pprof on this address (e.g. 127.0.0.1:6060) to profile the nodes")
	_ = cmd.MarkFlagRequired("pki")
	return cmd
}

func printEmulateReport(w io.Writer, r emulate.Report, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	_, err := fmt.Fprintf(w, "%d nodes %s…%s running (keys %s, audit %s, shared connection %v)\n"+
		"started in %.2fs (certificates %.2fs: %d issued, %d cached)\n"+
		"RSS %.1f MiB → %.1f MiB: %.3f MiB per node (Go heap %.3f, stacks %.3f MiB per node), %d goroutines\n",
		r.Count, r.First, r.Last, r.KeyType, r.Audit, r.SharedConn, r.StartSeconds, r.CertsSeconds, r.CertsIssued,
		r.CertsCached, mib(r.RSSBefore), mib(r.RSSAfter), r.RSSPerNode/(1<<20), r.HeapPerNode/(1<<20), r.StackPerNode/(1<<20), r.Goroutines)
	if err == nil {
		fmt.Fprintln(os.Stderr, "emulating; interrupt (Ctrl-C) to stop")
	}
	return err
}

// servePprof serves the Go profiler on addr (loopback only).
func servePprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--pprof %s: only a loopback address is allowed", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	go func() { _ = http.Serve(l, nil) }() // net/http/pprof registers on the default mux
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
