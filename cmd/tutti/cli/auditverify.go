package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
)

type auditVerifyOpts struct {
	ca          string
	json        bool
	stream      bool
	allowPurged bool
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	o := &auditVerifyOpts{}
	cmd := &cobra.Command{
		Use:   "verify [FILE…]",
		Short: "Check the chains and signed checkpoints of audit records",
		Long: "verify reads audit records (node audit files, tutti-aaa's logfile auditor, or the audit stream\n" +
			"with --stream) and checks every writer's chain: seq follows seq, each record's prev is the hash\n" +
			"of the record before, and each checkpoint is signed by a certificate of the writer's name issued\n" +
			"by the CA (the client configuration's, or --ca). Give a writer's rotated files oldest first.\n" +
			"It names every broken, missing or reordered record (file:line, writer, seq) and exits 1 when\n" +
			"there is one; the records after a writer's last checkpoint are reported as unprotected: a\n" +
			"truncation there cannot be told from a writer that stopped. A writer whose first record is not\n" +
			"seq 1 (or a restart) is missing its oldest records: an error, unless --allow-purged says the\n" +
			"stream's retention (max_age, max_bytes), an admin's purge or a deleted rotated file dropped\n" +
			"them; the chain is then verified from its first record on and the writer is marked purged.\n\n" +
			"--stream reads the audit stream (plugin.tutti.audit.stream_name) from the start, through the\n" +
			"client configuration's broker, with its certificate (the broker must let it read the audit\n" +
			"stream: an admin or audit-reader certificate).",
		Example: "  tutti audit verify /var/log/tutti/audit.log.1 /var/log/tutti/audit.log\n" +
			"  tutti audit verify --ca ca.pem --json node*.log | jq '.problems'\n" +
			"  tutti audit verify --stream\n" +
			"  tutti audit verify --stream --allow-purged   # the stream's max_age dropped the oldest records",
		Args: usageArgs(func(cmd *cobra.Command, args []string) error {
			if !o.stream && len(args) == 0 {
				return errors.New("give audit files, or --stream")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error { return runAuditVerify(cmd.Context(), g, o, args) },
	}
	fl := cmd.Flags()
	fl.StringVar(&o.ca, "ca", "", "CA certificate (PEM) the checkpoint certificates must chain to (default: the client configuration's)")
	fl.BoolVar(&o.json, "json", false, "print one JSON document")
	fl.BoolVar(&o.stream, "stream", false, "also read the central audit stream (JetStream) through the configured broker")
	fl.BoolVar(&o.allowPurged, "allow-purged", false, "accept chains that start after seq 1 (oldest records purged by retention) and verify them from their first record")
	return cmd
}

func runAuditVerify(ctx context.Context, g *globals, o *auditVerifyOpts, files []string) error {
	ver, err := g.checkpointVerifier(o.ca)
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	v := audit.NewVerifier(ver)
	if o.allowPurged {
		v.AllowPurged()
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return exitWith(ExitFailed, err)
		}
		err = v.ReadFrom(name, f)
		f.Close()
		if err != nil {
			return exitWith(ExitFailed, err)
		}
	}
	if o.stream {
		if err := g.verifyStream(ctx, v); err != nil {
			return exitWith(ExitFailed, err)
		}
	}
	rep := v.Report()
	if o.json {
		err = writeVerifyJSON(g.stdout, rep)
	} else {
		err = writeVerifyText(g.stdout, rep)
	}
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	if !rep.OK() {
		return exitWith(ExitFailed, fmt.Errorf("audit trail does not verify: %s", rep.Problems[0]))
	}
	return nil
}

// checkpointVerifier trusts caFile or, when empty, the client
// configuration's CA.
func (g *globals) checkpointVerifier(caFile string) (*x509.Provider, error) {
	if caFile == "" {
		cfg, _, err := config.LoadClient(g.config)
		if err != nil {
			return nil, fmt.Errorf("no --ca and no client configuration: %w", err)
		}
		caFile = x509.ConfigFrom(cfg.Security).CAFile
	}
	if caFile == "" {
		return nil, errors.New("no CA: give --ca or a client configuration naming one")
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	return x509.NewFromPEM(nil, nil, pem, x509.Config{})
}

// verifyStream reads the audit stream (plugin.tutti.audit.stream_name)
// with the client's certificate, as tutti audit show does: an audit
// reader certificate is enough.
func (g *globals) verifyStream(ctx context.Context, v *audit.Verifier) error {
	s, err := g.openAuditStream()
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return v.ReadStream(ctx, s.js, s.stream)
}

// verifyDoc is verify --json.
type verifyDoc struct {
	OK bool `json:"ok"`
	audit.Report
}

func writeVerifyJSON(w io.Writer, rep audit.Report) error {
	if rep.Problems == nil {
		rep.Problems = []audit.Problem{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(verifyDoc{OK: rep.OK(), Report: rep})
}

func writeVerifyText(w io.Writer, rep audit.Report) error {
	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	for _, pr := range rep.Problems {
		p("%s\n", pr)
	}
	for _, wr := range rep.Writers {
		p("%-30s seq %d-%d  records %d  checkpoints %d", wr.Writer, wr.FirstSeq, wr.LastSeq, wr.Records, wr.Checkpoints)
		if wr.Purged {
			p("  seq 1-%d purged (not checked)", wr.FirstSeq-1)
		}
		if wr.Restarts > 0 {
			p("  restarts %d", wr.Restarts)
		}
		switch {
		case wr.Checkpoints == 0:
			p("  no verified checkpoint: all %d records unprotected\n", wr.Unprotected)
		case wr.Unprotected > 0:
			p("  %d records after the checkpoint at seq %d unprotected\n", wr.Unprotected, wr.LastCheckpoint)
		default:
			p("  sealed\n")
		}
	}
	if rep.Unchained > 0 {
		p("%d records without chain fields (written before chaining was on)\n", rep.Unchained)
	}
	if rep.OK() {
		p("OK: %d records of %d writers verify\n", rep.Lines-rep.Unchained, len(rep.Writers))
	} else {
		p("FAILED: %d problems\n", len(rep.Problems))
	}
	return err
}
