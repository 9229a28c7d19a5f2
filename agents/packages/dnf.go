package packages

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// dnf manages packages with dnf (or yum) and rpm.
type dnf struct{ dir, dnf string }

func (d *dnf) name() string { return "dnf" }
func (d *dnf) rpm() string  { return filepath.Join(d.dir, "rpm") }

// status reads rpm's database: version-release when installed, else
// absent.
func (d *dnf) status(ctx context.Context, pkg string) (state, error) {
	st := state{Name: pkg, Ensure: "absent", Provider: "dnf"}
	res := run(ctx, d.rpm(), "-q", "--qf", "%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n", "--", pkg)
	if !ok(res) {
		if res.Err == nil && !res.TimedOut && res.ExitCode == 1 && strings.Contains(string(res.Stdout)+string(res.Stderr), "is not installed") {
			return st, nil
		}
		return st, failure(d.rpm(), res)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(res.Stdout)), "\n")
	f := strings.Split(line, "\t")
	if len(f) != 5 {
		return st, fmt.Errorf("rpm printed %q, not name, epoch, version, release and arch", clip(line))
	}
	st.Epoch, st.Version, st.Release, st.Arch = f[1], f[2], f[3], f[4]
	st.Ensure = f[2] + "-" + f[3]
	return st, nil
}

func (d *dnf) change(ctx context.Context, verb, pkg, version string, before state) (string, error) {
	var args []string
	switch verb {
	case "install":
		target := pkg
		if version != "" {
			target += "-" + version
		}
		args = []string{"install", "-y", "--", target}
	case "update":
		if !before.isInstalled() {
			return "", fmt.Errorf("%s is not installed", pkg)
		}
		args = []string{"upgrade", "-y", "--", pkg}
	case "uninstall", "purge":
		if !before.isInstalled() {
			return "", nil
		}
		args = []string{"remove", "-y", "--", pkg}
	default:
		return "", fmt.Errorf("unknown change %s", verb)
	}
	res := run(ctx, d.dnf, args...)
	if !ok(res) {
		return tail(res), failure(d.dnf, res)
	}
	return tail(res), nil
}

func (d *dnf) installed(ctx context.Context) ([]string, error) {
	res := run(ctx, d.rpm(), "-qa", "--qf", "%{NAME}-%{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}\n")
	if !ok(res) {
		return nil, failure(d.rpm(), res)
	}
	var out []string
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out, nil
}
