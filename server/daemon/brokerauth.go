package daemon

import (
	"errors"
	"fmt"
	"time"

	"github.com/tuttifleet/tutti/aaa/login"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/server/broker"
)

// maxBrokerTokenValidity is the longest a login token presented to the
// broker may still be valid for (exp − now), as the signer's
// max_validity; longer ones are refused unless they are service tokens.
const maxBrokerTokenValidity = 24 * time.Hour

// brokerAuthorization maps the broker's configuration onto
// broker.Authorization, loading the login token verification keys.
func brokerAuthorization(cfg *config.Broker) (broker.Authorization, error) {
	a := cfg.Authorization
	out := broker.Authorization{
		Privileged: cfg.Security.Privileged, Clients: cfg.Security.CertnameAllow,
		CollectiveClients: a.CollectiveClients, Nodes: a.NodeCertificates, SharedNodes: a.SharedNodeCertificates,
		Admins: a.AdminCertificates, AuditSubjects: a.AuditSubjects, AuditReaders: a.AuditReaders,
		AuditStream: a.AuditStream,
	}
	if len(a.ClientSignerCerts) == 0 {
		return out, nil
	}
	var tv tokenVerifiers
	for _, path := range a.ClientSignerCerts {
		key, err := login.LoadVerifyKey(path)
		if err != nil {
			return out, fmt.Errorf("plugin.choria.network.client_signer_cert: %w", err)
		}
		v, err := login.NewTokenVerifier(key, maxBrokerTokenValidity, nil)
		if err != nil {
			return out, fmt.Errorf("plugin.choria.network.client_signer_cert %s: %w", path, err)
		}
		tv = append(tv, v)
	}
	out.Tokens = tv
	return out, nil
}

// tokenVerifiers accepts a token any of its keys verifies.
type tokenVerifiers []*login.TokenVerifier

// VerifyToken implements broker.TokenVerifier.
func (tv tokenVerifiers) VerifyToken(token string) (string, time.Time, error) {
	var errs []error
	for _, v := range tv {
		c, err := v.Verify(token)
		if err == nil {
			return c.CallerID, c.ExpiresAt.Time, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 1 {
		return "", time.Time{}, errs[0]
	}
	return "", time.Time{}, fmt.Errorf("no client_signer_cert key verifies it: %w", errors.Join(errs...))
}

var _ broker.TokenVerifier = tokenVerifiers(nil)
