package conformance

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// Helpers for the connect tests each implementation writes for its own
// Config (which the suite cannot build).

// Refusal is a configuration Connect must refuse, and what the error must
// say.
type Refusal[C any] struct {
	Name   string
	Config C
	Reason string
}

// CheckRefusals runs connect on each case's Config in a subtest and fails
// it unless connect returns an error containing Reason. A connection that
// was made anyway is closed.
func CheckRefusals[C any](t *testing.T, connect func(context.Context, C) (io.Closer, error), cases []Refusal[C]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			c, err := connect(context.Background(), tc.Config)
			if err == nil {
				_ = c.Close()
				t.Fatal("Connect succeeded, want a refusal")
			}
			if !strings.Contains(err.Error(), tc.Reason) {
				t.Errorf("error %q does not say %q", err, tc.Reason)
			}
		})
	}
}

// CheckGaveUp fails t unless err is what Connect returns when its context
// ended before any broker answered: it wraps context.DeadlineExceeded and
// names the broker's url, the cause ("connection refused") and that it
// gave up.
func CheckGaveUp(t *testing.T, err error, url string) {
	t.Helper()
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap the context's end", err)
	}
	for _, want := range []string{url, "connection refused", "gave up after"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
