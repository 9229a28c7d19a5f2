package facts

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeYAML checks that any YAML either fails cleanly or yields facts
// that encode as JSON with string keys only.
func FuzzDecodeYAML(f *testing.F) {
	for _, s := range []string{yamlFacts, "{}", "a: [1, {2: 3}]", "? [a]\n: b\n", "a: &x 1\nb: *x\n", "- 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeYAML(b)
		if err != nil {
			return
		}
		if m == nil {
			t.Fatal("nil map without error")
		}
		if _, err := json.Marshal(m); err != nil {
			// only values JSON cannot express (NaN, ±Inf) may fail; the
			// store reports that as an error rather than panicking
			if _, ok := err.(*json.UnsupportedValueError); !ok {
				t.Fatalf("decoded facts do not encode: %v", err)
			}
		}
	})
}
