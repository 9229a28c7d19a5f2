package bench

import (
	"strings"
	"testing"
)

func TestLeafConfigRewrites(t *testing.T) {
	conf := "identity = emu\nplugin.choria.middleware_hosts = nats://127.0.0.1:4222\nplugin.choria.network.client_port = 4222\n"
	got := hostsTo(conf, 5000)
	if !strings.Contains(got, "middleware_hosts = nats://127.0.0.1:5000\n") || !strings.Contains(got, "client_port = 4222\n") {
		t.Errorf("hostsTo: %q", got)
	}
	got = clientPort(conf, 5001)
	if !strings.Contains(got, "client_port = 5001\n") || !strings.Contains(got, "nats://127.0.0.1:4222\n") {
		t.Errorf("clientPort: %q", got)
	}
}
