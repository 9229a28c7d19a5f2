package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
	mcoclient "github.com/tuttifleet/tutti/client/mcollective"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/security/remote"
	"github.com/tuttifleet/tutti/security/x509"
)

// session is a connected client built from client.conf.
type session struct {
	cfg    *config.Client
	file   *config.File
	log    *logrus.Entry
	conn   connector.Connector
	client fleetClient
	caller string
}

// fleetClient sends requests and collects their replies: client.Client
// for Choria's protocol, client/mcollective's Client for MCollective
// nodes (securityprovider = ssl). Both hand every reply over as a
// client.Result, so each verb prints them the same way.
type fleetClient interface {
	Do(ctx context.Context, req client.Request, onReply func(client.Result)) (*client.Summary, error)
	DoBatched(ctx context.Context, req client.Request, b client.Batch, onReply func(client.Result)) (*client.BatchSummary, error)
	Discover(ctx context.Context, filter protocol.Filter, collective string, timeout, idleGap time.Duration) ([]string, *client.Summary, error)
}

var (
	_ fleetClient = (*client.Client)(nil)
	_ fleetClient = (*mcoclient.Client)(nil)
)

func (s *session) Close() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// newSigner decides how requests get signed: by tutti-aaa when
// client.conf names a request signer URL (security/remote), otherwise
// with the local certificate.
func newSigner(cfg *config.Client, p *x509.Provider) (security.RequestSigner, error) {
	return newSignerWith(cfg, p, remote.ApprovalOptions{})
}

// newSignerWith is newSigner with what a remote signer does with
// requests held for approval.
func newSignerWith(cfg *config.Client, p *x509.Provider, approval remote.ApprovalOptions) (security.RequestSigner, error) {
	rs := cfg.RequestSigner
	switch {
	case rs.Service:
		return nil, errors.New("plugin.choria.security.request_signer.service (signing over Choria RPC) is not supported yet; use .url")
	case rs.URL != "":
		return remote.New(remote.Config{URL: rs.URL, TokenFile: rs.TokenFile, TokenEnv: rs.TokenEnv,
			SeedFile: rs.SeedFile, CA: rs.CA, Insecure: rs.Insecure, Approval: approval})
	case rs.Force:
		return nil, fmt.Errorf("plugin.choria.security.request_signer.force is set but no signer url is configured")
	}
	if cfg.Security.ChoriaServers {
		if err := p.RequireRSA(); err != nil {
			return nil, fmt.Errorf("plugin.tutti.choria_servers is on (the fleet has Choria servers), refusing to sign: %w", err)
		}
	}
	kind := cfg.CallerKind
	if kind == "" {
		kind = "choria"
	}
	return &client.LocalSigner{Signer: p, Caller: kind + "=" + p.Name()}, nil
}

// brokerToken is the login token a remote signer holds, presented to the
// broker so that it lets this connection read the replies to the token's
// caller (docs/security.md, "Broker permissions"); "" for local signing.
func brokerToken(s security.RequestSigner) string {
	if t, ok := s.(interface{ Token() string }); ok {
		return t.Token()
	}
	return ""
}

// connect loads the client config and connects to the broker.
func (g *globals) connect(cmd *cobra.Command) (*session, error) {
	cfg, file, err := config.LoadClient(g.config)
	if err != nil {
		var nf *config.NotFoundError
		if errors.As(err, &nf) {
			err = fmt.Errorf("%w (-c FILE for short)", err)
		}
		return nil, exitWith(ExitFailed, err)
	}
	logger := logrus.New()
	logger.SetOutput(g.stderr)
	logger.SetLevel(logrus.WarnLevel)
	if g.verbose {
		logger.SetLevel(logrus.DebugLevel)
	}
	log := logrus.NewEntry(logger).WithField("component", "client")
	for _, w := range file.Warnings() {
		log.Warn(w.String())
	}
	if cfg.SSL.Enabled {
		return connectMCollective(cmd.Context(), cfg, file, log)
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err == nil {
		err = p.CheckValidity() // before connecting: the broker would refuse it
	}
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("security: %w", explainSecurity(err, cfg.Security)))
	}
	signer, err := newSignerWith(cfg, p, g.approval.options(g.stderr))
	if err != nil {
		return nil, exitWith(ExitFailed, err)
	}
	if w, ok := signer.(interface{ Warning() string }); ok && w.Warning() != "" {
		log.Warn(w.Warning())
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
	defer cancel()
	conn, err := dial.Open(ctx, dial.ConfigFrom(&cfg.Common).WithToken(brokerToken(signer)), p, log)
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("connect to broker: %w", explainSecurity(err, cfg.Security)))
	}
	cl, err := client.New(client.Options{
		Connector: conn, Signer: signer, Verifier: p, Identity: cfg.Identity, Collective: cfg.MainCollective,
		TTL: cfg.TTL, AcceptUnsignedReplies: !cfg.Security.RequireSignedReplies, RequireFilter: cfg.RequireClientFilter, Log: log,
	})
	if err != nil {
		conn.Close()
		return nil, exitWith(ExitFailed, err)
	}
	return &session{cfg: cfg, file: file, log: log, conn: conn, client: cl, caller: signer.CallerID()}, nil
}
