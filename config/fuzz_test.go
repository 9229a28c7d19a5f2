package config

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, every error it returns is an *Error with a
// line number, and a successful parse feeds the builders without panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"identity = a\ncollectives = a,b\n",
		"# comment\n\nplugin.choria.middleware_hosts = nats://b:4222, b2\n",
		"ttl = 1h\nrpcaudit = yes\nplugin.rpcaudit.logfile = x\n",
		"connector = activemq\nplugin.activemq.pool.size = 1\nplugin.activemq.pool.1.host = m\n",
		"choria.security.request_signer.token_file = ~/.t\n",
		"bogus line\n= x\nidentiy = y\n",
		"\uFEFFplugin.x.y = a=b#c\r\n",
		"plugin.activemq.pool.99999999999999999999.host = x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(bytes.NewReader(data), "fuzz.conf")
		if err != nil {
			if file != nil {
				t.Fatal("Parse returned a File with an error")
			}
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, e := range errs {
				var ce *Error
				if !errors.As(e, &ce) || ce.Line < 1 || ce.File != "fuzz.conf" {
					t.Fatalf("error without a line: %#v", e)
				}
			}
			return
		}
		for _, k := range file.Keys() {
			if _, ok := file.Get(k); !ok {
				t.Fatalf("Keys lists %q but Get misses it", k)
			}
		}
		_, _ = ServerFrom(file)
		_, _ = ClientFrom(file)
		_, _ = BrokerFrom(file)
	})
}
