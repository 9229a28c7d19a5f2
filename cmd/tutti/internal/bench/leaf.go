package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tuttifleet/tutti/internal/freeport"
	"github.com/tuttifleet/tutti/security/x509"
)

// leafName is the certificate of the leafnode broker of --leaf.
const leafName = "broker-leaf.bench"

// leafEnv is --leaf: a second broker, the nodes' broker, connected to
// the client's broker as a leafnode (another data centre).
type leafEnv struct {
	dir, conf  string
	monitorURL string // the hub's /varz
}

// setupLeaf turns e into the --leaf topology: the broker of broker.conf
// becomes the hub (leafnode port, monitoring, JetStream domain "hub"
// sourcing the leaf's audit stream), leaf.conf is the leaf (JetStream
// domain "leaf"), and the nodes connect to the leaf.
func setupLeaf(e *benchEnv) (*leafEnv, error) {
	ca, err := x509.LoadCADir(e.pki)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(e.pki, leafName+".key")); err != nil {
		is, err := ca.Issue(leafName, x509.IssueOptions{KeyType: e.keyType, SANs: []string{"localhost", "127.0.0.1"}})
		if err != nil {
			return nil, err
		}
		if _, _, err := is.WriteFiles(e.pki); err != nil {
			return nil, err
		}
	}
	var ports [3]int // leafnode, hub monitoring, leaf client
	for i := range ports {
		if ports[i], err = freeport.Get(); err != nil {
			return nil, err
		}
	}
	l := &leafEnv{dir: filepath.Join(e.dir, "leaf"), monitorURL: fmt.Sprintf("http://127.0.0.1:%d/varz", ports[1])}
	l.conf = filepath.Join(l.dir, "leaf.conf")
	const links = "plugin.tutti.broker.link_certificates = ^broker(-leaf)?\\.bench$\n"
	hub, err := os.ReadFile(e.brokerConfs[0])
	if err != nil {
		return nil, err
	}
	hubExtra := fmt.Sprintf("plugin.choria.network.leafnode_port = %d\nplugin.choria.network.monitor_port = %d\n", ports[0], ports[1]) +
		links + "plugin.tutti.broker.jetstream_domain = hub\nplugin.tutti.broker.audit_stream.sources = leaf\n"
	if err := writeFile(e.brokerConfs[0], string(hub)+hubExtra, 0o644); err != nil {
		return nil, err
	}
	// the leaf: the hub's broker.conf for another identity, port and store
	leaf := strings.NewReplacer("identity = "+brokerName(0), "identity = "+leafName,
		"broker.bench.pem", leafName+".pem", "broker.bench.key", leafName+".key",
		filepath.Join(e.dir, "jetstream"), filepath.Join(l.dir, "jetstream")).Replace(string(hub))
	leaf = clientPort(leaf, ports[2]) + links + "plugin.tutti.broker.jetstream_domain = leaf\n" +
		fmt.Sprintf("plugin.choria.network.leafnode_remotes = hub\nplugin.choria.network.leafnode_remote.hub.url = 127.0.0.1:%d\n", ports[0])
	if err := os.RemoveAll(filepath.Join(l.dir, "jetstream")); err != nil {
		return nil, err
	}
	if err := writeFile(l.conf, leaf, 0o644); err != nil {
		return nil, err
	}
	srv, err := os.ReadFile(e.serverConfs[0])
	if err != nil {
		return nil, err
	}
	return l, writeFile(e.serverConfs[0], hostsTo(string(srv), ports[2]), 0o644)
}

// clientPort sets plugin.choria.network.client_port in a config text.
func clientPort(conf string, port int) string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		if strings.HasPrefix(line, "plugin.choria.network.client_port") {
			line = fmt.Sprintf("plugin.choria.network.client_port = %d", port)
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// hostsTo points a config text's plugin.choria.middleware_hosts at port.
func hostsTo(conf string, port int) string {
	var out []string
	for _, line := range strings.Split(conf, "\n") {
		if strings.HasPrefix(line, "plugin.choria.middleware_hosts") {
			line = fmt.Sprintf("plugin.choria.middleware_hosts = nats://127.0.0.1:%d", port)
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// startLeaf starts the leaf broker and waits until the hub reports its
// leafnode link. With profile it writes CPU profiles there as the
// other brokers do.
func startLeaf(ctx context.Context, l *leafEnv, profile string) (*worker, error) {
	args := []string{"--config", l.conf}
	if profile != "" {
		args = append(args, "--"+ProfileFlag, filepath.Join(profile, "broker-leaf"))
	}
	w, err := startWorker(ctx, l.dir, "broker", "broker", args...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := leafnodes(ctx, l.monitorURL)
		if err == nil && n == 1 {
			return w, nil
		}
		if time.Now().After(deadline) {
			w.stop()
			return nil, fmt.Errorf("the leaf broker did not link to the hub in 30s (leafnodes %d, %v); leaf log %s: %s",
				n, err, w.logPath, tail(w.logPath))
		}
		select {
		case <-ctx.Done():
			w.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// leafnodes reads the hub's leafnode count from its /varz.
func leafnodes(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v struct {
		Leafnodes int `json:"leafnodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("%s: %w", url, err)
	}
	return v.Leafnodes, nil
}
