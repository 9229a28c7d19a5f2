//go:build !linux

package filemgr

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// statDetails returns the mode and modification time of st.
func statDetails(st fs.FileInfo) map[string]any {
	return map[string]any{"mode": "0" + st.Mode().Perm().String(), "mtime": st.ModTime().UTC().Format(time.RFC3339),
		"mtime_seconds": st.ModTime().Unix()}
}

func openNoFollow(p string) (*os.File, error) { return os.Open(p) }

func touch(p string) error {
	st, err := os.Lstat(p)
	if err == nil && st.Mode()&fs.ModeSymlink != 0 {
		return errors.New("it is a symbolic link; touch its target")
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	now := time.Now()
	return os.Chtimes(p, now, now)
}
