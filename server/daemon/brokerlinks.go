package daemon

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
)

// links is the broker's part of config.BrokerLinks, with each remote's
// own TLS files loaded.
type links struct {
	cfg     config.BrokerLinks
	leaves  []broker.LeafRemote
	gateway []broker.GatewayRemote
}

// brokerLinks loads the leafnode and gateway remotes of l. A remote with
// its own tls.cert, tls.key and tls.ca uses them (read once, at start);
// the others use the broker's certificate, which SIGHUP rotates.
func brokerLinks(l config.BrokerLinks, log *logrus.Entry) (*links, error) {
	out := &links{cfg: l}
	for _, r := range l.LeafRemotes {
		c, err := remoteTLS(r)
		if err != nil {
			return nil, fmt.Errorf("leafnode remote %s: %w", r.Name, err)
		}
		out.leaves = append(out.leaves, broker.LeafRemote{Name: r.Name, URLs: r.URLs, TLS: c})
		log.WithFields(logrus.Fields{"remote": r.Name, "urls": r.URLs}).Info("leafnode remote configured")
	}
	for _, r := range l.GatewayRemotes {
		c, err := remoteTLS(r)
		if err != nil {
			return nil, fmt.Errorf("gateway remote %s: %w", r.Name, err)
		}
		out.gateway = append(out.gateway, broker.GatewayRemote{Name: r.Name, URLs: r.URLs, TLS: c})
		log.WithFields(logrus.Fields{"remote": r.Name, "urls": r.URLs}).Info("gateway remote configured")
	}
	return out, nil
}

// apply sets the links in bc.
func (l *links) apply(bc *broker.Config) {
	bc.LeafPort, bc.LeafAdvertise, bc.LeafRemotes = l.cfg.LeafPort, l.cfg.LeafAdvertise, l.leaves
	bc.GatewayName, bc.GatewayPort, bc.GatewayRemotes = l.cfg.GatewayName, l.cfg.GatewayPort, l.gateway
	bc.LinkCertificates, bc.JetStreamDomain = l.cfg.LinkCertificates, l.cfg.JetStreamDomain
}

// remoteTLS is a remote's own TLS, nil when it has none.
func remoteTLS(r config.LinkRemote) (*tls.Config, error) {
	if r.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(r.TLSCert, r.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("certificate %s and key %s: %w", r.TLSCert, r.TLSKey, err)
	}
	pem, err := os.ReadFile(r.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	certs, err := x509.ParseCertificatesPEM(pem)
	if err != nil {
		return nil, fmt.Errorf("CA %s: %w", r.TLSCA, err)
	}
	pool := stdx509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: pool, ClientCAs: pool}, nil
}
