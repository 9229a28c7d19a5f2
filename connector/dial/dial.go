// Package dial opens the middleware connection a configuration names:
// NATS (connector = nats, the default), STOMP to ActiveMQ (connector =
// activemq or stomp) or STOMP to RabbitMQ (connector = rabbitmq). It is the one place that chooses a connector, used
// by every binary that connects (tuttid, the tutti CLI, its demo and
// bench, the emulator), so none of them reaches into another's wiring.
//
// It takes only the connector's own configuration, the NATS and ActiveMQ
// sections of package config (a leaf), and the TLS identity as a small
// interface that *x509.Provider satisfies, so it imports nothing of
// server/ or security/. The connectors are chosen from a fixed table by
// name: no registration at init, no package-level state.
package dial

import (
	"context"
	"crypto/tls"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	natsconn "github.com/tuttifleet/tutti/connector/nats"
	stompconn "github.com/tuttifleet/tutti/connector/stomp"
)

// DefaultNATSHost is the broker a NATS connection tries when no
// plugin.choria.middleware_hosts are configured.
const DefaultNATSHost = "nats://puppet:4222"

// Identity is the TLS client identity a connection presents: the CA that
// signs the brokers' certificates and our certificate. *x509.Provider is
// one.
type Identity interface {
	// ClientTLS returns a fresh client TLS configuration.
	ClientTLS(serverName string) (*tls.Config, error)
	// Name is the certificate's name, for errors and logs.
	Name() string
}

// Config is what a connection needs from the configuration.
type Config struct {
	// Connector is the configured middleware: "" or "nats", "activemq"
	// or "stomp", "rabbitmq".
	Connector string
	// Name is the connection's name on the broker and in logs (the
	// identity).
	Name string
	NATS config.NATS
	// ActiveMQ is the STOMP pool: plugin.activemq.*, or plugin.rabbitmq.*
	// with connector = rabbitmq.
	ActiveMQ config.ActiveMQ
	// Token is a login token presented to a NATS broker (a client whose
	// requests tutti-aaa signs): a tutti broker configured to verify it
	// lets the connection read the token caller's replies. STOMP
	// connections ignore it.
	Token string
	// MCollective is set in MCollective's ssl mode (securityprovider =
	// ssl): there is no tutti certificate (Open's id may be nil; TLS to
	// ActiveMQ then uses the pool's ssl.ca/ssl.cert/ssl.key only) and a
	// pool member may be plain STOMP (ssl = 0), as on MCollective sites:
	// the messages are signed end to end either way.
	MCollective bool
	// InboxPrefix is a NATS connection's inbox prefix, where JetStream
	// acknowledgements arrive (a node's audit records share its
	// connection: x509.InboxPrefix of its certificate name, the one the
	// broker lets it read); empty: nats.go's. STOMP connections ignore it.
	InboxPrefix string
}

// ConfigFrom picks the connector's sections out of a client's or a
// node's configuration. Open itself never sees the rest of config.Common.
func ConfigFrom(c *config.Common) Config {
	return Config{Connector: c.Connector, Name: c.Identity, NATS: c.NATS, ActiveMQ: c.ActiveMQ, MCollective: c.SSL.Enabled}
}

// WithToken returns c presenting the login token to a NATS broker.
func (c Config) WithToken(token string) Config {
	c.Token = token
	return c
}

// opener opens one kind of connection.
type opener func(ctx context.Context, c Config, id Identity, log *logrus.Entry) (connector.Connector, error)

// kind is one row of the connector table.
type kind struct {
	names []string // the values of the connector key that choose it
	open  opener
}

// kinds is the table of the middleware this build speaks. Its first name
// is the one error messages suggest.
func kinds() []kind {
	return []kind{
		{names: []string{"nats", ""}, open: openNATS},
		{names: []string{"activemq", "stomp"}, open: openActiveMQ},
		{names: []string{"rabbitmq"}, open: openRabbitMQ},
	}
}

// Open connects to the middleware c names, presenting id's certificate.
// An unknown connector, or a configuration that cannot work, is refused
// with the reason.
func Open(ctx context.Context, c Config, id Identity, log *logrus.Entry) (connector.Connector, error) {
	var known []string
	for _, k := range kinds() {
		for _, name := range k.names {
			if name == c.Connector {
				return k.open(ctx, c, id, log)
			}
		}
		known = append(known, k.names[0])
	}
	return nil, fmt.Errorf("connector %q is not available in this build; use %s",
		c.Connector, strings.Join(known, " or "))
}

// openNATS connects to the plugin.choria.middleware_hosts.
func openNATS(ctx context.Context, c Config, id Identity, log *logrus.Entry) (connector.Connector, error) {
	nc, err := natsConfig(c, id, log)
	if err != nil {
		return nil, err
	}
	return natsconn.Connect(ctx, nc)
}

// natsConfig maps c to the NATS connector's configuration.
func natsConfig(c Config, id Identity, log *logrus.Entry) (natsconn.Config, error) {
	tlsc, err := id.ClientTLS("")
	if err != nil {
		return natsconn.Config{}, err
	}
	hosts := c.NATS.Hosts
	if len(hosts) == 0 {
		hosts = []string{DefaultNATSHost}
	}
	return natsconn.Config{
		Servers: hosts, TLS: tlsc, User: c.NATS.User, Password: c.NATS.Pass, Credentials: c.NATS.Credentials,
		Token: c.Token, Certificate: id.Name(), Name: c.Name, Log: log.WithField("component", "nats"),
		InboxPrefix: c.InboxPrefix,
	}, nil
}

// openActiveMQ connects to the plugin.activemq pool with MCollective's
// ActiveMQ destinations.
func openActiveMQ(ctx context.Context, c Config, id Identity, log *logrus.Entry) (connector.Connector, error) {
	return openSTOMP(ctx, c, id, log, "activemq", stompconn.ActiveMQ)
}

// openRabbitMQ connects to the plugin.rabbitmq pool with MCollective's
// RabbitMQ destinations (exchanges per collective).
func openRabbitMQ(ctx context.Context, c Config, id Identity, log *logrus.Entry) (connector.Connector, error) {
	return openSTOMP(ctx, c, id, log, "rabbitmq", stompconn.RabbitMQ)
}

// openSTOMP connects to the plugin.<name> pool. Each member's ssl.ca /
// ssl.cert / ssl.key override the identity's CA and certificate; TLS
// itself is required.
func openSTOMP(ctx context.Context, c Config, id Identity, log *logrus.Entry, name string, naming stompconn.Naming) (connector.Connector, error) {
	a := c.ActiveMQ
	p := "plugin." + name
	if len(a.Pool) == 0 {
		return nil, fmt.Errorf("connector %s: %s.pool.size is 0; configure at least one broker", name, p)
	}
	brokers := make([]stompconn.Broker, 0, len(a.Pool))
	for i, m := range a.Pool {
		if !m.SSL && c.MCollective {
			log.WithField("broker", m.Host).Warnf("plugin.activemq.pool.%d.ssl is off: plain STOMP (MCollective ssl mode; messages are signed, not private)", i+1)
			brokers = append(brokers, stompconn.Broker{Host: m.Host, Port: m.Port, User: m.User, Password: m.Password, Plain: true})
			continue
		}
		if !m.SSL {
			return nil, fmt.Errorf("connector %s: %s.pool.%d.ssl is off; tutti only talks to brokers over TLS with a client certificate (set it to 1)", name, p, i+1)
		}
		tlsc, err := memberTLS(m, id)
		if err != nil {
			return nil, fmt.Errorf("connector %s: %s.pool.%d: %w", name, p, i+1, err)
		}
		brokers = append(brokers, stompconn.Broker{Host: m.Host, Port: m.Port, User: m.User, Password: m.Password, TLS: tlsc})
	}
	return stompconn.Connect(ctx, stompconn.Config{
		Naming:  naming,
		Brokers: brokers, Randomize: a.Randomize, VHost: a.VHost, HeartBeat: a.HeartbeatInterval,
		ConnectTimeout:        a.ConnectTimeout,
		InitialReconnectDelay: a.InitialReconnectDelay, MaxReconnectDelay: a.MaxReconnectDelay,
		BackOffMultiplier: a.BackOffMultiplier, MaxReconnectAttempts: a.MaxReconnectAttempts,
		Name: c.Name, Log: log.WithField("component", "stomp"),
	})
}

func memberTLS(m config.STOMPBroker, id Identity) (*tls.Config, error) {
	tlsc := &tls.Config{MinVersion: tls.VersionTLS12} // ssl mode: the pool's files, else the system roots
	if id != nil {
		var err error
		if tlsc, err = id.ClientTLS(""); err != nil {
			return nil, err
		}
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
