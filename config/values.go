package config

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseBool reads a config boolean: 1 y yes t true / 0 n no f false, case
// insensitive. Anything else is an error wrapping ErrInvalidValue.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "y", "yes", "t", "true":
		return true, nil
	case "0", "n", "no", "f", "false":
		return false, nil
	}
	return false, fmt.Errorf("%w: %q is not a boolean (use 1/0, yes/no, true/false)", ErrInvalidValue, clip(s))
}

// ParseDuration reads a duration as config files and the CLI's flags take
// it: a plain decimal number is seconds (ttl = 60, --timeout 5,
// initial_reconnect_delay = 0.01), anything else Go syntax (10s, 500ms,
// 1h). Negative durations are refused; errors wrap ErrInvalidValue.
func ParseDuration(s string) (time.Duration, error) { return parseSeconds(strings.TrimSpace(s)) }

// Seconds is a time.Duration as a command-line flag value (it satisfies
// pflag.Value and flag.Value): Set reads it with ParseDuration, so every
// binary's duration flags take a bare number as seconds, as config files
// do. Define one with fl.Var((*config.Seconds)(&d), name, usage).
type Seconds time.Duration

// Set parses v with ParseDuration.
func (s *Seconds) Set(v string) error {
	d, err := ParseDuration(v)
	if err != nil {
		return err
	}
	*s = Seconds(d)
	return nil
}

// String is "0" for no duration (usage texts then show no default), else
// Go's duration syntax.
func (s *Seconds) String() string {
	if *s == 0 {
		return "0"
	}
	return time.Duration(*s).String()
}

// Type names the value in usage texts.
func (s *Seconds) Type() string { return "seconds" }

func parseSeconds(s string) (time.Duration, error) {
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil && !strings.ContainsAny(s, "xXpPnN_") {
		if math.IsNaN(f) || f > math.MaxInt64/float64(time.Second) || f < -math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%w: %q is out of range", ErrInvalidValue, clip(s))
		}
		d = time.Duration(f * float64(time.Second))
	} else {
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%w: %q is not seconds or a duration like 30s", ErrInvalidValue, clip(s))
		}
	}
	if d < 0 {
		return 0, fmt.Errorf("%w: %q is negative", ErrInvalidValue, clip(s))
	}
	return d, nil
}

// parseInt reads a decimal integer.
func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an integer", ErrInvalidValue, clip(s))
	}
	return n, nil
}

// parsePort reads a TCP port, 0..65535.
func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return 0, fmt.Errorf("%w: %q is not a port (0-65535)", ErrInvalidValue, clip(s))
	}
	return n, nil
}

// parseFloat reads a finite decimal number.
func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: %q is not a number", ErrInvalidValue, clip(s))
	}
	return f, nil
}

// parseMode reads an octal file mode such as 0600 or 640.
func parseMode(s string) (os.FileMode, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || n > 0o777 {
		return 0, fmt.Errorf("%w: %q is not an octal file mode like 0600", ErrInvalidValue, clip(s))
	}
	return os.FileMode(n), nil
}

// checkValue checks the syntax of a value for its kind. Empty means unset.
func checkValue(ki KeyInfo, v string) error {
	if v == "" {
		return nil
	}
	var err error
	switch ki.Kind {
	case KindBool:
		_, err = ParseBool(v)
	case KindInt:
		_, err = parseInt(v)
	case KindPort:
		_, err = parsePort(v)
	case KindFloat:
		_, err = parseFloat(v)
	case KindDuration:
		_, err = parseSeconds(v)
	case KindMode:
		_, err = parseMode(v)
	case KindEnum:
		if !slices.Contains(ki.Enum, v) {
			err = fmt.Errorf("%w: %q is not one of %s", ErrInvalidValue, clip(v), strings.Join(ki.Enum, ", "))
		}
	}
	return err
}

// splitList splits a comma list, trimming items and dropping empty ones.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// splitPaths splits a path list on the OS list separator (':' or ';').
func splitPaths(s string) []string {
	var out []string
	for _, item := range filepath.SplitList(s) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// expandHome replaces a leading ~ (alone or followed by a separator) with
// the home directory. ~user is left alone.
func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return p
	}
	return filepath.Join(home, p[1:])
}

// resolvePath expands ~ and makes a relative path relative to dir.
func resolvePath(dir, p string) string {
	p = expandHome(p)
	if p == "" || filepath.IsAbs(p) || dir == "" {
		return p
	}
	return filepath.Join(dir, p)
}

// suggest returns the known key nearest to key, or "" when none is
// reasonably close. A known key that only lacks the plugin. prefix wins,
// then the shortest known key that a long enough key abbreviates
// (plugin.security.file.cert), then the smallest edit distance.
func suggest(key string) string {
	if _, ok := Lookup("plugin." + key); ok {
		return "plugin." + key
	}
	pat := patternOf(key)
	best, bestD, prefix := "", math.MaxInt, ""
	for _, ki := range knownKeys {
		if len(pat) >= 8 && strings.HasPrefix(ki.Key, pat) && (prefix == "" || len(ki.Key) < len(prefix)) {
			prefix = ki.Key
		}
		if d := levenshtein(pat, ki.Key, bestD); d < bestD {
			best, bestD = ki.Key, d
		}
	}
	switch {
	case prefix != "":
		best = prefix
	case best == "" || bestD > 1+len(pat)/5 || bestD*2 >= len(pat):
		return ""
	}
	return renderPattern(best, key)
}

// renderPattern fills the <n> segments of pattern with the numbers used in
// key, in order (plugin.activemq.pool.<n>.host + …pool.2.hots → …pool.2.host).
func renderPattern(pattern, key string) string {
	if !strings.Contains(pattern, "<n>") {
		return pattern
	}
	var nums []string
	for _, s := range strings.Split(key, ".") {
		if s != "" && strings.Trim(s, "0123456789") == "" {
			nums = append(nums, s)
		}
	}
	segs := strings.Split(pattern, ".")
	for i, s := range segs {
		if s == "<n>" && len(nums) > 0 {
			segs[i], nums = nums[0], nums[1:]
		}
	}
	return strings.Join(segs, ".")
}

// EditDistance is the Levenshtein distance of a and b (bytes), or limit
// when it is limit or more: the measure behind the "did you mean" of
// configuration keys, for other suggestions (the CLI's agent names).
func EditDistance(a, b string, limit int) int { return levenshtein(a, b, limit) }

// levenshtein is the edit distance of a and b (bytes); it gives up and
// returns limit once every cell of a row reaches limit.
func levenshtein(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
