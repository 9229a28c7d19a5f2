package broker

import (
	"crypto/md5" //nolint:gosec // reply subjects are a namespace (Choria's), not security
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/sirupsen/logrus"

	"github.com/tuttifleet/tutti/security/x509"
)

// Role is what a connection may do on the broker, assigned from its
// verified certificate's name (x509.CertName: the subject CN, never
// another SAN).
type Role string

// The roles, from the most to the least powerful. docs/security.md
// ("Broker permissions") has the table of subjects each may use.
const (
	// RoleAdmin may do everything, JetStream and $SYS included.
	RoleAdmin Role = "admin"
	// RolePrivileged is a client that may also read every caller's
	// replies (it signs for them) and publish audit records.
	RolePrivileged Role = "privileged"
	// RoleClient publishes requests and reads its own replies.
	RoleClient Role = "client"
	// RoleNode reads requests for it and publishes replies and
	// registration.
	RoleNode Role = "node"
	// RoleAuditReader may only read the audit stream (tutti audit show
	// and tail). A client or privileged certificate that also matches
	// the audit reader patterns keeps its role and gains the same
	// permissions.
	RoleAuditReader Role = "audit reader"
)

// DefaultAuditStream is the audit stream's name when
// Authorization.AuditStream is empty (plugin.tutti.audit.stream_name).
const DefaultAuditStream = "TUTTI_AUDIT"

// Choria's defaults for the role patterns (plugin.choria.security.*).
var (
	DefaultPrivileged    = []string{`\.privileged.mcollective$`, `\.privileged.choria$`}
	DefaultClients       = []string{`\.mcollective$`, `\.choria$`}
	DefaultAuditSubjects = []string{"tutti.aaa.audit.>"}
)

// NodeAuditPrefix + a node's certificate name is the one subject a node
// may publish its audit records to (plugin.tutti.audit.stream).
const NodeAuditPrefix = "tutti.audit.node."

// ErrRefused is wrapped by every refused connection's reason.
var ErrRefused = errors.New("connection refused")

// TokenVerifier checks a login token (tutti-aaa's JWT) a client presents
// in its CONNECT (nats.go Token) and returns the caller id it carries and
// when it expires.
type TokenVerifier interface {
	VerifyToken(token string) (callerID string, expires time.Time, err error)
}

// Authorization configures what each verified certificate may do. The
// zero value is secure: Choria's role patterns, every other certificate
// a node, no admin, login tokens ignored.
type Authorization struct {
	// Privileged are regexes of privileged certificate names
	// (plugin.choria.security.privileged_users); nil means
	// DefaultPrivileged.
	Privileged []string
	// Clients are regexes of client certificate names
	// (plugin.choria.security.certname_whitelist); nil means
	// DefaultClients.
	Clients []string
	// CollectiveClients limits publishing requests into a collective to
	// the client and privileged certificates matching its regexes
	// (plugin.tutti.broker.collective.<collective>.clients). A collective
	// not listed is open to every client.
	CollectiveClients map[string][]string
	// Nodes, when set, are the regexes a node certificate must match; a
	// certificate matching no role is then refused
	// (plugin.tutti.broker.node_certificates). Empty: every other
	// certificate is a node.
	Nodes []string
	// SharedNodes are node certificates that carry many nodes on one
	// connection (tuttid emulate --shared-conn) and may subscribe to
	// every node's directed subject
	// (plugin.tutti.broker.shared_node_certificates).
	SharedNodes []string
	// Admins are regexes of admin certificates
	// (plugin.tutti.broker.admin_certificates); default none.
	Admins []string
	// AuditSubjects privileged certificates may publish to
	// (plugin.tutti.broker.audit_subjects); nil means
	// DefaultAuditSubjects.
	AuditSubjects []string
	// AuditReaders are regexes of certificates that may read the audit
	// stream (plugin.tutti.broker.audit_readers); default none.
	AuditReaders []string
	// AuditStream is the stream audit readers may read; empty means
	// DefaultAuditStream.
	AuditStream string
	// Tokens verifies login tokens (plugin.choria.network.
	// client_signer_cert); nil ignores them.
	Tokens TokenVerifier
}

// policy is a compiled Authorization.
type policy struct {
	privileged, clients, nodes, shared, admins []*regexp.Regexp
	readers                                    []*regexp.Regexp
	collectives                                []collectiveRule
	audit                                      []string
	stream                                     string
	tokens                                     TokenVerifier
	// links may open leafnode connections (Config.LinkCertificates);
	// linkAudit never cross them.
	links     []*regexp.Regexp
	linkAudit []string
}

type collectiveRule struct {
	name    string
	clients []*regexp.Regexp
}

// compile checks a and applies its defaults.
func (a Authorization) compile() (*policy, error) {
	p := &policy{tokens: a.Tokens, audit: a.AuditSubjects, stream: a.AuditStream}
	if p.audit == nil {
		p.audit = DefaultAuditSubjects
	}
	if p.stream == "" {
		p.stream = DefaultAuditStream
	}
	if !validToken(p.stream) {
		return nil, fmt.Errorf("%w: audit stream name %q is not one subject token", ErrConfig, p.stream)
	}
	for _, s := range p.audit {
		if !validSubject(s, true) {
			return nil, fmt.Errorf("%w: audit subject %q is not a NATS subject", ErrConfig, s)
		}
	}
	lists := []struct {
		what string
		in   []string
		def  []string
		out  *[]*regexp.Regexp
	}{
		{"privileged", a.Privileged, DefaultPrivileged, &p.privileged},
		{"clients", a.Clients, DefaultClients, &p.clients},
		{"node certificates", a.Nodes, nil, &p.nodes},
		{"shared node certificates", a.SharedNodes, nil, &p.shared},
		{"admin certificates", a.Admins, nil, &p.admins},
		{"audit readers", a.AuditReaders, nil, &p.readers},
	}
	var err error
	for _, l := range lists {
		in := l.in
		if in == nil {
			in = l.def
		}
		if *l.out, err = compileAll(l.what, in); err != nil {
			return nil, err
		}
	}
	for _, name := range sortedKeys(a.CollectiveClients) {
		if !validToken(name) {
			return nil, fmt.Errorf("%w: collective %q is not one subject token", ErrConfig, name)
		}
		res, err := compileAll("collective "+name+" clients", a.CollectiveClients[name])
		if err != nil {
			return nil, err
		}
		p.collectives = append(p.collectives, collectiveRule{name: name, clients: res})
	}
	return p, nil
}

func compileAll(what string, patterns []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for _, s := range patterns {
		re, err := regexp.Compile(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s pattern %q: %w", ErrConfig, what, s, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func matches(res []*regexp.Regexp, s string) bool {
	return slices.ContainsFunc(res, func(re *regexp.Regexp) bool { return re.MatchString(s) })
}

// role assigns name its role, or refuses it.
func (p *policy) role(name string) (Role, error) {
	switch {
	case matches(p.admins, name):
		return RoleAdmin, nil
	case matches(p.privileged, name):
		return RolePrivileged, nil
	case matches(p.clients, name):
		return RoleClient, nil
	case matches(p.readers, name):
		return RoleAuditReader, nil
	case len(p.nodes) == 0 || matches(p.nodes, name) || matches(p.shared, name):
		return RoleNode, nil
	}
	return "", fmt.Errorf("%w: certificate %q matches no client, privileged or admin pattern and none of node_certificates", ErrRefused, name)
}

// grant is what one connection receives.
type grant struct {
	name     string
	role     Role
	callers  []string // caller ids whose replies it may read
	perms    *server.Permissions
	deadline time.Time
}

// authorize decides a connection from its certificate name and the token
// it presented (may be empty).
func (p *policy) authorize(name, token string, log *logrus.Entry) (*grant, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: certificate name %q cannot be used in NATS subjects (empty, whitespace or wildcards)", ErrRefused, name)
	}
	role, err := p.role(name)
	if err != nil {
		return nil, err
	}
	g := &grant{name: name, role: role}
	if token != "" && role != RoleNode {
		if err := p.addToken(g, token, log); err != nil {
			return nil, err
		}
	}
	switch role {
	case RoleAdmin:
		// nil Permissions: everything, JetStream and $SYS included
	case RoleNode:
		g.perms = crlReaderPerms(name, p.nodePerms(name))
	case RoleAuditReader:
		g.perms = p.auditReaderPerms(name, &server.Permissions{
			Publish: &server.SubjectPermission{}, Subscribe: &server.SubjectPermission{}})
	default:
		g.callers = append([]string{"choria=" + name, "cert=" + name}, g.callers...)
		g.perms = crlReaderPerms(name, p.clientPerms(g))
		if role == RolePrivileged {
			g.perms = tokenBucketPerms(name, g.perms)
		}
		if matches(p.readers, name) {
			g.perms = p.auditReaderPerms(name, g.perms)
		}
	}
	return g, nil
}

// addToken verifies a login token and adds its caller id to g.
func (p *policy) addToken(g *grant, token string, log *logrus.Entry) error {
	if p.tokens == nil {
		log.WithField("certificate", g.name).Info("login token ignored: no plugin.choria.network.client_signer_cert to verify it with")
		return nil
	}
	caller, exp, err := p.tokens.VerifyToken(token)
	if err != nil {
		return fmt.Errorf("%w: login token: %w", ErrRefused, err)
	}
	g.callers = append(g.callers, caller)
	g.deadline = exp
	return nil
}

// clientPerms are a client's or privileged certificate's permissions.
func (p *policy) clientPerms(g *grant) *server.Permissions {
	pub := []string{"*.broadcast.agent.>", "*.broadcast.service.>", "*.node.>"}
	pubDeny := []string{"*.broadcast.agent.registration"}
	for _, c := range p.collectives {
		if !matches(c.clients, g.name) {
			pubDeny = append(pubDeny, c.name+".broadcast.agent.>", c.name+".broadcast.service.>", c.name+".node.>")
		}
	}
	var sub []string
	if g.role == RolePrivileged {
		// It may sign for any caller, so the broker cannot tell which
		// replies are its own.
		sub = append(sub, "*.reply.>", x509.InboxPrefix(g.name)+".>")
		pub = append(pub, p.audit...)
	} else {
		for _, c := range g.callers {
			sub = append(sub, "*.reply."+replyHash(c)+".>")
		}
	}
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub, Deny: pubDeny},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
}

// auditReaderPerms adds to perms exactly what an ordered consumer
// (nats.go jetstream.OrderedConsumer) on the audit stream needs: stream
// info, creating, reading and deleting its own consumers, pulling
// messages, getting one message, and receiving the answers under its own
// inbox prefix (x509.InboxPrefix). Nothing that updates, purges or
// deletes the stream or its messages, and no other stream.
func (p *policy) auditReaderPerms(name string, perms *server.Permissions) *server.Permissions {
	api := "$JS.API."
	s := p.stream
	perms.Publish.Allow = append(perms.Publish.Allow,
		api+"STREAM.INFO."+s,
		api+"CONSUMER.CREATE."+s, api+"CONSUMER.CREATE."+s+".>",
		api+"CONSUMER.INFO."+s+".*", api+"CONSUMER.DELETE."+s+".*",
		api+"CONSUMER.MSG.NEXT."+s+".*",
		api+"STREAM.MSG.GET."+s, api+"DIRECT.GET."+s, api+"DIRECT.GET."+s+".>",
	)
	inbox := x509.InboxPrefix(name) + ".>"
	if !slices.Contains(perms.Subscribe.Allow, inbox) {
		perms.Subscribe.Allow = append(perms.Subscribe.Allow, inbox)
	}
	return perms
}

// nodePerms are a node certificate's permissions.
func (p *policy) nodePerms(name string) *server.Permissions {
	sub := []string{"*.broadcast.agent.>", "*.broadcast.service.>", "*.node." + name}
	if matches(p.shared, name) {
		sub = append(sub, "*.node.>")
	}
	// its own audit records (plugin.tutti.audit.stream), with the
	// stream's acknowledgements under its private inbox prefix
	sub = append(sub, x509.InboxPrefix(name)+".>")
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: []string{"*.reply.>", "*.broadcast.agent.registration", NodeAuditPrefix + name}},
		Subscribe: &server.SubjectPermission{Allow: sub},
	}
}

// replyHash is the hex MD5 of a caller id, the token of its reply
// subjects (<collective>.reply.<hash>.<request id>).
func replyHash(callerID string) string {
	sum := md5.Sum([]byte(callerID)) //nolint:gosec // namespace only
	return hex.EncodeToString(sum[:])
}

// validName accepts a certificate name that is one or more literal
// subject tokens.
func validName(s string) bool { return validSubject(s, false) }

// validSubject accepts a NATS subject; wildcards only if wild.
func validSubject(s string, wild bool) bool {
	if s == "" {
		return false
	}
	for _, tok := range strings.Split(s, ".") {
		if !validToken(tok) && !(wild && (tok == "*" || tok == ">")) {
			return false
		}
	}
	return true
}

func validToken(tok string) bool {
	if tok == "" || tok == "*" || tok == ">" {
		return false
	}
	return !strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '*' || r == '>' || r == '.' })
}
