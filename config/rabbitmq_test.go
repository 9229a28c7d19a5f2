package config

import (
	"slices"
	"testing"
)

// connector = rabbitmq reads plugin.rabbitmq.* with MCollective's
// rabbitmq defaults (vhost "/") and its own certificate environment
// variables; plugin.activemq.* is not consulted.
func TestRabbitMQ(t *testing.T) {
	clearEnv(t)
	t.Setenv("MCOLLECTIVE_RABBITMQ_POOL1_SSL_KEY", "/env/key.pem")
	t.Setenv("MCOLLECTIVE_ACTIVEMQ_POOL1_SSL_CERT", "/env/activemq-cert.pem")
	text := `identity = a
connector = rabbitmq
plugin.activemq.pool.size = 3
plugin.rabbitmq.pool.size = 1
plugin.rabbitmq.pool.1.host = rmq1
plugin.rabbitmq.pool.1.port = 61614
plugin.rabbitmq.pool.1.user = tutti-node
plugin.rabbitmq.pool.1.ssl = 1
plugin.rabbitmq.pool.1.ssl.cert = ssl/node.pem
plugin.rabbitmq.use_reply_exchange = 1
`
	s, err := ServerFrom(mustParse(t, text))
	if err != nil {
		t.Fatal(err)
	}
	want := []STOMPBroker{{Host: "rmq1", Port: 61614, User: "tutti-node", SSL: true, SSLCert: "/etc/tutti/ssl/node.pem", SSLKey: "/env/key.pem"}}
	if s.Connector != "rabbitmq" || !slices.Equal(s.ActiveMQ.Pool, want) {
		t.Errorf("connector %q pool %+v\nwant rabbitmq %+v", s.Connector, s.ActiveMQ.Pool, want)
	}
	if s.ActiveMQ.VHost != "/" {
		t.Errorf("vhost = %q, want RabbitMQ's default /", s.ActiveMQ.VHost)
	}

	s, err = ServerFrom(mustParse(t, text+"plugin.rabbitmq.vhost = /mcollective\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.ActiveMQ.VHost != "/mcollective" {
		t.Errorf("vhost = %q, want /mcollective", s.ActiveMQ.VHost)
	}
}

func TestRabbitMQKeys(t *testing.T) {
	for key, want := range map[string]string{
		"plugin.rabbitmq.vhost":              "/",
		"plugin.activemq.vhost":              "mcollective",
		"plugin.rabbitmq.use_reply_exchange": "1",
	} {
		ki, ok := Lookup(key)
		if !ok || ki.Default != want {
			t.Errorf("%s: %+v %v, want default %q", key, ki, ok, want)
		}
	}
	if _, ok := Lookup("plugin.activemq.use_reply_exchange"); ok {
		t.Error("plugin.activemq.use_reply_exchange is known; it is a rabbitmq key")
	}
}
