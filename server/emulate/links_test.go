package emulate

import (
	"context"
	stdx509 "crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/client"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/protocol"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/broker/brokertest"
)

// TestE2EPartitionNamesUnreachableNodes: two data centres joined by a
// leafnode link, an emulated fleet behind each, a client in each. While
// the link is cut, each client's directed request is answered by its own
// data centre's nodes and names the other's as missing; after it heals,
// every node answers both again.
func TestE2EPartitionNamesUnreachableNodes(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	ca, err := x509.InitDir(pkiDir, x509.KeyECDSA)
	if err != nil {
		t.Fatal(err)
	}
	pool := stdx509.NewCertPool()
	pool.AddCert(ca.Cert)
	bp := &brokertest.PKI{CA: ca, Pool: pool}
	links := []string{`^broker\.dc[ab]$`}

	px := brokertest.NewProxy(t)
	hcfg := brokertest.Config(t, bp, "broker.dca")
	hcfg.LeafPort, hcfg.LeafAdvertise, hcfg.LinkCertificates = -1, px.Addr(), links
	hub := brokertest.Start(t, hcfg)
	px.SetTarget(hub.LeafURL()[len("nats://"):])
	lcfg := brokertest.Config(t, bp, "broker.dcb")
	lcfg.LinkCertificates = links
	lcfg.LeafRemotes = []broker.LeafRemote{{Name: "dca", URLs: []string{px.URL()}}}
	leaf := brokertest.Start(t, lcfg)
	linked := func(want int) {
		t.Helper()
		brokertest.Eventually(t, 20*time.Second, func() error {
			if h, l := hub.NumLeafNodes(), leaf.NumLeafNodes(); h != want || l != want {
				return fmt.Errorf("leafnode links: hub %d, leaf %d, want %d", h, l, want)
			}
			return nil
		})
	}
	linked(1)

	startFleet(t, dir, pkiDir, "dca", hub.ClientURL())
	startFleet(t, dir, pkiDir, "dcb", leaf.ClientURL())
	ca2 := newTestClient(t, ca, hub.ClientURL(), "admin.mcollective")
	cb := newTestClient(t, ca, leaf.ClientURL(), "admin.mcollective")
	dca, dcb := names("dca", 1, 2, 3), names("dcb", 1, 2, 3)
	all := append(slices.Clone(dca), dcb...)

	for _, cl := range []*client.Client{ca2, cb} {
		brokertest.Eventually(t, 20*time.Second, func() error {
			if ok, missing := directedPing(t, cl, all, 2*time.Second); len(missing) != 0 {
				return fmt.Errorf("answered %v, missing %v", ok, missing)
			}
			return nil
		})
	}

	px.Cut()
	linked(0)
	for _, tc := range []struct {
		cl            *client.Client
		local, remote []string
	}{{ca2, dca, dcb}, {cb, dcb, dca}} {
		ok, missing := directedPing(t, tc.cl, all, 2*time.Second)
		if !slices.Equal(ok, tc.local) || !slices.Equal(missing, tc.remote) {
			t.Errorf("during the partition: answered %v, missing %v; want %v answering and %v missing", ok, missing, tc.local, tc.remote)
		}
	}

	px.Heal()
	linked(1)
	for _, cl := range []*client.Client{ca2, cb} {
		brokertest.Eventually(t, 20*time.Second, func() error {
			if ok, missing := directedPing(t, cl, all, 2*time.Second); len(missing) != 0 {
				return fmt.Errorf("after the partition: answered %v, missing %v", ok, missing)
			}
			return nil
		})
	}
}

// startFleet starts 3 emulated nodes <prefix>-0000n on the broker at url.
func startFleet(t *testing.T, dir, pkiDir, prefix, url string) {
	t.Helper()
	policies := filepath.Join(dir, "policies")
	if err := os.MkdirAll(policies, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policies, "rpcutil.policy"),
		[]byte("policy default deny\nallow\tchoria=admin.mcollective\t*\t*\t*\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, prefix+".conf")
	body := "identity = ignored\ncollectives = mcollective\nlogfile = discard\n" +
		"plugin.security.provider = file\nplugin.security.file.ca = " + filepath.Join(pkiDir, "ca.pem") + "\n" +
		"plugin.choria.middleware_hosts = " + url + "\n" +
		"rpcauthorization = 1\nrpcauthprovider = action_policy\nplugin.tutti.policy_dir = " + policies + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, file, err := config.LoadServer(conf)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{dir: dir, pki: pkiDir, conf: cfg, file: file}
	e.start(t, Options{Count: 3, Prefix: prefix, Audit: AuditDiscard})
}

// directedPing sends rpcutil ping to targets and returns, sorted, who
// answered OK and whom the client names as missing.
func directedPing(t *testing.T, cl *client.Client, targets []string, wait time.Duration) (ok, missing []string) {
	t.Helper()
	sum, err := cl.Do(context.Background(), client.Request{Agent: "rpcutil", Action: "ping",
		Filter: protocol.NewFilter("rpcutil"), Targets: targets, Timeout: wait}, func(r client.Result) {
		if r.State == client.Verified && r.RPC != nil && r.RPC.StatusCode == protocol.OK {
			ok = append(ok, r.Sender)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ok)
	return ok, sum.Missing
}
