package kernel

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/events"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func boot(t *testing.T) (*Machine, *Process) {
	t.Helper()
	m, err := Boot(Config{})
	require.NoError(t, err)
	return m, m.NewProcess(ProcessOptions{Umask: 022})
}

func newArray(t *testing.T, p *Process) int {
	t.Helper()
	fd, err := p.MapCreate(bpf.MapSpec{Type: bpf.MapArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	require.NoError(t, err)
	return fd
}

func newProg(t *testing.T, p *Process) int {
	t.Helper()
	fd, _, err := p.ProgLoad(ProgLoadAttr{Section: "syscall", License: "GPL", Insns: asm.Instructions{asm.Mov.Imm(asm.R0, 7), asm.Return()}})
	require.NoError(t, err)
	return fd
}

func TestPinLifecycle(t *testing.T) {
	m, p := boot(t)
	rec := m.Events().Record()
	mfd := newArray(t, p)
	require.NoError(t, p.ObjPin(mfd, "/sys/fs/bpf/m"))
	st, err := p.Stat("/sys/fs/bpf/m")
	require.NoError(t, err)
	require.Equal(t, uint32(unix.S_IFREG|0600), st.Mode)
	require.Equal(t, uint32(1), st.Nlink)
	require.Equal(t, int64(0), st.Size)

	mp, err := m.BPF().MapByID(1)
	require.NoError(t, err)
	require.Equal(t, int64(3), mp.Refs(), "fd, pin, and this lookup")
	mp.Put()
	require.Equal(t, "/sys/fs/bpf/m", pathOf(t, m, mp))

	// A second pin does not move the back pointer (RFC patch 2).
	require.NoError(t, p.ObjPin(mfd, "/sys/fs/bpf/m2"))
	require.Equal(t, "/sys/fs/bpf/m", pathOf(t, m, mp))

	require.NoError(t, p.Close(mfd))
	require.NoError(t, p.Unlink("/sys/fs/bpf/m"))
	require.Nil(t, mp.BackingInode(), "cleared by the first pin's death")
	require.False(t, mp.Freed())
	// An open fd of a pinned map keeps the inode — and the object — alive.
	fd, err := p.ObjGet("/sys/fs/bpf/m2", 0)
	require.NoError(t, err)
	require.NoError(t, p.Unlink("/sys/fs/bpf/m2"))
	require.False(t, mp.Freed(), "the ObjGet fd holds it")
	require.NoError(t, p.Close(fd))
	require.True(t, mp.Freed())
	require.Equal(t, []events.Kind{events.MapCreated, events.Pinned, events.Pinned, events.Unpinned, events.Unpinned, events.ObjectFreed}, rec.Kinds())
}

func pathOf(t *testing.T, m *Machine, o bpf.Object) string {
	in := o.BackingInode()
	if in == nil {
		return ""
	}
	ents, err := m.VFS().ReadDir(m.vfsRoot(), BPFFSPath)
	require.NoError(t, err)
	for _, e := range ents {
		if e.Ino == in.Ino() {
			return BPFFSPath + "/" + e.Name
		}
	}
	return "?"
}

func TestBPFFSErrnos(t *testing.T) {
	_, p := boot(t)
	mfd := newArray(t, p)
	pfd := newProg(t, p)
	require.NoError(t, p.ObjPin(pfd, "/sys/fs/bpf/prog"))
	require.NoError(t, p.ObjPin(mfd, "/sys/fs/bpf/map"))
	require.NoError(t, p.Mkdir("/sys/fs/bpf/dir", 0777))
	require.NoError(t, p.ObjPin(mfd, "/sys/fs/bpf/dir/map"))

	cases := []struct {
		name string
		op   func() error
		want error
	}{
		{"pin over existing", func() error { return p.ObjPin(mfd, "/sys/fs/bpf/map") }, unix.EEXIST},
		{"pin into missing dir", func() error { return p.ObjPin(mfd, "/sys/fs/bpf/nodir/x") }, unix.ENOENT},
		{"pin name with a dot", func() error { return p.ObjPin(mfd, "/sys/fs/bpf/a.b") }, unix.EPERM},
		{"pin outside bpffs", func() error { return p.ObjPin(mfd, "/tmp/m") }, unix.EPERM},
		{"pin a non-object fd", func() error { return p.ObjPin(999, "/sys/fs/bpf/y") }, unix.EINVAL},
		{"mkdir with a dot", func() error { return p.Mkdir("/sys/fs/bpf/d.x", 0755) }, unix.EPERM},
		{"stat of a missing dotted name", func() error { _, err := p.Stat("/sys/fs/bpf/nosuch.x"); return err }, unix.EPERM},
		{"O_CREAT", func() error { _, err := p.Open("/sys/fs/bpf/new", unix.O_CREAT|unix.O_WRONLY, 0644); return err }, unix.EACCES},
		{"mknod fifo", func() error { return p.Mknod("/sys/fs/bpf/fifo", unix.S_IFIFO|0644, 0) }, unix.EPERM},
		{"mknod regular", func() error { return p.Mknod("/sys/fs/bpf/reg", unix.S_IFREG|0644, 0) }, unix.EACCES},
		{"open pinned prog", func() error { _, err := p.Open("/sys/fs/bpf/prog", unix.O_RDONLY, 0); return err }, unix.EIO},
		{"open pinned map without BTF", func() error { _, err := p.Open("/sys/fs/bpf/map", unix.O_RDONLY, 0); return err }, unix.EIO},
		{"open preload entry", func() error { _, err := p.Open("/sys/fs/bpf/maps.debug", unix.O_RDONLY, 0); return err }, unix.ENOENT},
		{"unlink preload entry", func() error { return p.Unlink("/sys/fs/bpf/progs.debug") }, unix.EPERM},
		{"rmdir non-empty", func() error { return p.Rmdir("/sys/fs/bpf/dir") }, unix.ENOTEMPTY},
		{"rmdir a pin", func() error { return p.Rmdir("/sys/fs/bpf/map") }, unix.ENOTDIR},
		{"unlink a dir", func() error { return p.Unlink("/sys/fs/bpf/dir") }, unix.EISDIR},
		{"rmdir the root", func() error { return p.Rmdir("/sys/fs/bpf") }, unix.EBUSY},
		{"rename noreplace onto existing", func() error { return p.Rename("/sys/fs/bpf/map", "/sys/fs/bpf/prog", unix.RENAME_NOREPLACE) }, unix.EEXIST},
		{"rename whiteout", func() error { return p.Rename("/sys/fs/bpf/map", "/sys/fs/bpf/w", unix.RENAME_WHITEOUT) }, unix.EINVAL},
		{"rename across file systems", func() error { return p.Rename("/sys/fs/bpf/map", "/tmp/map", 0) }, unix.EXDEV},
		{"link a dir", func() error { return p.Link("/sys/fs/bpf/dir", "/sys/fs/bpf/dir2") }, unix.EPERM},
		{"get a dir", func() error { _, err := p.ObjGet("/sys/fs/bpf/dir", 0); return err }, unix.EACCES},
		{"get a non-bpffs file", func() error { _, err := p.ObjGet("/tmp", 0); return err }, unix.EACCES},
		{"get missing", func() error { _, err := p.ObjGet("/sys/fs/bpf/none", 0); return err }, unix.ENOENT},
		{"get with both flags", func() error { _, err := p.ObjGet("/sys/fs/bpf/map", BPF_F_RDONLY|BPF_F_WRONLY); return err }, unix.EINVAL},
		{"setxattr-like unknown flags", func() error { _, err := p.ObjGet("/sys/fs/bpf/map", 1); return err }, unix.EINVAL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.ErrorIs(t, tc.op(), tc.want)
		})
	}

	// What succeeds.
	require.NoError(t, p.Link("/sys/fs/bpf/map", "/sys/fs/bpf/hard"))
	st, err := p.Stat("/sys/fs/bpf/map")
	require.NoError(t, err)
	require.Equal(t, uint32(2), st.Nlink)
	require.NoError(t, p.Symlink("map", "/sys/fs/bpf/sym"))
	fd, err := p.ObjGet("/sys/fs/bpf/sym", BPF_F_RDONLY)
	require.NoError(t, err, "BPF_OBJ_GET follows symlinks")
	require.ErrorIs(t, p.MapUpdate(fd, make([]byte, 4), make([]byte, 8), 0), unix.EPERM, "read-only map fd")
	require.NoError(t, p.Rename("/sys/fs/bpf/map", "/sys/fs/bpf/dir", unix.RENAME_EXCHANGE))
	st, err = p.Stat("/sys/fs/bpf/map")
	require.NoError(t, err)
	require.True(t, st.Mode&unix.S_IFDIR != 0)
	root, err := p.Stat("/sys/fs/bpf")
	require.NoError(t, err)
	require.Equal(t, uint32(unix.S_IFDIR|01777), root.Mode)
	require.Equal(t, uint64(1), root.Ino)
	sfs, err := p.Statfs("/sys/fs/bpf")
	require.NoError(t, err)
	require.Equal(t, int64(0xcafe4a11), sfs.Type)

	// umask shapes the pin's mode.
	p.Umask(0277)
	require.NoError(t, p.ObjPin(mfd, "/sys/fs/bpf/ro"))
	st, err = p.Stat("/sys/fs/bpf/ro")
	require.NoError(t, err)
	require.Equal(t, uint32(unix.S_IFREG|0400), st.Mode)
}

// Non-root callers: the sticky root, 0600 pins, BPF_OBJ_GET permission.
func TestBPFFSPermissions(t *testing.T) {
	m, root := boot(t)
	mfd := newArray(t, root)
	require.NoError(t, root.ObjPin(mfd, "/sys/fs/bpf/rootmap"))
	user := m.NewProcess(ProcessOptions{UID: 1000, GID: 1000, Umask: 022})
	_, err := user.ObjGet("/sys/fs/bpf/rootmap", 0)
	require.ErrorIs(t, err, unix.EACCES, "0600 root-owned")
	require.ErrorIs(t, user.Unlink("/sys/fs/bpf/rootmap"), unix.EPERM, "sticky root")
	umfd := newArray(t, user)
	require.NoError(t, user.ObjPin(umfd, "/sys/fs/bpf/usermap"), "the root is world-writable")
	st, err := user.Stat("/sys/fs/bpf/usermap")
	require.NoError(t, err)
	require.Equal(t, uint32(1000), st.UID)
	require.NoError(t, user.Unlink("/sys/fs/bpf/usermap"), "own file in a sticky dir")
	_, err = user.GetFDByID(bpf.TypeMap, 1)
	require.ErrorIs(t, err, unix.EPERM)
}

func TestProcessExitClosesFDs(t *testing.T) {
	m, p := boot(t)
	mfd := newArray(t, p)
	key := make([]byte, 4)
	val := binary.LittleEndian.AppendUint64(nil, 42)
	require.NoError(t, p.MapUpdate(mfd, key, val, 0))
	got, err := p.MapLookup(mfd, key)
	require.NoError(t, err)
	require.Equal(t, val, got)
	mp, err := m.BPF().MapByID(1)
	require.NoError(t, err)
	mp.Put()
	p.Exit()
	require.True(t, mp.Freed())
	_, err = p.Open("/tmp", unix.O_RDONLY, 0)
	require.ErrorIs(t, err, unix.ESRCH)
}

// NAME_MAX is a file system's rule, not the VFS's: bpffs (simple_lookup)
// refuses names over 255 bytes, cgroup2 (kernfs) takes them, as the running
// kernel does.
func TestLongNames(t *testing.T) {
	_, p := boot(t)
	long := strings.Repeat("a", 256)
	require.ErrorIs(t, p.Mkdir("/sys/fs/bpf/"+long, 0755), unix.ENAMETOOLONG)
	_, err := p.Stat("/sys/fs/bpf/" + long)
	require.ErrorIs(t, err, unix.ENAMETOOLONG)
	require.NoError(t, p.Mkdir("/sys/fs/cgroup/"+long, 0755))
	_, err = p.Stat("/sys/fs/cgroup/" + strings.Repeat("b", 300))
	require.ErrorIs(t, err, unix.ENOENT)
	require.NoError(t, p.Rmdir("/sys/fs/cgroup/"+long))
}
