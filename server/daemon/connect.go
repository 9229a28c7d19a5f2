package daemon

import (
	"context"
	"crypto/tls"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	natsconn "github.com/tuttifleet/tutti/connector/nats"
	stompconn "github.com/tuttifleet/tutti/connector/stomp"
	"github.com/tuttifleet/tutti/security/x509"
)

// Connect opens the configured middleware connection: NATS (default) or
// STOMP to ActiveMQ (connector = activemq or stomp).
func Connect(ctx context.Context, c *config.Common, p *x509.Provider, log *logrus.Entry) (connector.Connector, error) {
	return ConnectWithToken(ctx, c, p, "", log)
}

// ConnectWithToken is Connect presenting a login token to a NATS broker
// (a client whose requests tutti-aaa signs): a tutti broker configured
// to verify it lets the connection read the token caller's replies.
// STOMP connections ignore it.
func ConnectWithToken(ctx context.Context, c *config.Common, p *x509.Provider, token string, log *logrus.Entry) (connector.Connector, error) {
	switch c.Connector {
	case "", "nats":
	case "activemq", "stomp":
		return connectSTOMP(ctx, c, p, log)
	default:
		return nil, fmt.Errorf("connector %q is not available in this build; use nats or activemq", c.Connector)
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, err
	}
	hosts := c.NATS.Hosts
	if len(hosts) == 0 {
		hosts = []string{"nats://puppet:4222"}
	}
	return natsconn.Connect(ctx, natsconn.Config{
		Servers: hosts, TLS: tlsc, User: c.NATS.User, Password: c.NATS.Pass, Credentials: c.NATS.Credentials,
		Token: token, Certificate: p.Name(), Name: c.Identity, Log: log.WithField("component", "nats"),
	})
}

// connectSTOMP connects to the plugin.activemq pool. Each member's
// ssl.ca / ssl.cert / ssl.key override the security provider's CA and
// certificate; TLS itself is required.
func connectSTOMP(ctx context.Context, c *config.Common, p *x509.Provider, log *logrus.Entry) (connector.Connector, error) {
	a := c.ActiveMQ
	if len(a.Pool) == 0 {
		return nil, errors.New("connector activemq: plugin.activemq.pool.size is 0; configure at least one broker")
	}
	brokers := make([]stompconn.Broker, 0, len(a.Pool))
	for i, m := range a.Pool {
		if !m.SSL {
			return nil, fmt.Errorf("connector activemq: plugin.activemq.pool.%d.ssl is off; tutti only talks to brokers over TLS with a client certificate (set it to 1)", i+1)
		}
		tlsc, err := memberTLS(m, p)
		if err != nil {
			return nil, fmt.Errorf("connector activemq: plugin.activemq.pool.%d: %w", i+1, err)
		}
		brokers = append(brokers, stompconn.Broker{Host: m.Host, Port: m.Port, User: m.User, Password: m.Password, TLS: tlsc})
	}
	return stompconn.Connect(ctx, stompconn.Config{
		Brokers: brokers, Randomize: a.Randomize, VHost: a.VHost, HeartBeat: a.HeartbeatInterval,
		ConnectTimeout:        a.ConnectTimeout,
		InitialReconnectDelay: a.InitialReconnectDelay, MaxReconnectDelay: a.MaxReconnectDelay,
		BackOffMultiplier: a.BackOffMultiplier, MaxReconnectAttempts: a.MaxReconnectAttempts,
		Name: c.Identity, Log: log.WithField("component", "stomp"),
	})
}

func memberTLS(m config.STOMPBroker, p *x509.Provider) (*tls.Config, error) {
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, err
	}
	if m.SSLCA != "" {
		pem, err := os.ReadFile(m.SSLCA)
		if err != nil {
			return nil, fmt.Errorf("ssl.ca: %w", err)
		}
		pool := stdx509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl.ca %s: no PEM certificates in it", m.SSLCA)
		}
		tlsc.RootCAs = pool
	}
	switch {
	case m.SSLCert != "" && m.SSLKey != "":
		cert, err := tls.LoadX509KeyPair(m.SSLCert, m.SSLKey)
		if err != nil {
			return nil, fmt.Errorf("ssl.cert/ssl.key: %w", err)
		}
		tlsc.GetClientCertificate = nil
		tlsc.Certificates = []tls.Certificate{cert}
	case m.SSLCert != "" || m.SSLKey != "":
		return nil, errors.New("ssl.cert and ssl.key must be set together")
	}
	return tlsc, nil
}
