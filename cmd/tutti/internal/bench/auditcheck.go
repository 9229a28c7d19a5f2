package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tuttifleet/tutti/aaa/audit"
	"github.com/tuttifleet/tutti/config"
	"github.com/tuttifleet/tutti/security/x509"
	"github.com/tuttifleet/tutti/server/broker"
	"github.com/tuttifleet/tutti/server/emulate"
)

// auditDrainTimeout bounds the wait for the spools to deliver every
// record after the last reply.
const auditDrainTimeout = 2 * time.Minute

// StreamCheck compares, node by node, the records in the audit file
// with the messages on the node's subject of the broker's audit stream
// (--audit stream). Counts are cumulative over the fleet sizes of one
// bench (the nodes of each size are emu-00001…). Any Missing or Extra
// fails the bench.
type StreamCheck struct {
	Records int `json:"records"` // lines in the audit file
	Stored  int `json:"stored"`  // records (lines of the messages) on tutti.audit.node.<identity> subjects
	// Messages is the stream messages holding them: a node's spool puts
	// its consecutive records in one (plugin.tutti.audit.stream_linger).
	Messages int `json:"messages"`
	Missing  int `json:"missing"` // per node, records in the file not in the stream, summed
	Extra    int `json:"extra"`   // per node, messages beyond the file's records (duplicates), summed
	Nodes    int `json:"nodes"`   // nodes whose file and stream counts match
	// DrainSeconds is the time from the check's start (right after the
	// last measured reply) until the stream held every record.
	DrainSeconds float64             `json:"drain_seconds"`
	Spool        *emulate.AuditSpool `json:"spool,omitempty"`
}

// streamReader reads the audit stream as the bench client, which the
// bench's broker makes an audit reader.
type streamReader struct {
	nc     *nats.Conn
	stream jetstream.Stream
	// read counts the records of the messages read so far, per
	// identity: perSubject reads on from where it stopped.
	cons     jetstream.Consumer
	read     map[string]int
	records  int
	messages int
}

func openStreamReader(ctx context.Context, clientConf string) (*streamReader, error) {
	cfg, _, err := config.LoadClient(clientConf)
	if err != nil {
		return nil, err
	}
	p, err := x509.New(x509.ConfigFrom(cfg.Security))
	if err != nil {
		return nil, err
	}
	tlsc, err := p.ClientTLS("")
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(strings.Join(cfg.NATS.Hosts, ","), nats.Secure(tlsc), nats.Name("bench audit check"),
		nats.CustomInboxPrefix(x509.InboxPrefix(p.Name())))
	if err != nil {
		return nil, fmt.Errorf("audit stream reader: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	var s jetstream.Stream
	// The broker creates the stream shortly after it starts. Each look
	// has its own timeout: in a cluster a request before the JetStream
	// meta leader is elected goes unanswered rather than refused.
	for {
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		s, err = js.Stream(actx, broker.DefaultAuditStreamName)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			nc.Close()
			return nil, fmt.Errorf("audit stream %s: %w", broker.DefaultAuditStreamName, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return &streamReader{nc: nc, stream: s, read: map[string]int{}}, nil
}

func (r *streamReader) close() { r.nc.Close() }

// perSubject counts the records (lines) of the stream's messages on
// each node subject, keyed by identity, reading the messages that
// arrived since the last call.
func (r *streamReader) perSubject(ctx context.Context) (map[string]int, int, error) {
	if r.cons == nil {
		c, err := r.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{broker.NodeAuditPrefix + ">"}})
		if err != nil {
			return nil, 0, err
		}
		r.cons = c
	}
	for {
		batch, err := r.cons.Fetch(4096, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			return nil, 0, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			k := len(audit.MessageLines(m.Data()))
			r.read[strings.TrimPrefix(m.Subject(), broker.NodeAuditPrefix)] += k
			r.records += k
			r.messages++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, 0, err
		}
		if n == 0 {
			return r.read, r.records, nil
		}
	}
}

// fileRecords counts the audit file's records per identity.
func fileRecords(path string) (map[string]int, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	m, total := map[string]int{}, 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var rec struct {
		Identity string `json:"identity"`
	}
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		rec.Identity = ""
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, 0, fmt.Errorf("%s line %d: %w", path, total+1, err)
		}
		m[rec.Identity]++
		total++
	}
	return m, total, sc.Err()
}

// check waits until the stream holds as many records per node as the
// audit file (or auditDrainTimeout passes) and compares them.
func (r *streamReader) check(ctx context.Context, auditFile string) (*StreamCheck, error) {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, auditDrainTimeout)
	defer cancel()
	var c StreamCheck
	for {
		want, records, err := fileRecords(auditFile)
		if err != nil {
			return nil, err
		}
		got, stored, err := r.perSubject(ctx)
		if err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("audit stream: %w", err)
		}
		c = StreamCheck{Records: records, Stored: stored, Messages: r.messages, DrainSeconds: time.Since(t0).Seconds()}
		for id, n := range want {
			if g := got[id]; g == n {
				c.Nodes++
			} else if g < n {
				c.Missing += n - g
			}
		}
		for id, g := range got {
			c.Extra += max(0, g-want[id])
		}
		if (c.Missing == 0 && c.Extra == 0) || ctx.Err() != nil {
			return &c, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}
