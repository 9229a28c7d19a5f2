package puppet

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tuttifleet/tutti/agents"
)

// runonce input.
type runInput struct {
	Force            *bool  `json:"force"`
	Splay            *bool  `json:"splay"`
	SplayLimit       *int64 `json:"splaylimit"`
	Noop             *bool  `json:"noop"`
	Tags             string `json:"tags"`
	SkipTags         string `json:"skip_tags"`
	Environment      string `json:"environment"`
	Server           string `json:"server"`
	UseCachedCatalog *bool  `json:"use_cached_catalog"`
}

// RunArgs returns the arguments of puppet for a runonce request. Every
// value travels in one --name=value word.
func RunArgs(in runInput) ([]string, error) {
	args := []string{"agent", "--onetime", "--no-daemonize", "--color=false", "--show_diff", "--verbose"}
	flag := func(name string, b *bool) {
		if b != nil {
			if *b {
				args = append(args, "--"+name)
			} else {
				args = append(args, "--no-"+name)
			}
		}
	}
	flag("noop", in.Noop)
	flag("use_cached_catalog", in.UseCachedCatalog)
	for _, v := range []struct{ name, val string }{{"tags", in.Tags}, {"skip_tags", in.SkipTags}, {"environment", in.Environment}} {
		if v.val == "" {
			continue
		}
		if strings.HasPrefix(v.val, "-") || strings.ContainsAny(v.val, " \t\n\r\x00=") {
			return nil, agents.InvalidData("Validation failed: %s: %q is not a valid value", v.name, clip(v.val))
		}
		args = append(args, "--"+v.name+"="+v.val)
	}
	if in.Server != "" {
		host, port, hasPort := strings.Cut(in.Server, ":")
		if host == "" || strings.HasPrefix(host, "-") || strings.ContainsAny(in.Server, " \t\n\r\x00=") {
			return nil, agents.InvalidData("Validation failed: server: %q is not host or host:port", clip(in.Server))
		}
		args = append(args, "--server="+host)
		if hasPort {
			args = append(args, "--serverport="+port)
		}
	}
	switch {
	case in.Force != nil && *in.Force:
		args = append(args, "--no-splay")
	case in.SplayLimit != nil:
		if *in.SplayLimit < 0 || *in.SplayLimit > 86400 {
			return nil, agents.InvalidData("Validation failed: splaylimit: %d seconds is not within 0 and 86400", *in.SplayLimit)
		}
		if in.Splay != nil && !*in.Splay {
			args = append(args, "--no-splay")
		} else {
			args = append(args, "--splay", fmt.Sprintf("--splaylimit=%d", *in.SplayLimit))
		}
	default:
		flag("splay", in.Splay)
	}
	return args, nil
}

func (m *mgr) runonce(ctx context.Context, req *agents.Request) (any, error) {
	var in runInput
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return nil, agents.InvalidData("Could not process request: %v", err)
	}
	args, err := RunArgs(in)
	if err != nil {
		return nil, err
	}
	if err := m.present(); err != nil {
		return nil, agents.Abort("%v", err)
	}
	disabled, msg, err := m.disabled()
	switch {
	case err != nil:
		return nil, agents.Abort("Could not start a Puppet run: %v", err)
	case disabled:
		return nil, agents.Abort("Puppet is disabled: %s", orNone(msg))
	}
	if pidAlive(filepath.Join(m.cfg.StateDir, RunLock)) {
		return nil, agents.Abort("Puppet is applying a catalog now; not starting another run")
	}
	at := m.now()
	if err := spawn(m.cfg.Command, args, env); err != nil {
		return nil, agents.Abort("Could not start a Puppet run: %v", err)
	}
	return map[string]any{"summary": fmt.Sprintf("Started a Puppet run using the 'puppet %s' command", strings.Join(args, " ")),
		"initiated_at": at.Unix()}, nil
}

// Summary is Puppet's last_run_summary.yaml.
type Summary struct {
	Version struct {
		Config any    `yaml:"config" json:"config"`
		Puppet string `yaml:"puppet" json:"puppet"`
	} `yaml:"version" json:"version"`
	Resources map[string]float64 `yaml:"resources" json:"resources"`
	Time      map[string]float64 `yaml:"time" json:"time"`
	Changes   map[string]float64 `yaml:"changes" json:"changes"`
	Events    map[string]float64 `yaml:"events" json:"events"`
}

// LastRun is when the run ended (Unix time; 0 when unknown).
func (s *Summary) LastRun() int64 { return int64(s.Time["last_run"]) }

// ParseSummary reads a last_run_summary.yaml document.
func ParseSummary(b []byte) (*Summary, error) {
	var s Summary
	if err := yaml.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("not a Puppet run summary: %w", err)
	}
	if s.Resources == nil && s.Time == nil {
		return nil, fmt.Errorf("not a Puppet run summary: no resources and no time sections")
	}
	return &s, nil
}

func (m *mgr) summary() (*Summary, error) {
	b, err := readFile(m.cfg.Summary)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%s does not exist: Puppet has not run yet, or %s names another file", m.cfg.Summary, SummaryKey)
	}
	s, err := ParseSummary(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.cfg.Summary, err)
	}
	return s, nil
}

func (m *mgr) lastRunSummary(ctx context.Context, req *agents.Request) (any, error) {
	if err := m.present(); err != nil {
		return nil, agents.Abort("%v", err)
	}
	s, err := m.summary()
	if err != nil {
		return nil, agents.Abort("Could not read the last run summary: %v", err)
	}
	res := func(k string) int64 {
		if v, ok := s.Resources[k]; ok {
			return int64(v)
		}
		return -1
	}
	since := int64(-1)
	if s.LastRun() > 0 {
		since = m.now().Unix() - s.LastRun()
	}
	version := ""
	if s.Version.Config != nil {
		version = fmt.Sprint(s.Version.Config)
	}
	return map[string]any{
		"out_of_sync_resources": res("out_of_sync"), "failed_resources": res("failed"),
		"corrected_resources": res("corrective_change"), "changed_resources": res("changed"),
		"total_resources": max(res("total"), 0), "config_retrieval_time": s.Time["config_retrieval"],
		"total_time": s.Time["total"], "lastrun": s.LastRun(), "since_lastrun": since,
		"config_version": version, "summary": s,
	}, nil
}
