package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/security/revocation"
	"github.com/tuttifleet/tutti/security/x509"
)

// revocationTimeout bounds one bucket operation of the pki verbs.
const revocationTimeout = 15 * time.Second

// newPKIRevokeCmds are `tutti pki revoke`, `publish-crl` and `revoked`.
func newPKIRevokeCmds(g *globals) []*cobra.Command {
	var dir string
	var reason int
	var noPublish bool
	revoke := &cobra.Command{
		Use:   "revoke NAME|SERIAL",
		Short: "Revoke a certificate: sign a new CRL with the CA in --dir and publish it to the fleet",
		Long: "revoke adds the certificate NAME (NAME.pem in --dir) or SERIAL (decimal, or hex with 0x) to the CRL of\n" +
			"the CA in --dir: it signs a new crl.pem holding every earlier entry, with the CRL number incremented, and\n" +
			"puts it into the broker's TUTTI_CRL bucket with the certificate of --config, which must be an admin\n" +
			"certificate (plugin.tutti.broker.admin_certificates). Every node and broker watching the bucket applies\n" +
			"it within seconds, without a reload; a node that is offline applies it when it reconnects.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := x509.RevokeInDir(dir, x509.Revocation{Target: args[0], Reason: reason}, time.Now())
			if err != nil {
				return exitWith(ExitFailed, err)
			}
			who := res.Subject
			if who == "" {
				who = "serial " + res.Serial.String()
			}
			fmt.Fprintf(g.stdout, "revoked %s (serial %s): %s, CRL number %s\n", who, res.Serial.Text(16), res.Path, res.Number)
			if noPublish {
				return nil
			}
			if err := g.publishCRL(cmd.Context(), res.PEM); err != nil {
				return fmt.Errorf("%w; the CRL is signed and kept in %s: publish it with tutti pki publish-crl %s", err, res.Path, res.Path)
			}
			return nil
		},
	}
	revoke.Flags().StringVar(&dir, "dir", "./pki", "PKI directory holding ca.pem and ca.key (and crl.pem)")
	revoke.Flags().IntVar(&reason, "reason", 0, "RFC 5280 reason code: 0 unspecified, 1 key compromise, 3 affiliation changed, 4 superseded, 5 cessation of operation")
	revoke.Flags().BoolVar(&noPublish, "no-publish", false, "only write crl.pem; publish it later with tutti pki publish-crl")
	publish := &cobra.Command{
		Use:   "publish-crl FILE",
		Short: "Publish a CRL signed by the site CA to the broker's TUTTI_CRL bucket",
		Long: "publish-crl puts FILE (one CRL, PEM or DER) into the broker's TUTTI_CRL bucket with the certificate of\n" +
			"--config, which must be an admin certificate. Nodes and brokers apply it only if the CA they trust signed\n" +
			"it and it is newer (CRL number, else thisUpdate) than the one in force; otherwise they log why not.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return exitWith(ExitFailed, err)
			}
			return g.publishCRL(cmd.Context(), data)
		},
	}
	var pkiDir string
	revoked := &cobra.Command{
		Use:   "revoked",
		Short: "List revoked certificates (the TUTTI_CRL bucket) and revoked login tokens (TUTTI_TOKEN_REVOCATIONS)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.listRevoked(cmd.Context(), pkiDir)
		},
	}
	revoked.Flags().StringVar(&pkiDir, "dir", "", "PKI directory whose certificates name the revoked serials (optional)")
	return []*cobra.Command{revoke, publish, revoked}
}

// revocationConn connects with the client configuration's certificate,
// receiving under its own inbox prefix.
func (g *globals) revocationConn() (*nats.Conn, error) {
	return g.revocationConnDenied(nil)
}

// revocationConnDenied is revocationConn whose permission refusals, as
// the broker reports them, are also sent to denied (when not full).
func (g *globals) revocationConnDenied(denied chan<- error) (*nats.Conn, error) {
	cfg, _, err := config.LoadClient(g.config)
	if err != nil {
		return nil, exitWith(ExitFailed, err)
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("security: %w", err))
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("security: %w", err))
	}
	hosts := cfg.NATS.Hosts
	if len(hosts) == 0 {
		hosts = []string{dial.DefaultNATSHost}
	}
	nc, err := nats.Connect(strings.Join(hosts, ","), nats.Secure(tlsc), nats.Name(cfg.Identity+" pki"),
		nats.CustomInboxPrefix(x509.InboxPrefix(p.Name())), nats.Timeout(10*time.Second),
		nats.UserInfo(cfg.NATS.User, cfg.NATS.Pass), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if denied != nil && errors.Is(err, nats.ErrPermissionViolation) {
				select {
				case denied <- err:
				default:
				}
				return
			}
			fmt.Fprintf(g.stderr, "tutti: broker: %v\n", err)
		}))
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("connect to broker %s: %w", strings.Join(hosts, ","), err))
	}
	return nc, nil
}

func (g *globals) publishCRL(ctx context.Context, crl []byte) error {
	nc, err := g.revocationConn()
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	defer cancel()
	key, rev, err := revocation.Publish(ctx, nc, crl)
	if err != nil {
		return exitWith(ExitFailed, err)
	}
	fmt.Fprintf(g.stdout, "published to %s key %s (revision %d); watching nodes and brokers apply it now\n", revocation.CRLBucket, key, rev)
	return nil
}

func (g *globals) listRevoked(ctx context.Context, pkiDir string) error {
	denied := make(chan error, 8)
	nc, err := g.revocationConnDenied(denied)
	if err != nil {
		return err
	}
	defer nc.Close()
	names := map[string]string{}
	if pkiDir != "" {
		names = x509.SerialNames(pkiDir)
	}
	cctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	certs, cerr := revocation.ListCRLs(cctx, nc)
	cancel()
	// the token bucket is tutti-aaa's: the broker lets only admin and
	// privileged certificates read it, and says so asynchronously; the
	// listing stops at that refusal rather than at the timeout
	tctx, cancel := context.WithTimeout(ctx, revocationTimeout)
	tokens, terr := listTokensOrDenied(tctx, nc, denied)
	cancel()
	w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "Revoked certificates:")
	switch {
	case errors.Is(cerr, revocation.ErrNoBucket):
		fmt.Fprintf(w, "  none (bucket %s absent)\n", revocation.CRLBucket)
	case cerr != nil:
		fmt.Fprintf(w, "  cannot read %s: %v\n", revocation.CRLBucket, cerr)
	case len(certs) == 0:
		fmt.Fprintln(w, "  none")
	default:
		fmt.Fprintln(w, "  SERIAL\tSUBJECT\tREVOKED\tREASON\tISSUER")
		for _, c := range certs {
			subj := names[c.Serial.String()]
			if subj == "" {
				subj = "-"
			}
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", c.Serial.Text(16), subj, c.RevokedAt.UTC().Format(time.RFC3339),
				revocation.ReasonText(c.Reason), c.Issuer)
		}
	}
	fmt.Fprintln(w, "Revoked login tokens (tutti-aaa):")
	switch {
	case errors.Is(terr, revocation.ErrNoBucket):
		fmt.Fprintf(w, "  none (bucket %s absent)\n", revocation.TokenBucket)
	case terr != nil:
		fmt.Fprintf(w, "  cannot read %s: %v (the broker lets admin and privileged certificates read it)\n", revocation.TokenBucket, terr)
	case len(tokens) == 0:
		fmt.Fprintln(w, "  none")
	default:
		fmt.Fprintln(w, "  KEY\tUSER\tTOKEN ID\tREVOKED\tBY\tREASON")
		for _, t := range tokens {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\t%s\n", t.Key, dash(t.User), dash(t.JTI), t.RevokedAt.UTC().Format(time.RFC3339), dash(t.By), dash(t.Reason))
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if cerr != nil && !errors.Is(cerr, revocation.ErrNoBucket) || terr != nil && !errors.Is(terr, revocation.ErrNoBucket) {
		return exitWith(ExitFailed, errors.Join(cerr, terr))
	}
	return nil
}

// listTokensOrDenied lists the token revocations, giving up at the first
// permission refusal that names the token bucket.
func listTokensOrDenied(ctx context.Context, nc *nats.Conn, denied <-chan error) ([]revocation.TokenRevocation, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-denied:
				if strings.Contains(err.Error(), revocation.TokenBucket) {
					cancel(err)
					return
				}
			}
		}
	}()
	tokens, err := revocation.ListTokens(ctx, nc)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, nats.ErrPermissionViolation) {
		return nil, cause
	}
	return tokens, err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
