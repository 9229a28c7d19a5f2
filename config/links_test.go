package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestBrokerLinkKeys(t *testing.T) {
	clearEnv(t)
	const leaf = "identity = broker.dcb\n" +
		"plugin.choria.network.leafnode_remotes = dca\n" +
		"plugin.choria.network.leafnode_remote.dca.url = hub1.dca:7422, tls://hub2.dca:7422\n" +
		"plugin.tutti.broker.link_certificates = ^broker\\.dc[ab]$\n" +
		"plugin.tutti.broker.jetstream_domain = dcb\n"
	b, err := BrokerFrom(mustParse(t, leaf))
	if err != nil {
		t.Fatal(err)
	}
	want := BrokerLinks{LeafRemotes: []LinkRemote{{Name: "dca", URLs: []string{"nats://hub1.dca:7422", "tls://hub2.dca:7422"}}},
		LinkCertificates: []string{`^broker\.dc[ab]$`}, JetStreamDomain: "dcb"}
	if !reflect.DeepEqual(b.Links, want) {
		t.Errorf("links %+v, want %+v", b.Links, want)
	}
	const gw = "identity = broker.dca\n" +
		"plugin.choria.network.gateway_name = dca\nplugin.choria.network.gateway_port = 7222\n" +
		"plugin.choria.network.gateway_remotes = dca, dcb\n" +
		"plugin.choria.network.gateway_remote.dca.urls = a1:7222\nplugin.choria.network.gateway_remote.dcb.urls = b1:7222, b2:7222\n" +
		"plugin.tutti.broker.link_certificates = ^broker\\.\n" +
		"plugin.tutti.broker.audit_stream.sources = dcb, dcc\n"
	if b, err = BrokerFrom(mustParse(t, gw)); err != nil {
		t.Fatal(err)
	}
	if l := b.Links; l.GatewayName != "dca" || l.GatewayPort != 7222 || len(l.GatewayRemotes) != 2 || len(l.GatewayRemotes[1].URLs) != 2 ||
		!reflect.DeepEqual(b.AuditStream.Sources, []string{"dcb", "dcc"}) {
		t.Errorf("gateway links %+v, sources %v", l, b.AuditStream.Sources)
	}

	for _, tc := range []struct{ name, text, key, says string }{
		{"no link certificates", "plugin.choria.network.leafnode_port = 7422\n", "link_certificates", "any of them could otherwise connect as a broker"},
		{"plain text", leaf + "plugin.choria.network.leafnode_remote.dca.tls.disable = true\n", "tls.disable", "every link is mutual TLS"},
		{"no verification", leaf + "plugin.choria.network.leafnode_remote.dca.tls.verify = false\n", "tls.verify", "never skips certificate verification"},
		{"half own TLS", leaf + "plugin.choria.network.leafnode_remote.dca.tls.cert = /x.pem\n", "tls.cert", "together"},
		{"no URL", "plugin.choria.network.leafnode_remotes = dca\nplugin.tutti.broker.link_certificates = x\n", "leafnode_remotes", "has no"},
		{"gateway without name", "plugin.choria.network.gateway_port = 7222\nplugin.tutti.broker.link_certificates = x\n", "gateway_name", "required"},
		{"cluster without link certificates", "plugin.choria.network.peer_port = 5222\n", "link_certificates", "could otherwise join the cluster as a broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BrokerFrom(mustParse(t, "identity = b\n"+tc.text))
			if !errors.Is(err, ErrInvalidValue) || !strings.Contains(err.Error(), tc.key) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("error %v, want an invalid %s saying %q", err, tc.key, tc.says)
			}
		})
	}
}
