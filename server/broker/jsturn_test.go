package broker

import (
	"testing"
	"time"
)

func TestSameStream(t *testing.T) {
	cfg := AuditStream{Replicas: 3, Sources: []string{"dcb"}}.streamConfig()
	if !sameStream(cfg, cfg) {
		t.Fatal("a stream differs from its own configuration")
	}
	for name, other := range map[string]AuditStream{
		"replicas": {Replicas: 1, Sources: []string{"dcb"}},
		"max age":  {Replicas: 3, Sources: []string{"dcb"}, MaxAge: time.Hour},
		"sources":  {Replicas: 3, Sources: []string{"dcc"}},
		"subjects": {Replicas: 3, Sources: []string{"dcb"}, Subjects: []string{"tutti.audit.>"}},
	} {
		if sameStream(other.streamConfig(), cfg) {
			t.Errorf("%s: a stream with other settings is taken for the configured one", name)
		}
	}
}

func TestStreamDiff(t *testing.T) {
	cfg := AuditStream{Replicas: 3, Sources: []string{"dcb"}}.streamConfig()
	if d := streamDiff(cfg, cfg); len(d) != 0 {
		t.Fatalf("a stream differs from its own configuration: %q", d)
	}
	other := AuditStream{Replicas: 1, Sources: []string{"dcb"}, MaxAge: time.Hour}.streamConfig()
	d := streamDiff(cfg, other)
	if len(d) != 2 || d[0] != "max_age "+cfg.MaxAge.String()+" → 1h0m0s" || d[1] != "replicas 3 → 1" {
		t.Fatalf("diff %q", d)
	}
}
