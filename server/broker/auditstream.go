package broker

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/sirupsen/logrus"
)

// Audit stream defaults (plugin.tutti.broker.audit_stream.*).
const (
	DefaultAuditStreamName = "TUTTI_AUDIT"
	// DefaultAuditStreamDuplicates is the de-duplication window: a record
	// sent again within it (a spool's retry) is stored once.
	DefaultAuditStreamDuplicates = 20 * time.Minute
	auditStreamRetry             = 2 * time.Second
)

// DefaultAuditStreamSubjects are the nodes' records and the signer's.
var DefaultAuditStreamSubjects = []string{"tutti.audit.>", "tutti.aaa.audit.>"}

// AuditStream is the JetStream stream holding the audit records, which
// the broker creates (or updates to this configuration) when JetStream
// is on, so no certificate holder has to. Records are never deleted one
// by one (DenyDelete) and a full stream refuses new records
// (DiscardNew): they wait in the writers' spools, which fail closed when
// they fill. Only the admin role may purge or delete the stream.
type AuditStream struct {
	// Off leaves the stream alone (plugin.tutti.broker.audit_stream = false).
	Off bool
	// Name defaults to DefaultAuditStreamName.
	Name string
	// Subjects default to DefaultAuditStreamSubjects.
	Subjects []string
	// MaxAge drops records older than this; 0 keeps them.
	MaxAge time.Duration
	// MaxBytes bounds the stream; 0 is no bound.
	MaxBytes int64
	// Replicas in a cluster; default 1.
	Replicas int
	// Duplicates is the de-duplication window; default
	// DefaultAuditStreamDuplicates.
	Duplicates time.Duration
	// Sources are the JetStream domains (Config.JetStreamDomain) of other
	// data centres whose audit stream, of the same name, this one sources
	// across their leafnode links: the central stream. JetStream tracks
	// how far it has copied each, so after a partition it resumes where
	// it stopped and every record arrives once.
	Sources []string
}

// streamConfig is s as JetStream's configuration.
func (s AuditStream) streamConfig() jetstream.StreamConfig {
	c := jetstream.StreamConfig{
		Name: s.Name, Subjects: s.Subjects, Retention: jetstream.LimitsPolicy, Discard: jetstream.DiscardNew,
		MaxAge: s.MaxAge, MaxBytes: s.MaxBytes, Replicas: s.Replicas, Duplicates: s.Duplicates,
		Storage: jetstream.FileStorage, DenyDelete: true, Description: "tutti audit records (owned by tuttid broker)",
	}
	if c.Name == "" {
		c.Name = DefaultAuditStreamName
	}
	if len(c.Subjects) == 0 {
		c.Subjects = DefaultAuditStreamSubjects
	}
	if c.MaxBytes <= 0 {
		c.MaxBytes = -1
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Duplicates <= 0 {
		c.Duplicates = DefaultAuditStreamDuplicates
	}
	for _, d := range s.Sources {
		c.Sources = append(c.Sources, &jetstream.StreamSource{
			Name: c.Name, External: &jetstream.ExternalStream{APIPrefix: "$JS." + d + ".API"},
		})
	}
	return c
}

// internalUser is the name of the broker's own in-process connection.
const internalUser = "tutti-broker-internal"

// newInternalToken is the secret the broker's own in-process connection
// presents; it lives only in this process's memory.
func newInternalToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("internal token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// isInternal tells the broker's own in-process connection: it comes
// through an in-memory pipe (no network client can) and presents the
// token.
func isInternal(c server.ClientAuthentication, token string) bool {
	a := c.RemoteAddress()
	o := c.GetOpts()
	return a != nil && a.Network() == "pipe" && o != nil && token != "" &&
		subtle.ConstantTimeCompare([]byte(o.Token), []byte(token)) == 1
}

// manageAuditStream creates or updates the audit stream over an
// in-process connection, retrying until it succeeds (a cluster needs a
// JetStream leader first) or the broker shuts down. ready is closed on
// success.
func (b *Broker) manageAuditStream() {
	cfg := b.cfg.AuditStream.streamConfig()
	l := b.cfg.Log.WithField("stream", cfg.Name)
	started := time.Now()
	for warned := false; ; {
		err := b.putAuditStream(cfg)
		if err == nil {
			l.WithField("subjects", cfg.Subjects).Info("audit stream ready")
			close(b.auditReady)
			return
		}
		retry, warn := jsRetry(err, started)
		if !warned && warn {
			l.WithError(err).Warn("audit stream not created yet; retrying")
			warned = true
		}
		select {
		case <-b.quit:
			return
		case <-time.After(retry):
		}
	}
}

func (b *Broker) putAuditStream(cfg jetstream.StreamConfig) error {
	b.jsSetup.Lock()
	defer b.jsSetup.Unlock()
	nc, err := nats.Connect("", nats.InProcessServer(b.srv), nats.Token(b.internal), nats.Name(internalUser),
		nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("in-process connection: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	write, err := b.jsTurn(ctx, js, func(si *jetstream.StreamInfo) bool { return sameStream(si.Config, cfg) }, cfg.Name)
	if err != nil || !write {
		return err
	}
	if s, err := js.Stream(ctx, cfg.Name); err == nil {
		if diff := streamDiff(s.CachedInfo().Config, cfg); len(diff) > 0 {
			// a changed configuration, or brokers of one cluster that
			// disagree (each would rewrite the stream at its start)
			b.cfg.Log.WithFields(logrus.Fields{"stream": cfg.Name, "changes": strings.Join(diff, "; ")}).
				Warn("audit stream settings differ from this broker's plugin.tutti.broker.audit_stream.*: updating the stream " +
					"(in a cluster every broker must have the same settings)")
		}
	}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("create or update stream %s: %w", cfg.Name, err)
	}
	return nil
}

// AuditStreamReady is closed once the audit stream exists with the
// configured settings; never when JetStream or the stream is off.
func (b *Broker) AuditStreamReady() <-chan struct{} { return b.auditReady }

// streamDiff names the settings of cfg that the stream (have) does not
// have, as "setting have → cfg".
func streamDiff(have, cfg jetstream.StreamConfig) []string {
	var d []string
	add := func(name string, h, c any) {
		if fmt.Sprint(h) != fmt.Sprint(c) {
			d = append(d, fmt.Sprintf("%s %v → %v", name, h, c))
		}
	}
	add("subjects", have.Subjects, cfg.Subjects)
	add("max_age", have.MaxAge, cfg.MaxAge)
	add("max_bytes", have.MaxBytes, cfg.MaxBytes)
	add("replicas", have.Replicas, cfg.Replicas)
	add("duplicates", have.Duplicates, cfg.Duplicates)
	add("discard", have.Discard, cfg.Discard)
	add("deny_delete", have.DenyDelete, cfg.DenyDelete)
	add("storage", have.Storage, cfg.Storage)
	var hs, cs []string
	for _, s := range have.Sources {
		hs = append(hs, s.Name)
	}
	for _, s := range cfg.Sources {
		cs = append(cs, s.Name)
	}
	add("sources", hs, cs)
	return d
}

// sameStream reports whether the stream has the settings the broker
// sets (cfg); what JetStream fills in itself is not compared.
func sameStream(have, cfg jetstream.StreamConfig) bool {
	if len(have.Sources) != len(cfg.Sources) {
		return false
	}
	for i, src := range cfg.Sources {
		h := have.Sources[i]
		if h.Name != src.Name || h.External == nil || h.External.APIPrefix != src.External.APIPrefix {
			return false
		}
	}
	return slices.Equal(have.Subjects, cfg.Subjects) && have.MaxAge == cfg.MaxAge && have.MaxBytes == cfg.MaxBytes &&
		have.Replicas == cfg.Replicas && have.Duplicates == cfg.Duplicates && have.Discard == cfg.Discard &&
		have.DenyDelete == cfg.DenyDelete && have.Storage == cfg.Storage && have.Description == cfg.Description
}
