package broker

import (
	"regexp"
	"strconv"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/security/x509"
)

// authenticator is nats-server's CustomClientAuthentication: it runs once
// per client connection, after the TLS handshake has verified the
// certificate, and registers the connection's permissions. nats-server
// compiles them for the connection and checks every SUB and PUB against
// them itself; nothing here runs per message.
type authenticator struct {
	p     *policy
	log   *logrus.Entry
	stats *Denials
	// internal is the token of the broker's own in-process connection,
	// the one connection without a certificate (see isInternal).
	internal string
	// chains records each connection's verified chain (CloseRevoked).
	chains *connChains
}

// Check implements server.Authentication. A false return is logged with
// the certificate and the reason; nats-server then answers
// "Authorization Violation" and closes the connection.
func (a *authenticator) Check(c server.ClientAuthentication) bool {
	l := a.log.WithField("remote", addrString(c))
	if isInternal(c, a.internal) {
		c.RegisterUser(&server.User{Username: internalUser}) // nil Permissions: everything
		return true
	}
	cs := c.GetTLSConnectionState()
	if cs == nil || len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		l.WithField("reason", "no verified client certificate").Warn("broker connection refused")
		a.stats.refused("no_certificate")
		return false
	}
	name := x509.CertName(cs.VerifiedChains[0][0])
	if c.Kind() == server.LEAF {
		return a.checkLeaf(c, name, l)
	}
	var token string
	if o := c.GetOpts(); o != nil {
		token = o.Token
	}
	g, err := a.p.authorize(name, token, l)
	if err != nil {
		l.WithError(err).WithField("certificate", name).Warn("broker connection refused")
		a.stats.refused(refusalReason(token))
		return false
	}
	c.RegisterUser(&server.User{Username: name, Permissions: g.perms, ConnectionDeadline: g.deadline})
	if a.chains != nil {
		a.chains.add(cs.VerifiedChains[0])
	}
	l.WithFields(logrus.Fields{"certificate": name, "role": g.role}).Debug("broker connection authorized")
	return true
}

// checkLeaf authorizes a leafnode connection: only a link certificate,
// with the leafnode role's permissions (leafPerms).
func (a *authenticator) checkLeaf(c server.ClientAuthentication, name string, l *logrus.Entry) bool {
	if !validName(name) || !matches(a.p.links, name) {
		l.WithFields(logrus.Fields{"certificate": name, "reason": "not a link certificate (plugin.tutti.broker.link_certificates)"}).
			Warn("leafnode connection refused")
		a.stats.refused("leafnode")
		return false
	}
	c.RegisterUser(&server.User{Username: name, Permissions: leafPerms(a.p.linkAudit)})
	l.WithFields(logrus.Fields{"certificate": name, "role": RoleLeafnode}).Info("leafnode link authorized")
	return true
}

func refusalReason(token string) string {
	if token != "" {
		return "role_or_token"
	}
	return "role"
}

func addrString(c server.ClientAuthentication) string {
	if a := c.RemoteAddress(); a != nil {
		return a.String()
	}
	return ""
}

// Denials counts what the broker refused, for metrics.
type Denials struct {
	mu      sync.Mutex
	denied  map[DenialKey]uint64
	refuses map[string]uint64
}

// DenialKey labels a refused publish or subscribe.
type DenialKey struct {
	Operation string // "publish" or "subscribe"
	Role      Role
}

func newDenials() *Denials {
	return &Denials{denied: map[DenialKey]uint64{}, refuses: map[string]uint64{}}
}

func (d *Denials) deny(k DenialKey) {
	d.mu.Lock()
	d.denied[k]++
	d.mu.Unlock()
}

func (d *Denials) refused(reason string) {
	d.mu.Lock()
	d.refuses[reason]++
	d.mu.Unlock()
}

// Denied returns the refused publishes and subscribes so far.
func (d *Denials) Denied() map[DenialKey]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[DenialKey]uint64, len(d.denied))
	for k, v := range d.denied {
		out[k] = v
	}
	return out
}

// Refused returns the refused connections so far, by reason ("role":
// no role for the certificate; "role_or_token": refused with a login
// token presented; "no_certificate").
func (d *Denials) Refused() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]uint64, len(d.refuses))
	for k, v := range d.refuses {
		out[k] = v
	}
	return out
}

// violationRe matches nats-server's permission violation log lines, as
// its client logger formats them: `<addr> - cid:<n> - "<client>" -
// "$G/user:<certificate>" - Subscription Violation - Subject "<s>"…` or
// `… - Publish Violation - Subject "<s>"` (or `Reply "<s>"`).
var violationRe = regexp.MustCompile(`"[^"]*/user:((?:[^"\\]|\\.)*)" - (Publish|Subscription) Violation - (?:Subject|Reply) ("(?:[^"\\]|\\.)*")`)

// violation is one parsed permission violation.
type violation struct {
	certificate, operation, subject string
}

// parseViolation recognises a violation log line.
func parseViolation(line string) (violation, bool) {
	m := violationRe.FindStringSubmatch(line)
	if m == nil {
		return violation{}, false
	}
	v := violation{certificate: m[1], operation: "publish", subject: m[3]}
	if m[2] == "Subscription" {
		v.operation = "subscribe"
	}
	if s, err := strconv.Unquote(m[3]); err == nil {
		v.subject = s
	}
	if s, err := strconv.Unquote(`"` + m[1] + `"`); err == nil {
		v.certificate = s
	}
	return v, true
}
