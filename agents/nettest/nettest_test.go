package nettest

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/connector/protocol"
)

func build(t *testing.T, method string) agents.Agent {
	t.Helper()
	a, err := NewWith(method)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = agents.WithDDL(a, DDL); err != nil {
		t.Fatal(err)
	}
	return a
}

func call(a agents.Agent, action, data string) (agents.Reply, map[string]any) {
	rep := a.Run(context.Background(), action, &agents.Request{Agent: "nettest", Action: action, Data: json.RawMessage(data)})
	b, _ := json.Marshal(rep.Data)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return rep, m
}

func TestPingLoopback(t *testing.T) {
	for _, method := range []string{MethodAuto, MethodTCP} {
		rep, d := call(build(t, method), "ping", `{"fqdn":"127.0.0.1"}`)
		if rep.StatusCode != protocol.OK || d["rtt"].(float64) < 0 || d["address"] != "127.0.0.1" {
			t.Fatalf("%s: %+v %v", method, rep, d)
		}
		if method == MethodTCP && d["method"] != MethodTCP || method == MethodAuto && d["method"] != MethodICMP && d["method"] != MethodTCP {
			t.Fatalf("%s: method %v", method, d["method"])
		}
		t.Logf("ping 127.0.0.1 (%s): %v ms by %v", method, d["rtt"], d["method"])
	}
	if rep, d := call(build(t, MethodAuto), "ping", `{"fqdn":"localhost"}`); rep.StatusCode != protocol.OK || d["rtt"].(float64) < 0 {
		t.Fatalf("ping localhost: %+v", rep)
	}
}

func TestConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	defer ln.Close()
	a := build(t, "")
	for _, c := range []struct {
		data, status string
		connected    bool
	}{
		{`{"fqdn":"127.0.0.1","port":` + itoa(port) + `}`, statusConnected, true},
		{`{"fqdn":"localhost","port":` + itoa(port) + `}`, statusConnected, true},
		{`{"fqdn":"127.0.0.1","port":` + itoa(closedPort) + `}`, statusRefused, false},
		{`{"fqdn":"no-such-host.invalid","port":80}`, "resolve failed", false},
	} {
		rep, d := call(a, "connect", c.data)
		if rep.StatusCode != protocol.OK || d["connect"] != c.connected || !strings.HasPrefix(d["connect_status"].(string), c.status) {
			t.Errorf("connect %s: %+v %v", c.data, rep, d)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestTimeoutBounds(t *testing.T) {
	a := build(t, "")
	// 192.0.2.1 (TEST-NET-1) never answers: the timeout bounds the wait
	rep, d := call(a, "connect", `{"fqdn":"192.0.2.1","port":9,"timeout":0.3}`)
	if rep.StatusCode != protocol.OK || d["connect"] != false || d["connect_time"].(float64) > 2000 {
		t.Fatalf("unanswered connect: %+v %v", rep, d)
	}
	for _, bad := range []string{`{"fqdn":"127.0.0.1","timeout":0}`, `{"fqdn":"127.0.0.1","timeout":600}`} {
		if rep, _ := call(a, "ping", bad); rep.StatusCode != protocol.InvalidData || !strings.Contains(rep.StatusMsg, "timeout") {
			t.Errorf("ping %s: %+v", bad, rep)
		}
	}
}

func TestInputsRefused(t *testing.T) {
	a := build(t, "")
	inner, _ := NewWith("")
	for _, c := range []struct{ action, data, want string }{
		{"ping", `{"fqdn":"-oProxyCommand=id"}`, "fqdn"},
		{"ping", `{"fqdn":"a b"}`, "fqdn"},
		{"ping", `{"fqdn":"$(id)"}`, "fqdn"},
		{"ping", `{"fqdn":"host;reboot"}`, "fqdn"},
		{"ping", `{"fqdn":"` + strings.Repeat("a", 254) + `"}`, "fqdn"},
		{"connect", `{"fqdn":"127.0.0.1","port":0}`, "port"},
		{"connect", `{"fqdn":"127.0.0.1","port":65536}`, "port"},
		{"connect", `{"fqdn":"127.0.0.1","port":1.5}`, "port"},
	} {
		for _, ag := range []agents.Agent{a, inner} {
			rep, _ := call(ag, c.action, c.data)
			if rep.StatusCode != protocol.InvalidData || !strings.Contains(rep.StatusMsg, c.want) {
				t.Errorf("%s %s: %+v", c.action, c.data, rep)
			}
		}
	}
	if rep, _ := call(a, "connect", `{"fqdn":"127.0.0.1"}`); rep.StatusCode != protocol.MissingData {
		t.Errorf("connect without port: %+v", rep)
	}
	if _, err := NewWith("carrier-pigeon"); err == nil || !strings.Contains(err.Error(), MethodKey) {
		t.Errorf("bad method: %v", err)
	}
}

func FuzzValidHost(f *testing.F) {
	for _, s := range []string{"example.com", "-x", "::1", "127.0.0.1", "a_b.c", "a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidHost(s)
		_, dErr := DDL.Validate("ping", json.RawMessage(`{"fqdn":`+quote(s)+`}`))
		if err == nil {
			if strings.HasPrefix(s, "-") || strings.ContainsAny(s, "/ \t\n;|&$`\\'\"") {
				t.Fatalf("ValidHost accepted %q", s)
			}
			if dErr != nil {
				t.Fatalf("ValidHost accepts %q but the DDL refuses it: %v", s, dErr)
			}
		}
	})
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }
