package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/tuttifleet/tutti/config"
)

// seconds is the pflag.Value of every duration flag: a bare number is
// seconds, as in Choria and mco (--timeout 5, --batch-sleep 0.5), and Go
// durations keep working (5s, 500ms, 1m). Config files read durations
// the same way (config.ParseDuration).
type seconds time.Duration

func (s *seconds) Set(v string) error {
	d, err := config.ParseDuration(v)
	if err != nil {
		return err
	}
	*s = seconds(d)
	return nil
}

// String is "0" for no duration, so usage texts show no "(default 0s)".
func (s *seconds) String() string {
	if *s == 0 {
		return "0"
	}
	return time.Duration(*s).String()
}

// Type names the value in the usage text.
func (s *seconds) Type() string { return "seconds" }

// durationVar defines a duration flag taking seconds or a Go duration.
func durationVar(fl *pflag.FlagSet, p *time.Duration, name, short string, def time.Duration, usage string) {
	*p = def
	fl.VarP((*seconds)(p), name, short, usage)
}

var _ pflag.Value = (*seconds)(nil)
