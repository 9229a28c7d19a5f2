package nats

import (
	"errors"
	"fmt"
	"regexp"
	"sync"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tuttifleet/tutti/connector"
)

// maxRemembered bounds how many reported violations a Conn remembers so
// that it reports each once: nats.go hands the same error both to
// LastError and to the asynchronous error handler.
const maxRemembered = 32

// violationRe reads nats-server's -ERR for a refused SUB or PUB.
var violationRe = regexp.MustCompile(`Permissions Violation for (Subscription|Publish) (?:to|with Reply of) "([^"]+)"`)

// denials collects the broker's permission violations between two
// Flushes. nats.go reports them asynchronously (the broker answers a
// refused SUB or PUB with -ERR and keeps the connection); Flush returns
// them, so a caller that subscribes or publishes and then flushes learns
// of the refusal from the call it waits on.
type denials struct {
	mu       sync.Mutex
	pending  []error
	reported []error // raw nats.go errors already noted, newest last
}

// note records err if it is a permission violation not yet noted.
func (d *denials) note(err error, certificate string) bool {
	if !errors.Is(err, natsgo.ErrPermissionViolation) {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range d.reported {
		if r == err {
			return true
		}
	}
	d.reported = append(d.reported, err)
	if len(d.reported) > maxRemembered {
		d.reported = d.reported[1:]
	}
	d.pending = append(d.pending, deniedError(err, certificate))
	return true
}

// take returns the violations noted since the last take.
func (d *denials) take() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	err := errors.Join(d.pending...)
	d.pending = nil
	return err
}

// deniedError names the operation, the subject and the certificate:
// "permission denied to subscribe to prod.reply.… as dev.mcollective".
func deniedError(err error, certificate string) error {
	m := violationRe.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%w as %s: %w", connector.ErrDenied, certificate, err)
	}
	op := "publish to"
	if m[1] == "Subscription" {
		op = "subscribe to"
	}
	return &DeniedError{Op: op, Subject: m[2], Certificate: certificate, err: err}
}

// DeniedError is a publish or subscribe the broker refused.
type DeniedError struct {
	Op          string // "subscribe to" or "publish to"
	Subject     string
	Certificate string
	err         error
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("permission denied to %s %s as %s", e.Op, e.Subject, e.Certificate)
}

// Unwrap returns connector.ErrDenied and nats.go's error.
func (e *DeniedError) Unwrap() []error { return []error{connector.ErrDenied, e.err} }
