// Package nettest is the nettest agent: ping a host and check that a TCP
// connection to host:port can be made, from every matching node, with
// Choria's nettest agent's action, input and output names.
//
// ping sends one ICMP echo request and waits for its reply. It uses a raw
// ICMP socket when the daemon may open one (root or CAP_NET_RAW), else an
// unprivileged ICMP datagram socket (Linux net.ipv4.ping_group_range),
// else it falls back to timing a TCP handshake to FallbackPort: a refused
// connection (RST) counts as a reply, since the host answered. The reply's
// "method" output says which was used: icmp or tcp.
// plugin.tutti.nettest.ping_method (auto, icmp or tcp) pins one.
//
// Host names are checked by the DDL on client and node and again by the
// agent (ValidHost): a host name or an IP literal, never starting with
// '-'. Every network operation is bounded by the request's timeout input
// (default 5 s, at most MaxTimeout) and by the agent's timeout.
package nettest

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
)

//go:embed nettest.json
var ddlJSON []byte

// DDL describes the nettest agent.
var DDL = ddl.MustParse(ddlJSON)

// MethodKey pins ping's method: auto (the default), icmp or tcp.
const MethodKey = "plugin.tutti.nettest.ping_method"

// FallbackPort is the TCP port ping's TCP fallback connects to.
const FallbackPort = 80

// Timeouts of the requests' timeout input.
const (
	DefaultTimeout = 5 * time.Second
	MinTimeout     = 100 * time.Millisecond
	MaxTimeout     = 20 * time.Second
)

// Ping methods.
const (
	MethodAuto = "auto"
	MethodICMP = "icmp"
	MethodTCP  = "tcp"
)

func init() {
	agents.RegisterDDL(DDL)
	agents.Register("nettest", New)
}

// New builds the nettest agent for node n.
func New(n agents.Node) (agents.Agent, error) {
	method, _ := n.ConfigItem(MethodKey)
	return NewWith(method)
}

// NewWith builds the nettest agent with ping method method ("" is auto).
func NewWith(method string) (agents.Agent, error) {
	switch method {
	case "":
		method = MethodAuto
	case MethodAuto, MethodICMP, MethodTCP:
	default:
		return nil, fmt.Errorf("%s = %q: must be auto, icmp or tcp", MethodKey, method)
	}
	t := &tester{method: method, tcpPort: FallbackPort}
	return agents.NewFromDDL(DDL).Action("ping", t.ping).Action("connect", t.connect), nil
}

type tester struct {
	method  string
	tcpPort int
}

var hostRe = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*\.?$`)

// ValidHost checks a host input: a host name (labels of letters, digits,
// '_' and '-', not starting with '-') or an IP address.
func ValidHost(h string) error {
	switch {
	case h == "":
		return errors.New("the host is empty")
	case len(h) > 253:
		return fmt.Errorf("the host is %d characters long, more than 253", len(h))
	case net.ParseIP(h) != nil:
		return nil
	case !hostRe.MatchString(h):
		return fmt.Errorf("%q is neither a host name nor an IP address", clip(h))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

type input struct {
	FQDN    string   `json:"fqdn"`
	Port    *float64 `json:"port"`
	Timeout *float64 `json:"timeout"`
}

// parse reads and checks the inputs; port is checked when wantPort.
func parse(req *agents.Request, wantPort bool) (input, time.Duration, error) {
	var in input
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return in, 0, agents.InvalidData("Could not process request: %v", err)
	}
	if err := ValidHost(in.FQDN); err != nil {
		return in, 0, agents.InvalidData("Validation failed: fqdn: %v", err)
	}
	if wantPort {
		if in.Port == nil {
			return in, 0, agents.MissingData("Action %s needs a port argument", req.Action)
		}
		if p := *in.Port; p != math.Trunc(p) || p < 1 || p > 65535 {
			return in, 0, agents.InvalidData("Validation failed: port: %v is not a TCP port (1-65535)", p)
		}
	}
	timeout := DefaultTimeout
	if in.Timeout != nil {
		s := *in.Timeout
		if math.IsNaN(s) || s < MinTimeout.Seconds() || s > MaxTimeout.Seconds() {
			return in, 0, agents.InvalidData("Validation failed: timeout: %v seconds is outside %s to %s", s, MinTimeout, MaxTimeout)
		}
		timeout = time.Duration(s * float64(time.Second))
	}
	return in, timeout, nil
}

// resolve returns the host's first address, IPv4 first.
func resolve(ctx context.Context, host string) (net.IP, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP, nil
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("no address for %s", host)
	}
	return addrs[0].IP, nil
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }

func (t *tester) ping(ctx context.Context, req *agents.Request) (any, error) {
	in, timeout, err := parse(req, false)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ip, err := resolve(ctx, in.FQDN)
	if err != nil {
		return nil, agents.Abort("Could not resolve %s: %v", in.FQDN, err)
	}
	out := map[string]any{"address": ip.String(), "rtt": -1.0}
	var rtt time.Duration
	method := t.method
	if method != MethodTCP {
		rtt, err = pingICMP(ctx, ip)
		switch {
		case err == nil:
			method = MethodICMP
		case errors.Is(err, errNoICMP) && method == MethodAuto:
			method = MethodTCP
		default:
			out["method"] = MethodICMP
			return out, agents.Abort("No ICMP echo reply from %s (%s): %v", in.FQDN, ip, err)
		}
	}
	out["method"] = method
	if method == MethodTCP {
		var status string
		rtt, status = dialTCP(ctx, ip, t.tcpPort)
		if status != statusConnected && status != statusRefused {
			return out, agents.Abort("No TCP reply from %s (%s) port %d: %s", in.FQDN, ip, t.tcpPort, status)
		}
	}
	out["rtt"] = ms(rtt)
	return out, nil
}

// Connection statuses.
const (
	statusConnected   = "connected"
	statusRefused     = "refused"
	statusTimeout     = "timeout"
	statusUnreachable = "unreachable"
)

// dialTCP connects to ip:port and says how it went.
func dialTCP(ctx context.Context, ip net.IP, port int) (time.Duration, string) {
	var d net.Dialer
	start := time.Now()
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
	took := time.Since(start)
	if err == nil {
		c.Close()
		return took, statusConnected
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return took, statusRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), isTimeout(err):
		return took, statusTimeout
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return took, statusUnreachable
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return took, msg
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (t *tester) connect(ctx context.Context, req *agents.Request) (any, error) {
	in, timeout, err := parse(req, true)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := map[string]any{"connect": false, "connect_time": 0.0, "address": ""}
	ip, err := resolve(ctx, in.FQDN)
	if err != nil {
		out["connect_status"] = "resolve failed: " + clip(err.Error())
		return out, nil
	}
	took, status := dialTCP(ctx, ip, int(*in.Port))
	out["address"] = net.JoinHostPort(ip.String(), strconv.Itoa(int(*in.Port)))
	out["connect"] = status == statusConnected
	out["connect_status"] = status
	out["connect_time"] = ms(took)
	return out, nil
}
