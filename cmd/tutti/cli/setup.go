package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/daemon"
)

// session is a connected client built from client.conf.
type session struct {
	cfg    *config.Client
	file   *config.File
	log    *logrus.Entry
	conn   connector.Connector
	client *client.Client
	caller string
}

func (s *session) Close() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// signerFactory lets other verbs (login, the remote signer) replace
// how requests get signed.
var signerFactory = func(ctx context.Context, cfg *config.Client, p *x509.Provider) (security.RequestSigner, error) {
	kind := cfg.CallerKind
	if kind == "" {
		kind = "choria"
	}
	if cfg.RequestSigner.Force {
		return nil, fmt.Errorf("plugin.choria.security.request_signer.force is set but no signer url is configured")
	}
	if cfg.Security.ChoriaServers {
		if err := p.RequireRSA(); err != nil {
			return nil, fmt.Errorf("plugin.tutti.choria_servers is on (the fleet has Choria servers), refusing to sign: %w", err)
		}
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
	p, err := x509.New(daemon.SecurityConfig(cfg.Security))
	if err == nil {
		err = p.CheckValidity() // before connecting: the broker would refuse it
	}
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("security: %w", explainSecurity(err, cfg.Security)))
	}
	signer, err := signerFactory(cmd.Context(), cfg, p)
	if err != nil {
		return nil, exitWith(ExitFailed, err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
	defer cancel()
	conn, err := daemon.ConnectWithToken(ctx, &cfg.Common, p, brokerToken(signer), log)
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("connect to broker: %w", explainSecurity(err, cfg.Security)))
	}
	cl, err := client.New(client.Options{
		Connector: conn, Signer: signer, Verifier: p, Identity: cfg.Identity, Collective: cfg.MainCollective,
		TTL: cfg.TTL, AcceptUnsignedReplies: !cfg.Security.RequireSignedReplies, Log: log,
	})
	if err != nil {
		conn.Close()
		return nil, exitWith(ExitFailed, err)
	}
	return &session{cfg: cfg, file: file, log: log, conn: conn, client: cl, caller: signer.CallerID()}, nil
}
