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
