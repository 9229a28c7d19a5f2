package daemon

import (
	"context"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector"
	natsconn "github.com/tuttifleet/tutti/connector/nats"
	"github.com/tuttifleet/tutti/security/x509"
)

// Connect opens the configured middleware connection.
func Connect(ctx context.Context, c *config.Common, p *x509.Provider, log *logrus.Entry) (connector.Connector, error) {
	switch c.Connector {
	case "", "nats":
	default:
		return nil, fmt.Errorf("connector %q is not available in this build; use nats", c.Connector)
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
		Name: c.Identity, Log: log.WithField("component", "nats"),
	})
}
