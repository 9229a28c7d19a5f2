package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func mustParse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse(strings.NewReader(text), "/etc/tutti/test.conf")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

func TestParseLines(t *testing.T) {
	tests := []struct {
		name, text, key, want string
	}{
		{"plain", "identity = node1", "identity", "node1"},
		{"no spaces", "identity=node1", "identity", "node1"},
		{"surrounding whitespace", "  \t identity   =   node1  \t\r\n", "identity", "node1"},
		{"value with =", "plugin.choria.security.request_signer.url = https://s/sign?a=b=c", "plugin.choria.security.request_signer.url", "https://s/sign?a=b=c"},
		{"hash mid-line kept", "plugin.nats.pass = se#cret # not a comment", "plugin.nats.pass", "se#cret # not a comment"},
		{"last occurrence wins", "identity = a\nidentity = b\nidentity = c", "identity", "c"},
		{"comment lines", "# identity = x\n   # identity = y\nidentity = z", "identity", "z"},
		{"crlf", "identity = a\r\ncollectives = x,y\r\n", "collectives", "x,y"},
		{"bom", "\uFEFFidentity = a", "identity", "a"},
		{"empty value", "identity = a\nidentity =", "identity", ""},
		{"no trailing newline", "loglevel = debug", "loglevel", "debug"},
		{"alias resolves", "choria.security.request_signer.token_file = ~/.t", "plugin.choria.security.request_signer.token_file", "~/.t"},
		{"alias readable under alias", "choria.security.request_signer.token_file = ~/.t", "choria.security.request_signer.token_file", "~/.t"},
		{"pool pattern", "plugin.activemq.pool.12.host = mq", "plugin.activemq.pool.12.host", "mq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.text)
			got, ok := f.Get(tt.key)
			if !ok || got != tt.want {
				t.Fatalf("Get(%q) = %q, %v; want %q", tt.key, got, ok, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, text string
		line       int
		sentinel   error
		contains   []string
	}{
		{"no equals", "identity = a\nnonsense line", 2, ErrSyntax, []string{"test.conf:2", "expected `key = value`"}},
		{"empty key", "\n = value", 2, ErrSyntax, []string{"empty key"}},
		{"space in key", "plugin. yaml = x", 1, ErrSyntax, []string{"white space"}},
		{"unknown top-level with suggestion", "# c\n\nidentiy = x", 3, ErrUnknownKey, []string{"test.conf:3", "identiy", `did you mean "identity"?`}},
		{"unknown top-level missing prefix", "choria.middleware_hosts = a:1", 1, ErrUnknownKey, []string{`did you mean "plugin.choria.middleware_hosts"?`}},
		{"unknown top-level no suggestion", "frobnicate = 1", 1, ErrUnknownKey, []string{"frobnicate: unknown key"}},
		{"bad bool", "identity = a\nrpcaudit = maybe", 2, ErrInvalidValue, []string{"test.conf:2", "rpcaudit", `"maybe" is not a boolean`}},
		{"bool on/off refused", "plugin.tutti.replay_cache = on", 1, ErrInvalidValue, []string{"plugin.tutti.replay_cache"}},
		{"bad duration", "ttl = soon", 1, ErrInvalidValue, []string{"ttl", "not seconds or a duration"}},
		{"negative duration", "ttl = -5", 1, ErrInvalidValue, []string{"negative"}},
		{"bad int", "direct_addressing_threshold = ten", 1, ErrInvalidValue, []string{"not an integer"}},
		{"bad port", "plugin.choria.stats_port = 70000", 1, ErrInvalidValue, []string{"not a port"}},
		{"bad enum", "connector = zeromq", 1, ErrInvalidValue, []string{"connector", "not one of nats, activemq, rabbitmq"}},
		{"unknown provider", "plugin.security.provider = pkcs11", 1, ErrInvalidValue, []string{"plugin.security.provider"}},
		{"bad mode", "plugin.rpcaudit.logfile.mode = 0999", 1, ErrInvalidValue, []string{"octal"}},
		{"bad pool key number", "plugin.activemq.pool.1.port = x", 1, ErrInvalidValue, []string{"plugin.activemq.pool.1.port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.text), "/etc/tutti/test.conf")
			if err == nil {
				t.Fatal("Parse succeeded, want error")
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v is not %v", err, tt.sentinel)
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != tt.line {
				t.Errorf("error %v: want *Error on line %d, got %+v", err, tt.line, ce)
			}
			for _, s := range tt.contains {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse(strings.NewReader("idenity = a\nttl = x\nrpcaudit = 2\n"), "f")
	var lines []int
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *Error
		if errors.As(e, &ce) {
			lines = append(lines, ce.Line)
		}
	}
	if !slices.Equal(lines, []int{1, 2, 3}) {
		t.Fatalf("error lines = %v, want [1 2 3] (err: %v)", lines, err)
	}
}

func TestParseWarnings(t *testing.T) {
	tests := []struct {
		name, text, key string
		contains        []string
	}{
		{"unknown plugin key with suggestion", "plugin.choria.middleware_host = x", "plugin.choria.middleware_host", []string{`did you mean "plugin.choria.middleware_hosts"?`, "test.conf:1"}},
		{"unknown plugin key, other plugin", "plugin.puppet.splay = 1", "plugin.puppet.splay", []string{"unknown key; ignored"}},
		{"pool typo keeps number", "plugin.activemq.pool.3.hots = x", "plugin.activemq.pool.3.hots", []string{`"plugin.activemq.pool.3.host"`}},
		{"ignored key", "keeplogs = 5", "keeplogs", []string{"recognised and ignored"}},
		{"ignored historic", "plugin.security.always_overwrite_cache = 1", "plugin.security.always_overwrite_cache", []string{"ignored"}},
		{"ignored signer cert", "plugin.choria.security.request_signing_certificate = x", "plugin.choria.security.request_signing_certificate", []string{"ignored"}},
		{"federation unsupported", "plugin.choria.federation.collectives = a", "plugin.choria.federation.collectives", []string{"not supported"}},
		{"daemonize", "daemonize = 1", "daemonize", []string{"ignored"}},
		{"alias", "choria.security.request_signer.token_file = x", "choria.security.request_signer.token_file", []string{"add the plugin. prefix"}},
		{"actionpolicy true", "plugin.actionpolicy.allow_unconfigured = true", "plugin.actionpolicy.allow_unconfigured", []string{`MCollective reads "true" here as false`}},
		{"actionpolicy false", "plugin.actionpolicy.enable_default = False", "plugin.actionpolicy.enable_default", []string{"write 1 or 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.text)
			ws := f.Warnings()
			if len(ws) != 1 {
				t.Fatalf("warnings = %v, want exactly one", ws)
			}
			if ws[0].Key != tt.key || ws[0].Line != 1 {
				t.Errorf("warning %+v: want key %q line 1", ws[0], tt.key)
			}
			for _, s := range tt.contains {
				if !strings.Contains(ws[0].String(), s) {
					t.Errorf("warning %q does not contain %q", ws[0].String(), s)
				}
			}
		})
	}
	t.Run("known keys give none", func(t *testing.T) {
		f := mustParse(t, "identity = a\nplugin.actionpolicy.allow_unconfigured = 1\nplugin.choria.network.client_port = 4222\n")
		if ws := f.Warnings(); len(ws) != 0 {
			t.Fatalf("warnings = %v, want none", ws)
		}
	})
	t.Run("actionpolicy true still parsed as true", func(t *testing.T) {
		f := mustParse(t, "plugin.actionpolicy.allow_unconfigured = true\n")
		s, err := ServerFrom(f)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Authorization.AllowUnconfigured {
			t.Fatal("AllowUnconfigured = false, want true")
		}
	})
}

func TestSetGetKeys(t *testing.T) {
	f := mustParse(t, "loglevel = info\nidentity = a\n")
	f.Set("loglevel", "debug")
	f.Set("choria.security.request_signer.token_file", "/t")
	if v, _ := f.Get("loglevel"); v != "debug" {
		t.Errorf("loglevel = %q after Set", v)
	}
	if v, ok := f.Get("plugin.choria.security.request_signer.token_file"); !ok || v != "/t" {
		t.Errorf("alias Set not visible under canonical key: %q %v", v, ok)
	}
	if _, ok := f.Get("ttl"); ok {
		t.Error("Get(ttl) reports a key that was never set")
	}
	want := []string{"identity", "loglevel", "plugin.choria.security.request_signer.token_file"}
	if got := f.Keys(); !slices.Equal(got, want) {
		t.Errorf("Keys = %v, want %v", got, want)
	}
	var zero File
	zero.Set("identity", "z")
	if v, _ := zero.Get("identity"); v != "z" {
		t.Errorf("Set on zero File: %q", v)
	}
}

func TestSetValueErrorsNameSource(t *testing.T) {
	f := mustParse(t, "identity = a\n")
	f.Set("ttl", "banana")
	_, err := ClientFrom(f)
	var ce *Error
	if !errors.As(err, &ce) || ce.Key != "ttl" || ce.File != setSource || !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("err = %v, want *Error for ttl from %s", err, setSource)
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestParseFilePluginD(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	main := filepath.Join(dir, "server.conf")
	writeFile(t, main, "identity = n1\nplugin.rpcaudit.logfile = /main.log\nplugin.puppet.splay = 0\n")
	writeFile(t, filepath.Join(dir, "plugin.d", "rpcaudit.cfg"), "logfile = /plugind.log\n")
	writeFile(t, filepath.Join(dir, "plugin.d", "puppet.cfg"), "# c\nsplay = 1\n")
	writeFile(t, filepath.Join(dir, "plugin.d", "bad-name.cfg"), "x = 1\n")
	writeFile(t, filepath.Join(dir, "plugin.d", "notes.txt"), "garbage\n")

	f, err := ParseFile(main)
	if err != nil {
		t.Fatal(err)
	}
	if f.Dir != dir || f.Path != main {
		t.Errorf("Path, Dir = %q, %q", f.Path, f.Dir)
	}
	for key, want := range map[string]string{
		"plugin.rpcaudit.logfile": "/plugind.log",
		"plugin.puppet.splay":     "1",
		"identity":                "n1",
	} {
		if got, _ := f.Get(key); got != want {
			t.Errorf("%s = %q, want %q (plugin.d wins over the main file)", key, got, want)
		}
	}
	if _, ok := f.Get("plugin.bad-name.x"); ok {
		t.Error("plugin.d file with an invalid name was read")
	}
	var found bool
	for _, w := range f.Warnings() {
		if w.Key == "plugin.puppet.splay" && strings.HasSuffix(w.File, "puppet.cfg") && w.Line == 2 {
			found = true
		}
	}
	if !found {
		t.Errorf("no warning located in plugin.d/puppet.cfg:2: %v", f.Warnings())
	}

	t.Run("errors name the plugin.d file", func(t *testing.T) {
		writeFile(t, filepath.Join(dir, "plugin.d", "rpcaudit.cfg"), "logfile.mode = 9\n")
		_, err := ParseFile(main)
		if err == nil || !strings.Contains(err.Error(), "rpcaudit.cfg:1: plugin.rpcaudit.logfile.mode") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("skipped under HOME", func(t *testing.T) {
		t.Setenv("HOME", dir)
		f, err := ParseFile(main)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := f.Get("plugin.rpcaudit.logfile"); got != "/main.log" {
			t.Errorf("plugin.d read for a config under $HOME: %q", got)
		}
	})
}

func TestParseFileMissing(t *testing.T) {
	_, err := ParseFile(filepath.Join(t.TempDir(), "nope.conf"))
	if !errors.Is(err, ErrNoConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNoConfig and fs.ErrNotExist", err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "bad.conf"), "ttl = x\n")
	_, err = ParseFile(filepath.Join(dir, "bad.conf"))
	if err == nil || errors.Is(err, ErrNoConfig) {
		t.Fatalf("invalid file: err = %v, want an error that is not ErrNoConfig", err)
	}
}

func TestWarningString(t *testing.T) {
	w := Warning{File: "a.conf", Line: 3, Key: "k", Message: "m"}
	if got := w.String(); got != "a.conf:3: k: m" {
		t.Errorf("String = %q", got)
	}
	e := &Error{Key: "k", Err: ErrInvalidValue}
	if got := e.Error(); got != "config: k: invalid value" {
		t.Errorf("Error = %q", got)
	}
}
