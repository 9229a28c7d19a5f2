package filemgr

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// statDetails returns the owner, mode and times of st, Choria's way: mode
// is the octal st_mode with the file type bits (100644).
func statDetails(st fs.FileInfo) map[string]any {
	out := map[string]any{}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return out
	}
	out["mode"] = strconv.FormatUint(uint64(sys.Mode), 8)
	out["uid"], out["gid"] = sys.Uid, sys.Gid
	if u, err := user.LookupId(strconv.FormatUint(uint64(sys.Uid), 10)); err == nil {
		out["owner"] = u.Username
	}
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(sys.Gid), 10)); err == nil {
		out["group"] = g.Name
	}
	for name, ts := range map[string]syscall.Timespec{"mtime": sys.Mtim, "ctime": sys.Ctim, "atime": sys.Atim} {
		t := time.Unix(ts.Sec, ts.Nsec)
		out[name] = t.UTC().Format(time.RFC3339)
		out[name+"_seconds"] = ts.Sec
	}
	return out
}

// openNoFollow opens p for reading, refusing a symbolic link as the last
// element and never blocking on a fifo.
func openNoFollow(p string) (*os.File, error) {
	return os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
}

// touch creates p or sets its times to now. A symbolic link as the last
// element is refused; a directory or another existing non-regular file
// gets its times set.
func touch(p string) error {
	st, err := os.Lstat(p)
	switch {
	case err == nil && st.Mode()&fs.ModeSymlink != 0:
		return errors.New("it is a symbolic link; touch its target")
	case err == nil && !st.Mode().IsRegular():
		now := unix.NsecToTimespec(time.Now().UnixNano())
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{now, now}, unix.AT_SYMLINK_NOFOLLOW)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0o644)
	if errors.Is(err, syscall.ELOOP) {
		return errors.New("it is a symbolic link; touch its target")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	now := unix.NsecToTimeval(time.Now().UnixNano())
	return unix.Futimes(int(f.Fd()), []unix.Timeval{now, now})
}
