package nats

import (
	"errors"
	"fmt"
	"testing"

	natsgo "github.com/nats-io/nats.go"

	"github.com/tuttifleet/tutti/connector"
)

func TestDeniedError(t *testing.T) {
	for raw, want := range map[string]string{
		`Permissions Violation for Subscription to "prod.reply.ab.1"`:                       "permission denied to subscribe to prod.reply.ab.1 as dev.mcollective",
		`Permissions Violation for Subscription to "c.broadcast.service.x" using queue "x"`: "permission denied to subscribe to c.broadcast.service.x as dev.mcollective",
		`Permissions Violation for Publish to "c.node.n1"`:                                  "permission denied to publish to c.node.n1 as dev.mcollective",
		`Permissions Violation for Publish with Reply of "_INBOX.x"`:                        "permission denied to publish to _INBOX.x as dev.mcollective",
	} {
		err := deniedError(fmt.Errorf("%w: %s", natsgo.ErrPermissionViolation, raw), "dev.mcollective")
		if err.Error() != want || !errors.Is(err, connector.ErrDenied) || !errors.Is(err, natsgo.ErrPermissionViolation) {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestDenialsReportOnce(t *testing.T) {
	var d denials
	e1 := fmt.Errorf("%w: %s", natsgo.ErrPermissionViolation, `Permissions Violation for Publish to "a"`)
	e2 := fmt.Errorf("%w: %s", natsgo.ErrPermissionViolation, `Permissions Violation for Publish to "b"`)
	if d.note(errors.New("other"), "c") || d.note(nil, "c") {
		t.Fatal("noted an error that is no permission violation")
	}
	d.note(e1, "c")
	d.note(e1, "c") // LastError and the error handler hand over the same error
	d.note(e2, "c")
	if err := d.take(); err == nil || err.Error() != "permission denied to publish to a as c\npermission denied to publish to b as c" {
		t.Fatalf("take = %v", err)
	}
	d.note(e1, "c")
	if err := d.take(); err != nil {
		t.Fatalf("an error already reported came back: %v", err)
	}
}

func FuzzDeniedError(f *testing.F) {
	f.Add(`Permissions Violation for Subscription to "x"`)
	f.Fuzz(func(t *testing.T, s string) {
		err := deniedError(fmt.Errorf("%w: %s", natsgo.ErrPermissionViolation, s), "n")
		if !errors.Is(err, connector.ErrDenied) {
			t.Fatalf("%q: %v does not wrap ErrDenied", s, err)
		}
	})
}
