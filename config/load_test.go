package config

import (
	"strings"
	"testing"
)

func TestLoadLimitsParsed(t *testing.T) {
	clearEnv(t)
	s, err := ServerFrom(mustParse(t, `identity = node1.example.net
plugin.tutti.agent.service.concurrency = 1
plugin.tutti.agent.hang.concurrency = 0
plugin.tutti.rate_limit = 2.5
plugin.tutti.rate_burst = 10
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.AgentConcurrency) != 2 || s.AgentConcurrency["service"] != 1 || s.AgentConcurrency["hang"] != 0 {
		t.Errorf("AgentConcurrency = %v", s.AgentConcurrency)
	}
	if s.RateLimit != 2.5 || s.RateBurst != 10 {
		t.Errorf("rate %v burst %d", s.RateLimit, s.RateBurst)
	}
	d, err := ServerFrom(mustParse(t, "identity = node1.example.net\n"))
	if err != nil {
		t.Fatal(err)
	}
	if d.AgentConcurrency != nil || d.RateLimit != 0 || d.RateBurst != 0 {
		t.Errorf("defaults: caps %v, rate %v, burst %d; want none, off", d.AgentConcurrency, d.RateLimit, d.RateBurst)
	}
}

func TestLoadLimitsInvalid(t *testing.T) {
	clearEnv(t)
	for _, line := range []string{"plugin.tutti.agent.service.concurrency = -1", "plugin.tutti.rate_limit = -2", "plugin.tutti.rate_burst = -1"} {
		_, err := ServerFrom(mustParse(t, "identity = node1.example.net\n"+line+"\n"))
		key := strings.TrimSpace(strings.Split(line, "=")[0])
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: error %v, want one naming the key", line, err)
		}
	}
}
