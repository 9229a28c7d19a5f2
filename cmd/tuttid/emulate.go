package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
	"github.com/tuttifleet/tutti/server/emulate"
)

type emulateFlags struct {
	count      int
	pki        string
	prefix     string
	audit      string
	key        string
	sharedConn bool
	parallel   int
	jsonOut    bool
	logLevel   string
}

func newEmulateCmd(cfgPath *string) *cobra.Command {
	var f emulateFlags
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run many complete nodes in one process (fleet emulator for benchmarks)",
		Long: "emulate starts --count nodes from one server.conf. Each has its own identity (<prefix>-00001…),\n" +
			"its own certificate and key issued from the CA in --pki (cached in <pki>/emulate/), its own facts\n" +
			"(index, group = index % 10, class emulate::group<g>), its own broker connection unless --shared-conn,\n" +
			"and runs every request through the full node pipeline. It prints its startup time and RSS per node\n" +
			"and runs until interrupted.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEmulate(cmd.Context(), *cfgPath, &f, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.count, "count", 100, "number of nodes")
	fl.StringVar(&f.pki, "pki", "", "tutti pki directory with ca.pem and ca.key (required)")
	fl.StringVar(&f.prefix, "prefix", emulate.DefaultPrefix, "node name prefix")
	fl.StringVar(&f.audit, "audit", "", `audit destination: "discard" (encode, then drop), a file shared by all nodes, or "" to follow the config`)
	fl.StringVar(&f.key, "key", "ecdsa", "node key type: ecdsa or ed25519")
	fl.BoolVar(&f.sharedConn, "shared-conn", false, "one broker connection for all nodes instead of one each")
	fl.IntVar(&f.parallel, "parallel", emulate.DefaultParallel, "nodes connecting at the same time")
	fl.BoolVar(&f.jsonOut, "json", false, "print the startup report as one JSON line")
	fl.StringVar(&f.logLevel, "log-level", "warn", "log level of the nodes (the config's logfile, stderr instead of stdout)")
	_ = cmd.MarkFlagRequired("pki")
	return cmd
}

func runEmulate(ctx context.Context, path string, f *emulateFlags, out io.Writer) error {
	if path == "" {
		path = "/etc/choria/server.conf"
	}
	kt, err := x509.ParseKeyType(f.key)
	if err != nil {
		return err
	}
	if kt == x509.KeyRSA {
		return fmt.Errorf("--key rsa is not supported: issuing thousands of RSA keys takes minutes; use ecdsa or ed25519")
	}
	cfg, file, err := config.LoadServer(path)
	if err != nil {
		return err
	}
	if cfg.Logging.File == "" || cfg.Logging.File == "stdout" {
		cfg.Logging.File = "stderr" // stdout carries the report
	}
	cfg.Logging.Level = f.logLevel
	logger, closer, err := daemon.NewLogger(cfg.Logging)
	if err != nil {
		return err
	}
	defer closer.Close()
	log := logrus.NewEntry(logger)
	for _, w := range file.Warnings() {
		log.Warn(w.String())
	}
	fleet, err := emulate.Start(ctx, emulate.Options{
		Config: cfg, File: file, Count: f.count, PKIDir: f.pki, Prefix: f.prefix, KeyType: kt, Audit: f.audit,
		SharedConn: f.sharedConn, Parallel: f.parallel, Log: log,
	})
	if err != nil {
		return err
	}
	if err := printEmulateReport(out, fleet.Report(), f.jsonOut); err != nil {
		fleet.Shutdown(context.Background())
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), cfg.SoftShutdownTimeout+5*time.Second)
	defer cancel()
	fleet.Shutdown(sctx)
	return nil
}

func printEmulateReport(w io.Writer, r emulate.Report, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	_, err := fmt.Fprintf(w, "%d nodes %s…%s running (keys %s, audit %s, shared connection %v)\n"+
		"started in %.2fs (certificates %.2fs: %d issued, %d cached)\n"+
		"RSS %.1f MiB → %.1f MiB: %.3f MiB per node (Go heap %.3f MiB per node), %d goroutines\n",
		r.Count, r.First, r.Last, r.KeyType, r.Audit, r.SharedConn, r.StartSeconds, r.CertsSeconds, r.CertsIssued,
		r.CertsCached, mib(r.RSSBefore), mib(r.RSSAfter), r.RSSPerNode/(1<<20), r.HeapPerNode/(1<<20), r.Goroutines)
	if err == nil {
		fmt.Fprintln(os.Stderr, "emulating; interrupt (Ctrl-C) to stop")
	}
	return err
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
