package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tuttifleet/tutti/connector/protocol"
)

// A filter over the nodes' default limits is refused before anything is
// signed or published, naming the limit; one within them is sent.
func TestDoRefusesFilterOverDefaultLimits(t *testing.T) {
	f, c := newFakeFleet(t, "n1")
	ids := make([]string, protocol.DefaultFilterMaxRegexes+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("/^n%d$/", i)
	}
	_, err := c.Do(context.Background(), Request{Agent: "rpcutil", Action: "ping", Filter: protocol.Filter{Identity: ids}, Timeout: time.Second}, nil)
	if !errors.Is(err, protocol.ErrFilterLimit) || !strings.Contains(err.Error(), "plugin.tutti.filter.max_regexes") {
		t.Fatalf("err = %v, want ErrFilterLimit naming max_regexes", err)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("%d messages published for a refused filter", n)
	}
	sum, err := c.Do(context.Background(), Request{Agent: "rpcutil", Action: "ping",
		Filter: protocol.Filter{Identity: ids[:protocol.DefaultFilterMaxRegexes]}, Timeout: time.Second, Expect: 0}, nil)
	if errors.Is(err, protocol.ErrFilterLimit) {
		t.Fatalf("filter within the limits refused: %v (%+v)", err, sum)
	}
}
