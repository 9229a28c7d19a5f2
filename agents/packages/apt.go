package packages

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// apt manages packages with apt-get, apt-cache and dpkg-query.
type apt struct{ dir string }

func (a *apt) name() string         { return "apt" }
func (a *apt) tool(n string) string { return filepath.Join(a.dir, n) }

const dpkgFormat = "${binary:Package}\t${db:Status-Abbrev}\t${Version}\t${Architecture}\n"

// status reads dpkg's database: a version when installed, absent when
// only configuration files are left, purged when dpkg has no trace of
// the package (Puppet's dpkg provider's words).
func (a *apt) status(ctx context.Context, pkg string) (state, error) {
	st := state{Name: pkg, Ensure: "purged", Provider: "apt"}
	res := run(ctx, a.tool("dpkg-query"), "-W", "-f="+dpkgFormat, "--", pkg)
	if !ok(res) {
		if res.Err == nil && !res.TimedOut && res.ExitCode == 1 && strings.Contains(string(res.Stderr), "no packages found") {
			return st, nil
		}
		return st, failure(a.tool("dpkg-query"), res)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			continue
		}
		abbrev := strings.TrimSpace(f[1])
		switch {
		case len(abbrev) >= 2 && abbrev[1] == 'i' || len(abbrev) >= 2 && strings.ContainsRune("UFWth", rune(abbrev[1])):
			st.Ensure = f[2]
			st.Epoch, st.Version, st.Release = splitDebVersion(f[2])
			st.Arch = f[3]
			return st, nil
		case len(abbrev) >= 2 && abbrev[1] == 'c':
			st.Ensure, st.Arch = "absent", f[3]
		}
	}
	return st, nil
}

// splitDebVersion splits [epoch:]upstream[-revision].
func splitDebVersion(v string) (epoch, version, release string) {
	epoch = "0"
	if e, rest, found := strings.Cut(v, ":"); found {
		epoch, v = e, rest
	}
	if i := strings.LastIndexByte(v, '-'); i > 0 {
		return epoch, v[:i], v[i+1:]
	}
	return epoch, v, ""
}

func (a *apt) change(ctx context.Context, verb, pkg, version string, before state) (string, error) {
	args := []string{"-y", "-q", "-o", "DPkg::Lock::Timeout=30", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"}
	switch verb {
	case "install":
		// apt-get reads an unknown name with a '.' as a regular
		// expression: install only a name apt-cache knows exactly
		if err := a.known(ctx, pkg); err != nil {
			return "", err
		}
		target := pkg
		if version != "" {
			target += "=" + version
		}
		args = append([]string{"install"}, append(args, "--", target)...)
	case "update":
		if !before.isInstalled() {
			return "", fmt.Errorf("%s is not installed", pkg)
		}
		args = append([]string{"install", "--only-upgrade"}, append(args, "--", pkg)...)
	case "uninstall":
		if !before.isInstalled() {
			return "", nil
		}
		args = append([]string{"remove"}, append(args, "--", pkg)...)
	case "purge":
		if before.Ensure == "purged" {
			return "", nil
		}
		args = append([]string{"purge"}, append(args, "--", pkg)...)
	default:
		return "", fmt.Errorf("unknown change %s", verb)
	}
	res := run(ctx, a.tool("apt-get"), args...)
	if !ok(res) {
		return tail(res), failure(a.tool("apt-get"), res)
	}
	return tail(res), nil
}

// known checks that pkg is the exact name of a package apt knows.
func (a *apt) known(ctx context.Context, pkg string) error {
	base, _, _ := strings.Cut(pkg, ":")
	res := run(ctx, a.tool("apt-cache"), "show", "--no-all-versions", "--", pkg)
	if res.Err != nil || res.TimedOut {
		return failure(a.tool("apt-cache"), res)
	}
	sc := bufio.NewScanner(strings.NewReader(string(res.Stdout)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if sc.Text() == "Package: "+base {
			return nil
		}
	}
	return fmt.Errorf("apt knows no package named %s (apt-get update may be needed)", pkg)
}

func (a *apt) installed(ctx context.Context) ([]string, error) {
	res := run(ctx, a.tool("dpkg-query"), "-W", "-f=${db:Status-Abbrev}\t${binary:Package} ${Version} ${Architecture}\n")
	if !ok(res) {
		return nil, failure(a.tool("dpkg-query"), res)
	}
	var out []string
	for _, line := range strings.Split(string(res.Stdout), "\n") {
		if abbrev, pkg, found := strings.Cut(line, "\t"); found && strings.HasPrefix(abbrev, "ii") {
			out = append(out, pkg)
		}
	}
	sort.Strings(out)
	return out, nil
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
