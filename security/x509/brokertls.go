package x509

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
)

// BrokerTLS returns the TLS configuration of an embedded broker, which
// plays both TLS roles with one tls.Config (nats-server does so for
// routes): server for clients and for the cluster peers that dial it,
// client for the cluster peers it dials.
//
// The certificate, CA and CRL are looked up per handshake, so a Reload
// rotates them for new connections while connections already up keep
// their session. A peer's certificate must chain to the CA in force, for
// client authentication when the peer dialed us and for server
// authentication when we dialed it, and neither its leaf nor an
// intermediate may be listed in the CRL.
//
// One limit, from crypto/tls: the server certificate of a cluster peer
// this broker dials is first verified against RootCAs, which cannot be
// looked up per handshake without turning crypto/tls' verification off;
// it is the CA pool in force when BrokerTLS was called. VerifyConnection
// then also requires the CA in force, so a CA removed by Reload is no
// longer trusted at once, but a CA added by Reload is trusted for
// outbound routes only after a restart.
func (p *Provider) BrokerTLS() (*tls.Config, error) {
	st := p.st.Load()
	if st.tlsCert == nil {
		return nil, errors.New("broker TLS needs a certificate and key")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// client side (routes we dial): the peer is a server
		RootCAs:              st.caPool,
		GetClientCertificate: p.currentClientCertificate,
		VerifyConnection:     p.verifyDialedPeer,
		// server side: GetConfigForClient decides; these describe it for
		// code that inspects the configuration (nats-server's INFO).
		ClientCAs:          st.caPool,
		ClientAuth:         tls.RequireAndVerifyClientCert,
		GetConfigForClient: p.serverConfig,
	}, nil
}

// serverConfig is the server side of BrokerTLS for one handshake.
func (p *Provider) serverConfig(*tls.ClientHelloInfo) (*tls.Config, error) {
	st := p.st.Load()
	if st.tlsCert == nil {
		return nil, errors.New("broker TLS: no certificate loaded")
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*st.tlsCert},
		ClientCAs:    st.caPool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		// crypto/tls verified the chain against st.caPool; the CRL is
		// the one of the same state.
		VerifyConnection: func(cs tls.ConnectionState) error {
			return checkPeerRevoked(cs, st.revoked)
		},
	}, nil
}

func (p *Provider) currentClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	if c := p.st.Load().tlsCert; c != nil {
		return c, nil
	}
	return nil, errors.New("broker TLS: no certificate loaded")
}

// verifyDialedPeer re-verifies the server certificate of a peer we dialed
// against the CA and CRL in force (crypto/tls has verified it against the
// RootCAs of BrokerTLS and the host name already).
func (p *Provider) verifyDialedPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("peer presented no certificate")
	}
	st := p.st.Load()
	leaf := cs.PeerCertificates[0]
	inter := stdx509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(stdx509.VerifyOptions{
		Roots: st.caPool, Intermediates: inter, CurrentTime: p.now(),
		KeyUsages: []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("peer certificate %q against the CA in force: %w", certName(leaf), err)
	}
	_, err = unrevokedChain(chains, st.revoked, certName(leaf))
	return err
}

// checkPeerRevoked refuses a TLS peer whose every verified chain holds a
// revoked certificate.
func checkPeerRevoked(cs tls.ConnectionState, rev revocations) error {
	if len(cs.PeerCertificates) == 0 || len(cs.VerifiedChains) == 0 {
		return errors.New("peer certificate was not verified")
	}
	_, err := unrevokedChain(cs.VerifiedChains, rev, certName(cs.PeerCertificates[0]))
	return err
}
