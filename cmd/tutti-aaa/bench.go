package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/aaa/signer"
	"github.com/tuttifleet/tutti/aaa/signer/loadgen"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/remote"
)

type benchFlags struct {
	url, ca, tokenFile, seedFile string
	agent, action                string
	duration                     time.Duration
	requests                     int64
	concurrency, servicePID      int
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure a signer's throughput with fresh signing requests",
		Long: `Bench sends signing requests to a running tutti-aaa (or aaasvc) for a while, as tutti rpc
would: each request is new, proves possession of the token's key and its answer is checked.
It prints the signs per second it saw and their latency. Give --service-pid when the service
runs on this host to also get the service's CPU time per sign (from /proc), which tells the
rate the service sustains on dedicated cores wherever the load generator runs.

Log in first (tutti login) to get a token file and its seed; the token must allow the
agent and action used (rpcutil ping by default).`,
		Example: `  tutti-aaa bench --url https://aaa.example.net:8443 --ca /etc/tutti/pki/ca.pem \
    --token-file ~/.tutti/token --duration 10s --concurrency 8 --service-pid $(pidof tutti-aaa)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.url, "url", "", "signer base URL (https://host:port) or its sign endpoint")
	fl.StringVar(&f.ca, "ca", "", "CA that verifies the signer's TLS certificate (default: system roots)")
	fl.StringVar(&f.tokenFile, "token-file", "", "token file written by tutti login")
	fl.StringVar(&f.seedFile, "seed-file", "", "ed25519 seed file (default: the token file with .key)")
	fl.StringVar(&f.agent, "agent", "rpcutil", "agent of the requests")
	fl.StringVar(&f.action, "action", "ping", "action of the requests")
	f.duration = 10 * time.Second
	fl.Var((*config.Seconds)(&f.duration), "duration", "how long to run (seconds, or 1m…)")
	fl.Int64Var(&f.requests, "requests", 0, "stop after this many signs instead of --duration")
	fl.IntVar(&f.concurrency, "concurrency", 8, "requests in flight")
	fl.IntVar(&f.servicePID, "service-pid", 0, "process id of the service on this host, to read its CPU time")
	_ = cmd.MarkFlagRequired("url")
	_ = cmd.MarkFlagRequired("token-file")
	return cmd
}

func runBench(cmd *cobra.Command, f benchFlags) error {
	if f.concurrency <= 0 {
		return errors.New("--concurrency must be positive")
	}
	signURL, err := signEndpoint(f.url)
	if err != nil {
		return err
	}
	client, err := benchClient(f.ca, f.concurrency)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	rs, err := remote.New(remote.Config{URL: signURL, TokenFile: f.tokenFile, SeedFile: f.seedFile, HTTPClient: client})
	if err != nil {
		return err
	}
	if !rs.HasProof() {
		fmt.Fprintln(cmd.ErrOrStderr(), "tutti-aaa bench: no seed file: sending bearer requests")
	}
	r, err := loadgen.Run(cmd.Context(), loadgen.Options{Signer: rs, Agent: f.agent, Action: f.action,
		Concurrency: f.concurrency, Duration: f.duration, Requests: f.requests, ServicePID: f.servicePID})
	if err != nil {
		return fmt.Errorf("bench stopped after %d signs: %w", r.Signs, err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s, concurrency %d\n%s", signURL, f.concurrency, r)
	return nil
}

// signEndpoint accepts a base URL or the sign endpoint itself.
func signEndpoint(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("--url %q is not an http(s) URL", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = signer.SignPath
	}
	return u.String(), nil
}

// benchClient verifies TLS against caFile (or the system roots) and keeps
// one idle connection per request in flight, so no run pays for new TLS
// handshakes.
func benchClient(caFile string, conns int) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s holds no certificate", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = conns
	return &http.Client{Timeout: remote.DefaultTimeout, Transport: tr}, nil
}
