package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// pendingAck is a record PublishRecordAsync sent whose acknowledgement
// has not arrived.
type pendingAck struct {
	res   chan error
	timer *time.Timer
}

// publishAsync sends line with Nats-Msg-Id id and a reply subject of its
// own under the auditor's acknowledgement prefix. The caller holds amu.
//
// It is what jetstream.PublishAsync does, minus what a spool does not
// need: no goroutine per record (the acknowledgement's handler settles
// the record's channel itself), no decoding of a successful
// acknowledgement beyond recognizing it, and no retry of a record the
// stream did not answer (the spool sends it again after the records
// before it, keeping them in order).
func (a *JetStream) publishAsync(line []byte, id string) (<-chan error, error) {
	if a.ackSub == nil {
		// <inbox prefix>.<nuid>: under the connection's own inbox prefix
		// (the one the broker lets it read) and unguessable by others
		prefix := a.nc.NewInbox() + "."
		sub, err := a.nc.Subscribe(prefix+"*", a.onAck)
		if err != nil {
			return nil, err
		}
		sub.SetPendingLimits(-1, -1) //nolint:errcheck // valid limits
		a.ackSub, a.ackPrefix, a.pending = sub, prefix, map[uint64]*pendingAck{}
	}
	a.next++
	n := a.next
	p := &pendingAck{res: make(chan error, 1)}
	p.timer = time.AfterFunc(a.cfg.Timeout, func() {
		a.settle(n, fmt.Errorf("%w: publish to %s: no acknowledgement within %v", ErrUnavailable, a.cfg.Subject, a.cfg.Timeout))
	})
	a.pending[n] = p
	a.inflight++
	m := &nats.Msg{Subject: a.cfg.Subject, Reply: a.ackPrefix + strconv.FormatUint(n, 10),
		Header: nats.Header{"Nats-Msg-Id": []string{id}}, Data: line}
	if err := a.nc.PublishMsg(m); err != nil {
		p.timer.Stop()
		delete(a.pending, n)
		a.inflight--
		return nil, err
	}
	return p.res, nil
}

// onAck is the acknowledgement subscription's handler.
func (a *JetStream) onAck(m *nats.Msg) {
	n, err := strconv.ParseUint(m.Subject[len(a.ackPrefix):], 10, 64)
	if err != nil {
		return
	}
	a.settle(n, a.ackError(m))
}

// settle delivers record n's result, once.
func (a *JetStream) settle(n uint64, err error) {
	a.amu.Lock()
	p := a.pending[n]
	if p != nil {
		delete(a.pending, n)
		a.inflight--
	}
	a.amu.Unlock()
	if p != nil {
		p.timer.Stop()
		p.res <- err
	}
}

// ackError is nil for a JetStream acknowledgement that the record is
// stored (a duplicate included: stored before), else why not.
func (a *JetStream) ackError(m *nats.Msg) error {
	if st := m.Header.Get("Status"); st != "" {
		if st == "503" {
			return fmt.Errorf("%w: publish to %s: no stream captures it (no responders)", ErrUnavailable, a.cfg.Subject)
		}
		return fmt.Errorf("%w: publish to %s: status %s %s", ErrUnavailable, a.cfg.Subject, st, m.Header.Get("Description"))
	}
	if !bytes.Contains(m.Data, []byte(`"error"`)) && bytes.Contains(m.Data, []byte(`"seq"`)) {
		return nil
	}
	return fmt.Errorf("%w: publish to %s: %w", ErrUnavailable, a.cfg.Subject, decodeAckError(m.Data))
}

// decodeAckError is the error in a JetStream publish answer that is not
// a plain acknowledgement.
func decodeAckError(b []byte) error {
	var r struct {
		Error *struct {
			Code        int    `json:"code"`
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("unreadable acknowledgement %.200q: %w", b, err)
	}
	if r.Error == nil {
		return fmt.Errorf("unexpected acknowledgement %.200q", b)
	}
	return fmt.Errorf("stream refused the record: %s (code %d, error code %d)", r.Error.Description, r.Error.Code, r.Error.ErrCode)
}

// closeAcks ends the acknowledgement subscription (on a shared
// connection it would stay otherwise) and fails what is in flight.
func (a *JetStream) closeAcks() {
	a.amu.Lock()
	sub, pending := a.ackSub, a.pending
	a.ackSub, a.pending = nil, nil
	a.inflight -= len(pending)
	a.amu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
	}
	for _, p := range pending {
		p.timer.Stop()
		p.res <- ErrClosed
	}
}
