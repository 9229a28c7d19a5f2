// Package filemgr is the filemgr agent: status, touch and remove of one
// file, with the names, inputs and outputs of Choria's filemgr agent
// (choria-plugins/filemgr-agent), so `choria req filemgr status
// file=/etc/motd` and `tutti rpc filemgr status file=/etc/motd` mean the
// same.
//
// Paths are checked twice, by the DDL on the node before authorization
// and by the agent itself: absolute, no NUL byte, at most 4096 bytes, and
// clean (no "..", "." or "//" elements, no trailing '/'), so what the
// ActionPolicy and the audit record see is the file acted on. A refused
// path gets status 4 and the file system is not touched.
//
// Without a file input the actions use plugin.filemgr.touch_file (default
// /var/run/tutti.filemgr.touch; set the key to Choria's file to share it),
// the file monitoring touches to check a fleet end to end.
//
// status reads a symbolic link itself (lstat), not its target, and hashes
// regular files only (MD5 and SHA-256, reading until the action's
// timeout). touch creates a missing file (mode 0644 before the umask) or
// sets an existing one's times to now; it refuses a symbolic link as the
// last element (so a link planted in a world-writable directory cannot
// make it create a file elsewhere). remove removes files, symbolic links,
// sockets and fifos, never directories.
package filemgr

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tuttifleet/tutti/agents"
	"github.com/tuttifleet/tutti/agents/ddl"
)

//go:embed filemgr.json
var ddlJSON []byte

// DDL describes the filemgr agent.
var DDL = ddl.MustParse(ddlJSON)

// ConfigKey names the default file in the node configuration (Choria's
// key).
const ConfigKey = "plugin.filemgr.touch_file"

// DefaultFile is the file used without a file input or ConfigKey.
const DefaultFile = "/var/run/tutti.filemgr.touch"

// MaxPathLength bounds a path (PATH_MAX on Linux).
const MaxPathLength = 4096

func init() {
	agents.RegisterDDL(DDL)
	agents.Register("filemgr", New)
}

// New builds the filemgr agent for node n.
func New(n agents.Node) (agents.Agent, error) {
	file, _ := n.ConfigItem(ConfigKey)
	return NewWith(file)
}

// NewWith builds the filemgr agent with the given default file (empty:
// DefaultFile).
func NewWith(defaultFile string) (agents.Agent, error) {
	if defaultFile == "" {
		defaultFile = DefaultFile
	}
	if err := ValidPath(defaultFile); err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigKey, err)
	}
	m := &mgr{defaultFile: defaultFile}
	return agents.NewFromDDL(DDL).Action("status", m.status).Action("touch", m.touch).Action("remove", m.remove), nil
}

type mgr struct{ defaultFile string }

// ValidPath checks a path: the reason says what is wrong.
func ValidPath(p string) error {
	switch {
	case p == "":
		return errors.New("the path is empty")
	case len(p) > MaxPathLength:
		return fmt.Errorf("the path is %d bytes long, more than %d", len(p), MaxPathLength)
	case strings.IndexByte(p, 0) >= 0:
		return fmt.Errorf("the path %q contains a NUL byte", clip(p))
	case p[0] != '/':
		return fmt.Errorf("the path %q is not absolute", clip(p))
	case filepath.Clean(p) != p:
		return fmt.Errorf("the path %q is not clean (no '..', '.', '//' or trailing '/'); write %q", clip(p), clip(filepath.Clean(p)))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 96 {
		return s[:96] + "…"
	}
	return s
}

type input struct {
	File    *string `json:"file"`
	Dirlist bool    `json:"dirlist"`
}

// file reads and checks the request's input.
func (m *mgr) file(req *agents.Request) (string, input, error) {
	var in input
	if err := json.Unmarshal(req.Data, &in); err != nil {
		return "", in, agents.InvalidData("Could not process request: %v", err)
	}
	if in.File == nil {
		return m.defaultFile, in, nil
	}
	if err := ValidPath(*in.File); err != nil {
		return "", in, agents.InvalidData("Validation failed: file: %v", err)
	}
	return *in.File, in, nil
}

func (m *mgr) status(ctx context.Context, req *agents.Request) (any, error) {
	p, in, err := m.file(req)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"name": p, "output": "not present", "present": 0, "type": "unknown", "mode": "0000",
		"size": 0, "uid": 0, "gid": 0, "mtime_seconds": 0, "ctime_seconds": 0, "atime_seconds": 0}
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return out, agents.Abort("%s does not exist", p)
	}
	if err != nil {
		return out, agents.Abort("Could not get the status of %s: %v", p, err)
	}
	out["output"], out["present"], out["type"] = "present", 1, fileType(st.Mode())
	out["size"] = st.Size()
	for k, v := range statDetails(st) {
		out[k] = v
	}
	if st.Mode().IsRegular() {
		sums, err := digests(ctx, p, st)
		if err != nil {
			return out, agents.Abort("Could not read %s: %v", p, err)
		}
		out["md5"], out["sha256"] = sums[0], sums[1]
	}
	if st.IsDir() && in.Dirlist {
		entries, err := os.ReadDir(p)
		if err != nil {
			return out, agents.Abort("Could not list %s: %v", p, err)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		out["dir_listing"] = names
	}
	return out, nil
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "file"
	case m.IsDir():
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "fifo"
	case m&fs.ModeCharDevice != 0:
		return "chardev"
	case m&fs.ModeDevice != 0:
		return "blockdev"
	}
	return "unknown"
}

// digests returns the MD5 and SHA-256 of the regular file p, which must
// still be the file st describes; reading stops when ctx ends.
func digests(ctx context.Context, p string, st fs.FileInfo) ([2]string, error) {
	var sums [2]string
	f, err := openNoFollow(p)
	if err != nil {
		return sums, err
	}
	defer f.Close()
	fst, err := f.Stat()
	if err != nil {
		return sums, err
	}
	if !fst.Mode().IsRegular() || !os.SameFile(st, fst) {
		return sums, errors.New("the file was replaced while it was read")
	}
	m, s := md5.New(), sha256.New()
	w := io.MultiWriter(m, s)
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return sums, fmt.Errorf("the digest took longer than the action's timeout: %w", err)
		}
		n, err := f.Read(buf)
		w.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return sums, err
		}
	}
	return [2]string{hexSum(m), hexSum(s)}, nil
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

func (m *mgr) touch(_ context.Context, req *agents.Request) (any, error) {
	p, _, err := m.file(req)
	if err != nil {
		return nil, err
	}
	if err := touch(p); err != nil {
		return nil, agents.Abort("Could not touch file %s: %v", p, err)
	}
	return map[string]any{}, nil
}

func (m *mgr) remove(_ context.Context, req *agents.Request) (any, error) {
	p, _, err := m.file(req)
	if err != nil {
		return nil, err
	}
	st, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, agents.Abort("Could not remove file %s: it is not present", p)
	case err != nil:
		return nil, agents.Abort("Could not remove file %s: %v", p, err)
	case st.IsDir():
		return nil, agents.Abort("Could not remove file %s: it is a directory; filemgr removes files only", p)
	}
	if err := os.Remove(p); err != nil {
		return nil, agents.Abort("Could not remove file %s: %v", p, err)
	}
	return map[string]any{}, nil
}

var _ agents.Constructor = New
