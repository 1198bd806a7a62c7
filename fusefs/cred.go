package fusefs

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// caller builds the simulated caller of a request: the uid and gid the
// kernel put in the request header (fsuid and fsgid; the real ids for
// ACCESS), no supplementary groups yet, and umask 0 because the kernel has
// already applied the caller's umask to every mode it sends (go-fuse does
// not negotiate FUSE_DONT_MASK).
func (s *Server) caller(ctx context.Context) *vfs.Caller {
	c := &vfs.Caller{}
	if fc, ok := fuse.FromContext(ctx); ok {
		c.Cred.UID = fc.Uid
		c.Cred.GID = fc.Gid
		if s.opts.Task != nil {
			c.Task = s.opts.Task(fc.Pid)
		}
	}
	return c
}

// do runs op as the caller of ctx. The request header carries no
// supplementary groups, so a refusal of a non-root caller (EACCES, EPERM)
// is retried once with the groups read from /proc/PID/status: reading them
// costs a few microseconds, so it is done only when the answer can depend
// on them. The kernel has checked the same permissions with the real
// groups before sending the request (default_permissions), so the retry
// only makes the simulator agree with it. op must not have changed
// anything when it fails, which holds for the vfs system calls: they check
// before they act.
func (s *Server) do(ctx context.Context, op func(c *vfs.Caller) error) syscall.Errno {
	c := s.caller(ctx)
	err := op(c)
	if err == nil {
		return 0
	}
	errno := vfs.Errno(err)
	if (errno != unix.EACCES && errno != unix.EPERM) || c.Cred.UID == 0 {
		return errno
	}
	fc, ok := fuse.FromContext(ctx)
	if !ok {
		return errno
	}
	groups, ok := supplementaryGroups(fc.Pid)
	if !ok || len(groups) == 0 {
		return errno
	}
	c.Cred.Groups = groups
	return vfs.Errno(op(c))
}

// supplementaryGroups reads the Groups line of /proc/PID/status. The pid
// in a FUSE request is the calling thread's, in the server's pid namespace;
// /proc/TID/status gives that thread's credentials.
func supplementaryGroups(pid uint32) ([]uint32, bool) {
	if pid == 0 {
		return nil, false
	}
	data, err := os.ReadFile("/proc/" + strconv.FormatUint(uint64(pid), 10) + "/status")
	if err != nil {
		return nil, false
	}
	return parseGroups(data)
}

func parseGroups(status []byte) ([]uint32, bool) {
	for _, line := range bytes.Split(status, []byte{'\n'}) {
		rest, ok := bytes.CutPrefix(line, []byte("Groups:"))
		if !ok {
			continue
		}
		var groups []uint32
		for _, f := range bytes.Fields(rest) {
			g, err := strconv.ParseUint(string(f), 10, 32)
			if err != nil {
				return nil, false
			}
			groups = append(groups, uint32(g))
		}
		return groups, true
	}
	return nil, false
}
