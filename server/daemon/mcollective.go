package daemon

import (
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/connector/mcollective"
	"github.com/tuttifleet/tutti/security"
	"github.com/tuttifleet/tutti/security/mcossl"
	"github.com/tuttifleet/tutti/server"
)

// mcoMode builds MCollective 2.12 mode (securityprovider = ssl,
// docs/mcollective.md): the callers' key directory verifies requests,
// the fleet's server key signs replies. The node then has no tutti
// certificate, so what needs one is refused with the reason (the audit
// stream, registration) or, for the audit chain that is on by default,
// turned off with a warning: audit records are still written, without
// the signed checkpoints.
func mcoMode(cfg *config.Server, log *logrus.Entry) (security.Verifier, *server.MCollective, error) {
	s := cfg.SSL
	if cfg.Audit.Chain {
		log.Warn("securityprovider = ssl: the audit chain's checkpoints need a tutti certificate; plugin.tutti.audit.chain is off")
		cfg.Audit.Chain = false
	}
	switch {
	case s.ClientCertDir == "":
		return nil, nil, errors.New("securityprovider = ssl needs plugin.ssl_client_cert_dir (the callers' public keys)")
	case s.ServerPrivate == "":
		return nil, nil, errors.New("securityprovider = ssl needs plugin.ssl_server_private (the key replies are signed with)")
	case cfg.Audit.Enabled && cfg.Audit.Stream:
		return nil, nil, errors.New("securityprovider = ssl: plugin.tutti.audit.stream needs a tutti certificate; turn it off")
	case len(cfg.Registration) > 0 && cfg.RegisterInterval > 0:
		return nil, nil, errors.New("securityprovider = ssl: registration is not supported; unset registerinterval")
	}
	keys, err := mcossl.NewCallerKeys(s.ClientCertDir)
	if err != nil {
		return nil, nil, err
	}
	key, err := mcossl.LoadPrivateKey(s.ServerPrivate)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin.ssl_server_private: %w", err)
	}
	ser, err := mcollective.SerializerByName(s.Serializer)
	if err != nil {
		return nil, nil, err
	}
	return mcossl.Verifier{Callers: keys}, &server.MCollective{Serializer: ser, ServerKey: key}, nil
}

// identity is the TLS identity connections present: the node's
// certificate, or none in ssl mode (the pool's ssl.* files then).
func (d *Node) identity() dial.Identity {
	if d.Provider == nil {
		return nil
	}
	return d.Provider
}
