package cli

import (
	"time"

	"github.com/spf13/pflag"

	"github.com/tuttifleet/tutti/config"
)

// durationVar defines a duration flag: a bare number is seconds, as in
// Choria and mco (--timeout 5, --batch-sleep 0.5), and Go durations keep
// working (5s, 500ms, 1m). Every duration flag of the CLI is one; config
// files read durations the same way (config.ParseDuration).
func durationVar(fl *pflag.FlagSet, p *time.Duration, name, short string, def time.Duration, usage string) {
	*p = def
	fl.VarP((*config.Seconds)(p), name, short, usage)
}

var _ pflag.Value = (*config.Seconds)(nil)
