package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector"
	"github.com/tuttifleet/tutti/connector/protocol"
)

// Shutdown cancels the context of requests still running when its
// context ends, so a long action stops and still answers.
func TestShutdownCancelsRunningRequests(t *testing.T) {
	r, conn, _ := newHandleRig(t) // the slow action waits for release or its context
	wait, _ := protocol.EncodeRPCRequest("slow", "wait", nil)
	msg := r.rawRequest(t, "slow", string(wait))
	conn.handler("slow")(connector.Message{Data: msg})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	r.node.Shutdown(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("Shutdown took %s", took)
	}
	select {
	case got := <-conn.replies:
		if want := replyTo(t, msg); got != want {
			t.Fatalf("reply to %q, want %q", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the running action was not cancelled by shutdown: no reply")
	}
}
