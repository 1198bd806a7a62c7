package kernfs_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// xattrEnv is a root with user xattrs (as cgroup2 has), a directory d
// (0777), a file d/f (0644) and a read-only file d/ro (0444), all root's.
func xattrEnv(t *testing.T, flags kernfs.RootFlags) (*env, map[string]*vfs.Inode) {
	e := newEnv(t, kernfs.RootOptions{Flags: flags})
	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0777})
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, d, "f", kernfs.Attr{Mode: 0644}, constOps(""))
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, d, "ro", kernfs.Attr{Mode: 0444}, constOps(""))
	require.NoError(t, err)
	in := map[string]*vfs.Inode{}
	for _, p := range []string{"/k", "/k/d", "/k/d/f", "/k/d/ro"} {
		i, err := e.v.Resolve(e.c, p, true)
		require.NoError(t, err)
		in[p] = i
	}
	return e, in
}

var nobody = &vfs.Caller{Cred: vfs.Cred{UID: 65534, GID: 65534}}

func errName(err error) string {
	if err == nil {
		return "ok"
	}
	return unix.ErrnoName(vfs.Errno(err))
}

// TestXattrs follows what Linux 6.18 answers on a cgroup2 mount (the
// observations are in the comments' terms: root, nobody).
func TestXattrs(t *testing.T) {
	e, in := xattrEnv(t, kernfs.SupportUserXattr)
	root := e.c
	set := func(c *vfs.Caller, p, name, val string, flags int) string {
		return errName(e.r.Setxattr(c, in[p], name, []byte(val), flags))
	}
	get := func(c *vfs.Caller, p, name string) string {
		v, err := e.r.Getxattr(c, in[p], name)
		if err != nil {
			return errName(err)
		}
		return "=" + string(v)
	}
	rm := func(c *vfs.Caller, p, name string) string { return errName(e.r.Removexattr(c, in[p], name)) }
	list := func(c *vfs.Caller, p string) string {
		l, err := e.r.Listxattr(c, in[p])
		if err != nil {
			return errName(err)
		}
		return strings.Join(l, ",")
	}
	steps := []struct{ got, want string }{
		{list(root, "/k/d"), ""},
		{set(root, "/k/d", "user.a", "1", 0), "ok"},
		{get(root, "/k/d", "user.a"), "=1"},
		{set(root, "/k/d", "user.a", "2", unix.XATTR_CREATE), "EEXIST"},
		{set(root, "/k/d", "user.b", "2", unix.XATTR_REPLACE), "ENODATA"},
		{set(root, "/k/d", "user.a", "3", unix.XATTR_REPLACE), "ok"},
		{get(root, "/k/d", "user.a"), "=3"},
		{set(root, "/k/d", "user.a", "3", 4), "EINVAL"},
		{set(root, "/k/d/f", "user.a", "x", 0), "ok"},
		{get(root, "/k/d", "user.nope"), "ENODATA"},
		{set(root, "/k/d", "user.", "x", 0), "EINVAL"},
		{set(root, "/k/d", "trusted.z", "x", 0), "ok"},
		{get(root, "/k/d", "trusted.z"), "=x"},
		{set(root, "/k/d", "security.m", "x", 0), "ok"},
		{set(root, "/k/d", "foo.a", "x", 0), "ENOTSUP"},
		{set(root, "/k/d", "system.a", "x", 0), "ENOTSUP"},
		{set(root, "/k/d", "", "x", 0), "ERANGE"},
		{set(root, "/k/d", "user.e", "", 0), "ok"},
		{get(root, "/k/d", "user.e"), "="},
		{set(root, "/k/d", "user.aa", "x", 0), "ok"},
		{list(root, "/k/d"), "user.e,user.aa,user.a,trusted.z,security.m"},
		{list(root, "/k/d/f"), "user.a"},
		{set(root, "/k/d", "user.big", strings.Repeat("x", 1<<16), 0), "ok"},
		{set(root, "/k/d", "user.big2", strings.Repeat("x", 1<<16+1), 0), "E2BIG"},
		{set(root, "/k/d", "user."+strings.Repeat("n", 250), "x", 0), "ok"},
		{set(root, "/k/d", "user."+strings.Repeat("n", 251), "x", 0), "ERANGE"},
		{get(root, "/k/d", "user."+strings.Repeat("n", 251)), "ERANGE"},
		{rm(root, "/k/d", "user.aa"), "ok"},
		{rm(root, "/k/d", "user.aa"), "ENODATA"},
		{set(root, "/k", "user.root", "r", 0), "ok"},

		// nobody: trusted.* is hidden; user.* follows the mode bits.
		{list(nobody, "/k/d"), strings.Join([]string{"user." + strings.Repeat("n", 250), "user.e", "user.big", "user.a", "security.m"}, ",")},
		{get(nobody, "/k/d", "user.a"), "=3"},
		{get(nobody, "/k/d", "trusted.z"), "ENODATA"},
		{get(nobody, "/k/d", "security.m"), "=x"},
		{set(nobody, "/k/d", "user.n", "1", 0), "ok"},
		{set(nobody, "/k/d/f", "user.n", "1", 0), "EACCES"},
		{set(nobody, "/k/d/ro", "user.n", "1", 0), "EACCES"},
		{set(nobody, "/k", "user.n", "1", 0), "EACCES"},
		{set(nobody, "/k/d", "trusted.q", "1", 0), "EPERM"},
		{set(nobody, "/k/d", "security.q", "1", 0), "EPERM"},
		{rm(nobody, "/k/d", "trusted.z"), "EPERM"},
		{get(nobody, "/k/d/f", "user.a"), "=x"},
	}
	for i, s := range steps {
		require.Equal(t, s.want, s.got, "step %d", i)
	}
}

// TestXattrUserLimits: 128 user.* attributes and 128 KiB of their values
// per node; at the limit even a replacement is ENOSPC, as
// kernfs_vfs_user_xattr_add counts before it looks.
func TestXattrUserLimits(t *testing.T) {
	e, in := xattrEnv(t, kernfs.SupportUserXattr)
	d := in["/k/d"]
	for i := 0; i < 128; i++ {
		require.NoError(t, e.r.Setxattr(e.c, d, fmt.Sprintf("user.k%d", i), []byte("v"), 0))
	}
	require.ErrorIs(t, e.r.Setxattr(e.c, d, "user.k128", []byte("v"), 0), unix.ENOSPC)
	require.ErrorIs(t, e.r.Setxattr(e.c, d, "user.k0", []byte("w"), 0), unix.ENOSPC, "replacing at the count limit")
	require.NoError(t, e.r.Setxattr(e.c, d, "trusted.t", []byte("v"), 0), "other namespaces do not count")
	require.NoError(t, e.r.Removexattr(e.c, d, "user.k0"))
	require.NoError(t, e.r.Setxattr(e.c, d, "user.k128", []byte("v"), 0))

	f := in["/k/d/f"]
	big := make([]byte, 1<<16)
	require.NoError(t, e.r.Setxattr(e.c, f, "user.s0", big, 0))
	require.NoError(t, e.r.Setxattr(e.c, f, "user.s1", big, 0))
	require.ErrorIs(t, e.r.Setxattr(e.c, f, "user.s2", []byte("x"), 0), unix.ENOSPC)
	require.ErrorIs(t, e.r.Setxattr(e.c, f, "user.s1", big[:1], 0), unix.ENOSPC, "replacing at the size limit")
	require.NoError(t, e.r.Removexattr(e.c, f, "user.s1"))
	require.NoError(t, e.r.Setxattr(e.c, f, "user.s2", big, 0))
}

// TestXattrNoUserSupport: without SupportUserXattr only trusted.* and
// security.* can be set.
func TestXattrNoUserSupport(t *testing.T) {
	e, in := xattrEnv(t, 0)
	require.ErrorIs(t, e.r.Setxattr(e.c, in["/k/d"], "user.a", []byte("1"), 0), unix.EOPNOTSUPP)
	_, err := e.r.Getxattr(e.c, in["/k/d"], "user.a")
	require.ErrorIs(t, err, unix.ENODATA)
	require.NoError(t, e.r.Setxattr(e.c, in["/k/d"], "security.a", []byte("1"), 0))
}

// TestXattrsLiveInTheNode: a value set through one VFS inode of a node is
// seen through the next one (kernfs keeps them in the node), and they go
// with the node.
func TestXattrsLiveInTheNode(t *testing.T) {
	e, in := xattrEnv(t, kernfs.SupportUserXattr)
	f := in["/k/d/f"]
	require.NoError(t, e.r.Setxattr(e.c, f, "user.a", []byte("1"), 0))
	kn := kernfs.NodeOf(f)
	e.r.Show(nil, kn, false) // a hidden file's VFS inode is replaced when shown
	e.r.Show(nil, kn, true)
	f2, err := e.v.Resolve(e.c, "/k/d/f", true)
	require.NoError(t, err)
	require.NotSame(t, f, f2)
	v, err := e.r.Getxattr(e.c, f2, "user.a")
	require.NoError(t, err)
	require.Equal(t, "1", string(v))
}
