package config

import (
	"errors"
	"testing"

	"github.com/tuttifleet/tutti/server/filter"
)

// The defaults of plugin.tutti.filter.* are server/filter's.
func TestFilterLimitsDefaults(t *testing.T) {
	clearEnv(t)
	s, err := ServerFrom(mustParse(t, "identity = node1.example.net\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := filter.DefaultLimits()
	want := FilterLimits{
		MaxEntries: d.MaxEntries, MaxRegexes: d.MaxRegexes, MaxRegexLength: d.MaxRegexLength,
		MaxExpressions: d.MaxExpressions, MaxExpressionLength: d.MaxExpressionLength, MaxExpressionDepth: d.MaxExpressionDepth,
	}
	if s.Filter != want {
		t.Fatalf("Filter = %+v, want server/filter's defaults %+v", s.Filter, want)
	}
}

func TestFilterLimitsParsed(t *testing.T) {
	clearEnv(t)
	s, err := ServerFrom(mustParse(t, `identity = node1.example.net
plugin.tutti.filter.max_entries = 10
plugin.tutti.filter.max_regexes = 11
plugin.tutti.filter.max_regex_length = 12
plugin.tutti.filter.max_expressions = 13
plugin.tutti.filter.max_expression_length = 14
plugin.tutti.filter.max_expression_depth = 15
`))
	if err != nil {
		t.Fatal(err)
	}
	want := FilterLimits{MaxEntries: 10, MaxRegexes: 11, MaxRegexLength: 12, MaxExpressions: 13, MaxExpressionLength: 14, MaxExpressionDepth: 15}
	if s.Filter != want {
		t.Fatalf("Filter = %+v, want %+v", s.Filter, want)
	}
}

func TestFilterLimitsInvalid(t *testing.T) {
	clearEnv(t)
	for _, line := range []string{
		"plugin.tutti.filter.max_regexes = 0",
		"plugin.tutti.filter.max_entries = -1",
	} {
		_, err := ServerFrom(mustParse(t, "identity = node1.example.net\n"+line+"\n"))
		var ce *Error
		if err == nil || !errors.As(err, &ce) {
			t.Errorf("%s: err = %v, want a config *Error", line, err)
		}
	}
}
