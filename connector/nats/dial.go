package nats

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
)

// Reconnect backoff: the wait doubles from backoffMin up to backoffMax,
// plus up to 50% random jitter so a fleet that lost its broker does not
// come back in lock step.
const (
	backoffMin = 500 * time.Millisecond
	backoffMax = 2 * time.Second
)

// backoff is the wait before attempt n (1-based). It also serves as
// nats.go's CustomReconnectDelay.
func backoff(n int) time.Duration {
	d := backoffMin
	for i := 1; i < n && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return d + rand.N(d/2)
}

// dialer dials brokers and remembers why each address failed. nats.go
// folds "connection refused" into a bare ErrNoServers; explain puts the
// addresses and causes back.
type dialer struct {
	net.Dialer

	mu     sync.Mutex
	failed []error
}

func newDialer(timeout time.Duration) *dialer {
	return &dialer{Dialer: net.Dialer{Timeout: timeout}}
}

// Dial implements nats.CustomDialer.
func (d *dialer) Dial(network, address string) (net.Conn, error) {
	c, err := d.Dialer.Dial(network, address)
	if err != nil {
		d.mu.Lock()
		d.failed = append(d.failed, fmt.Errorf("%s: %w", address, err))
		d.mu.Unlock()
	}
	return c, err
}

// explain combines err from nats.Connect with the dial failures seen.
func (d *dialer) explain(err error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.failed) == 0 {
		return err
	}
	dials := errList(append([]error(nil), d.failed...))
	if errors.Is(err, natsgo.ErrNoServers) {
		return fmt.Errorf("%w: %w", err, dials)
	}
	return errList{err, dials}
}

// errList is errors.Join on one line ("a; b"), for log lines.
type errList []error

func (l errList) Error() string {
	s := make([]string, len(l))
	for i, e := range l {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (l errList) Unwrap() []error { return l }

var _ natsgo.CustomDialer = (*dialer)(nil)
