package config

import (
	"strings"
)

// BrokerLinks are the embedded broker's links to other data centres:
// leafnodes and gateways (docs/operations.md, "Several data centres").
type BrokerLinks struct {
	// LeafPort: plugin.choria.network.leafnode_port (0 = off).
	LeafPort int
	// LeafAdvertise: plugin.tutti.broker.leafnode_advertise, host:port.
	LeafAdvertise string
	// LeafRemotes: plugin.choria.network.leafnode_remotes and
	// plugin.choria.network.leafnode_remote.<name>.*.
	LeafRemotes []LinkRemote
	// GatewayName, GatewayPort: plugin.choria.network.gateway_name and
	// gateway_port (0 = off).
	GatewayName string
	GatewayPort int
	// GatewayRemotes: plugin.choria.network.gateway_remotes and
	// plugin.choria.network.gateway_remote.<name>.*.
	GatewayRemotes []LinkRemote
	// LinkCertificates: plugin.tutti.broker.link_certificates.
	LinkCertificates []string
	// JetStreamDomain: plugin.tutti.broker.jetstream_domain.
	JetStreamDomain string
}

// LinkRemote is one leafnode or gateway remote.
type LinkRemote struct {
	Name string
	URLs []string // .url (leafnode) or .urls (gateway)
	// TLSCert, TLSKey, TLSCA: .tls.cert, .tls.key, .tls.ca; empty: the
	// broker's own certificate, key and CA.
	TLSCert, TLSKey, TLSCA string
}

// Configured reports whether any link is set up.
func (l BrokerLinks) Configured() bool {
	return l.LeafPort != 0 || l.GatewayPort != 0 || len(l.LeafRemotes) > 0 || len(l.GatewayRemotes) > 0
}

func linkKeys() []KeyInfo {
	p := "plugin.choria.network."
	b := "plugin.tutti.broker."
	used := func(ki KeyInfo) KeyInfo { return ki.with(BrokerOnly) }
	remote := func(kind, urlKey, what string) []KeyInfo {
		r := p + kind + "_remote.<name>."
		return []KeyInfo{
			used(k(r+urlKey, KindList, "required", what+" URLs, host:port or nats://host:port; the first that answers is used")),
			used(k(r+"tls.cert", KindPath, "the broker's certificate", "certificate this link presents (with tls.key and tls.ca)")),
			used(k(r+"tls.key", KindPath, "the broker's key", "key of tls.cert")),
			used(k(r+"tls.ca", KindPath, "the broker's CA", "CA the other broker's certificate must chain to")),
			used(k(r+"tls.verify", KindBool, "true", "must stay true: a link never skips certificate verification")),
			used(k(r+"tls.disable", KindBool, "false", "must stay false: every link is mutual TLS")),
		}
	}
	keys := []KeyInfo{
		used(k(p+"leafnode_port", KindPort, "0", "leafnode port other data centres' brokers connect to; 0 = off")),
		used(k(p+"leafnode_remotes", KindList, "", "names of the hubs this broker connects to as a leafnode (each set with leafnode_remote.<name>.url)")),
		k(p+"leafnode_remote.<name>.account", KindString, "", "NATS account of the link; tutti's broker uses none").with(Unsupported),
		k(p+"leafnode_remote.<name>.credentials", KindPath, "", "NATS credentials of the link; links authenticate by certificate").with(Unsupported),
		used(k(p+"gateway_name", KindString, "", "this cluster's name among gateways (also its cluster name); required with gateway_port")),
		used(k(p+"gateway_port", KindPort, "0", "gateway port; 0 = off")),
		used(k(p+"gateway_remotes", KindList, "", "names of the other clusters (each set with gateway_remote.<name>.urls); list every cluster, this one included")),
		used(k(b+"link_certificates", KindList, "", "regexes of the certificates a cluster route, leafnode or gateway link may present (the brokers'); required with a cluster (peer_port) and with any link")),
		used(k(b+"leafnode_advertise", KindString, "listen address and port", "host:port leafnodes are told to reconnect to (NAT or load balancer)")),
		used(k(b+"jetstream_domain", KindString, "", "this data centre's JetStream domain; set a distinct one on each side of a leafnode link")),
		used(k(b+"audit_stream.sources", KindList, "", "JetStream domains of other data centres whose audit streams this broker's audit stream sources (the central stream)")),
	}
	keys = append(keys, remote("leafnode", "url", "the hub's leafnode")...)
	keys = append(keys, remote("gateway", "urls", "that cluster's gateway")...)
	return section("broker", keys...)
}

// readBrokerLinks reads the leafnode and gateway keys.
func readBrokerLinks(r *reader) BrokerLinks {
	const p = "plugin.choria.network."
	l := BrokerLinks{
		LeafPort:         r.port(p+"leafnode_port", 0),
		LeafAdvertise:    r.str("plugin.tutti.broker.leafnode_advertise", ""),
		GatewayName:      r.str(p+"gateway_name", ""),
		GatewayPort:      r.port(p+"gateway_port", 0),
		LinkCertificates: r.regexList("plugin.tutti.broker.link_certificates", nil),
		JetStreamDomain:  r.str("plugin.tutti.broker.jetstream_domain", ""),
	}
	l.LeafRemotes = readRemotes(r, "leafnode", "url")
	l.GatewayRemotes = readRemotes(r, "gateway", "urls")
	if l.Configured() && len(l.LinkCertificates) == 0 {
		r.invalid("plugin.tutti.broker.link_certificates", "is required with leafnode or gateway links: "+
			"the CA also signs node and client certificates, and any of them could otherwise connect as a broker and read every reply")
	}
	if l.GatewayPort != 0 && l.GatewayName == "" {
		r.invalid(p+"gateway_name", "is required with gateway_port")
	}
	if d := l.JetStreamDomain; d != "" && strings.ContainsAny(d, ". *>\t/\\") {
		r.invalid("plugin.tutti.broker.jetstream_domain", "%q is not a JetStream domain (no dots, spaces, wildcards or slashes)", clip(d))
	}
	return l
}

// readRemotes reads <kind>_remotes and each remote's keys.
func readRemotes(r *reader, kind, urlKey string) []LinkRemote {
	p := "plugin.choria.network." + kind + "_remote"
	var out []LinkRemote
	for _, name := range r.list(p+"s", nil) {
		k := p + "." + name + "."
		rm := LinkRemote{Name: name, URLs: r.list(k+urlKey, nil),
			TLSCert: r.path(k+"tls.cert", ""), TLSKey: r.path(k+"tls.key", ""), TLSCA: r.path(k+"tls.ca", "")}
		if len(rm.URLs) == 0 {
			r.invalid(p+"s", "%s %q has no %s%s", kind, clip(name), k, urlKey)
		}
		for i, u := range rm.URLs {
			n, err := NormalizeNATSURL(u)
			if err != nil {
				r.fail(k+urlKey, err)
				continue
			}
			rm.URLs[i] = n
		}
		if set := btoi(rm.TLSCert != "") + btoi(rm.TLSKey != "") + btoi(rm.TLSCA != ""); set != 0 && set != 3 {
			r.invalid(k+"tls.cert", "set tls.cert, tls.key and tls.ca together, or none of them (the broker's own are used)")
		}
		if !r.bool(k+"tls.verify", true) {
			r.invalid(k+"tls.verify", "a link never skips certificate verification: the other broker is authorized by its certificate")
		}
		if r.bool(k+"tls.disable", false) {
			r.invalid(k+"tls.disable", "every link is mutual TLS: it carries requests, replies and audit records, "+
				"and the broker authorizes the other end by its certificate; there is no plain-text link")
		}
		out = append(out, rm)
	}
	return out
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
