package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/connector/dial"
	"github.com/tuttifleet/tutti/security/x509"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read the audit trail: one request traced across the signer and every node, or the trail live",
		Long: "audit reads the records tutti-aaa and the nodes write, from the audit stream\n" +
			"(plugin.tutti.audit.stream_name, read with a certificate the broker lists in\n" +
			"plugin.tutti.broker.audit_readers) or from audit files (--file).",
	}
	cmd.AddCommand(
		newAuditShowCmd(g), newAuditTailCmd(g), newAuditVerifyCmd(g),
	)
	return cmd
}

// auditSourceFlags choose where records are read: audit files, or the
// stream named in the client configuration.
type auditSourceFlags struct {
	files []string
	since time.Duration
}

func (f *auditSourceFlags) add(cmd *cobra.Command, sinceHelp string) {
	cmd.Flags().StringArrayVar(&f.files, "file", nil, "read this audit file instead of the stream (repeat for several)")
	cmd.Flags().DurationVar(&f.since, "since", 0, sinceHelp)
}

// errStopReading ends a read early without an error.
var errStopReading = errors.New("stop reading")

// eachEvent receives every decoded record in order; returning
// errStopReading ends the read.
type eachEvent func(audit.Event) error

// readAuditFiles decodes every record of the files in turn. Lines that
// are not records are counted and reported once, not fatal: an audit
// file may hold a torn last line after a crash.
func readAuditFiles(paths []string, stderr io.Writer, fn eachEvent) error {
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("audit file: %w", err)
		}
		_, err = scanAudit(f, p, stderr, fn)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// scanAudit decodes the complete lines of r and returns how many bytes
// they held (a partial last line is left for the next read).
func scanAudit(r io.Reader, name string, stderr io.Writer, fn eachEvent) (int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var n int64
	bad := 0
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF || (err == nil && len(line) == 0) {
			break
		}
		if err != nil {
			return n, fmt.Errorf("read %s: %w", name, err)
		}
		n += int64(len(line))
		e, derr := audit.DecodeEvent(line)
		if derr != nil {
			if len(strings.TrimSpace(string(line))) > 0 {
				bad++
			}
			continue
		}
		if err := fn(e); err != nil {
			return n, err
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "tutti: %s: %d lines are not audit records, skipped\n", name, bad)
	}
	return n, nil
}

// followAuditFiles reads what the files hold (when all is set) and then
// follows them as tail -f does, polling, until ctx is done. A file that
// shrinks (rotated, truncated) is read again from its start.
func followAuditFiles(ctx context.Context, paths []string, all bool, stderr io.Writer, fn eachEvent) error {
	offsets := make([]int64, len(paths))
	for i, p := range paths {
		st, err := os.Stat(p)
		switch {
		case err != nil && !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("audit file: %w", err)
		case err == nil && !all:
			offsets[i] = st.Size()
		}
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		for i, p := range paths {
			n, err := readFrom(p, offsets[i], stderr, fn)
			offsets[i] = n
			if err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// readFrom decodes the complete lines of path after off and returns the
// new offset.
func readFrom(path string, off int64, stderr io.Writer, fn eachEvent) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return off, fmt.Errorf("audit file: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() < off {
		off = 0
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return off, fmt.Errorf("audit file %s: %w", path, err)
	}
	n, err := scanAudit(f, path, stderr, fn)
	return off + n, err
}

// auditStream is a connection to the audit stream.
type auditStream struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream string
}

// openAuditStream connects with the client configuration's certificate
// and brokers, receiving under the certificate's own inbox prefix (all a
// tutti broker lets an audit reader subscribe to).
func (g *globals) openAuditStream() (*auditStream, error) {
	asyncErr := func(_ *nats.Conn, _ *nats.Subscription, err error) {
		fmt.Fprintf(g.stderr, "tutti: audit stream: %v\n", err)
	}
	cfg, _, err := config.LoadClient(g.config)
	if err != nil {
		return nil, exitWith(ExitFailed, err)
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("security: %w", err))
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("security: %w", err))
	}
	hosts := cfg.NATS.Hosts
	if len(hosts) == 0 {
		hosts = []string{dial.DefaultNATSHost}
	}
	nc, err := nats.Connect(strings.Join(hosts, ","), nats.Secure(tlsc), nats.Name(cfg.Identity+" audit"),
		nats.CustomInboxPrefix(x509.InboxPrefix(p.Name())), nats.Timeout(10*time.Second), nats.ErrorHandler(asyncErr),
		nats.UserInfo(cfg.NATS.User, cfg.NATS.Pass))
	if err != nil {
		return nil, exitWith(ExitFailed, fmt.Errorf("connect to broker %s: %w", strings.Join(hosts, ","), err))
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, exitWith(ExitFailed, fmt.Errorf("jetstream: %w", err))
	}
	return &auditStream{nc: nc, js: js, stream: cfg.AuditStream}, nil
}

func (s *auditStream) Close() { s.nc.Close() }

// consumer starts an ordered consumer at since ago (0: deliver what
// policy says).
func (s *auditStream) consumer(ctx context.Context, since time.Duration, policy jetstream.DeliverPolicy) (jetstream.Consumer, error) {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: policy}
	if since > 0 {
		start := time.Now().Add(-since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	c, err := s.js.OrderedConsumer(ctx, s.stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("read audit stream %s: %w", s.stream, err)
	}
	return c, nil
}

// readAll delivers every record the stream holds now (from since ago,
// or all) and returns at its end.
func (s *auditStream) readAll(ctx context.Context, since time.Duration, stderr io.Writer, fn eachEvent) error {
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return fmt.Errorf("audit stream %s: %w", s.stream, err)
	}
	last := st.CachedInfo().State.LastSeq
	if st.CachedInfo().State.Msgs == 0 {
		return nil
	}
	c, err := s.consumer(ctx, since, jetstream.DeliverAllPolicy)
	if err != nil {
		return err
	}
	for {
		batch, err := c.Fetch(256, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return fmt.Errorf("read audit stream %s: %w", s.stream, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			if err := deliver(m, stderr, fn); err != nil {
				return err
			}
			if md, err := m.Metadata(); err == nil && md.Sequence.Stream >= last {
				return nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return fmt.Errorf("read audit stream %s: %w", s.stream, err)
		}
		if got == 0 {
			return nil // nothing at or after the start time
		}
	}
}

// follow delivers the records arriving from now (or since ago) until ctx
// is done.
func (s *auditStream) follow(ctx context.Context, since time.Duration, stderr io.Writer, fn eachEvent) error {
	c, err := s.consumer(ctx, since, jetstream.DeliverNewPolicy)
	if err != nil {
		return err
	}
	it, err := c.Messages()
	if err != nil {
		return fmt.Errorf("follow audit stream %s: %w", s.stream, err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			return fmt.Errorf("follow audit stream %s: %w", s.stream, err)
		}
		if err := deliver(m, stderr, fn); err != nil {
			it.Stop()
			return err
		}
	}
}

// deliver passes each record of message m (a writer's batch: one
// record a line) to fn.
func deliver(m jetstream.Msg, stderr io.Writer, fn eachEvent) error {
	for _, l := range audit.MessageLines(m.Data()) {
		e, err := audit.DecodeEvent(l)
		if err != nil {
			fmt.Fprintf(stderr, "tutti: audit stream record on %s skipped: %v\n", m.Subject(), err)
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}
