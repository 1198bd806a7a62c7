package kernfs_test

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/seqfile"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const mnt = "/k"

type env struct {
	v *vfs.VFS
	c *vfs.Caller
	r *kernfs.Root
}

// tb is what newEnv needs of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Errorf(format string, args ...any)
	FailNow()
}

func newEnv(t tb, o kernfs.RootOptions) *env {
	t.Helper()
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	c := vfs.RootCaller()
	if o.Magic == 0 {
		o.Magic = 0x6b65726e
	}
	r := kernfs.NewRoot(v, o)
	require.NoError(t, v.Mkdir(c, mnt, 0755))
	require.NoError(t, v.Mount(c, mnt, r.Superblock()))
	return &env{v: v, c: c, r: r}
}

// textOps is a seq file showing text().
func textOps(text func(of *kernfs.OpenFile) string) *kernfs.Ops {
	return &kernfs.Ops{SeqShow: func(of *kernfs.OpenFile, m *seqfile.Buffer) error {
		_, _ = m.WriteString(text(of))
		return nil
	}}
}

func constOps(s string) *kernfs.Ops {
	return textOps(func(*kernfs.OpenFile) string { return s })
}

func (e *env) open(t testing.TB, path string, flags int) *vfs.File {
	t.Helper()
	f, err := e.v.Open(e.c, path, flags, 0)
	require.NoError(t, err)
	return f
}

// readAll reads f to EOF with reads of n bytes.
func readAll(f *vfs.File, n int) (string, error) {
	var b strings.Builder
	buf := make([]byte, n)
	for {
		k, err := f.Read(buf)
		b.Write(buf[:k])
		if err != nil {
			return b.String(), err
		}
		if k == 0 {
			return b.String(), nil
		}
	}
}

func TestRootAndIDs(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{Magic: 0x63677270})
	st, err := e.v.Stat(e.c, mnt)
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Ino, "the root node is id 1")
	require.Equal(t, uint32(vfs.S_IFDIR|0555), st.Mode, "kernfs_create_root makes the root 0555")
	require.Equal(t, uint32(2), st.Nlink)
	sfs, err := e.v.Statfs(e.c, mnt)
	require.NoError(t, err)
	require.Equal(t, int64(0x63677270), sfs.Type)
	require.Equal(t, int64(255), sfs.Namelen)

	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0750, UID: 7, GID: 8})
	require.NoError(t, err)
	f, err := e.r.CreateFile(nil, d, "f", kernfs.Attr{Mode: 0640, UID: 9, GID: 10}, constOps("x"))
	require.NoError(t, err)
	s, err := e.r.CreateFile(nil, d, "s", kernfs.Attr{Mode: 0444, Size: 4096}, constOps("y"))
	require.NoError(t, err)
	sub, err := e.r.CreateDir(nil, d, "sub", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	// Every node, directory or file, takes the next id.
	require.Equal(t, []uint64{2, 3, 4, 5}, []uint64{d.ID(), f.ID(), s.ID(), sub.ID()})
	// A creation that fails on the name still uses an id up.
	_, err = e.r.CreateFile(nil, d, "f", kernfs.Attr{Mode: 0644}, nil)
	require.ErrorIs(t, err, unix.EEXIST)
	n6, err := e.r.CreateFile(nil, d, "g", kernfs.Attr{Mode: 0644}, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(7), n6.ID())

	for _, tc := range []struct {
		path       string
		ino        uint64
		mode       uint32
		nlink      uint32
		uid, gid   uint32
		size       int64
		wantNodeID uint64
	}{
		{"/k/d", 2, vfs.S_IFDIR | 0750, 3, 7, 8, 0, 2},
		{"/k/d/f", 3, vfs.S_IFREG | 0640, 1, 9, 10, 0, 3},
		{"/k/d/s", 4, vfs.S_IFREG | 0444, 1, 0, 0, 4096, 4},
		{"/k/d/sub", 5, vfs.S_IFDIR | 0755, 2, 0, 0, 0, 5},
	} {
		st, err := e.v.Stat(e.c, tc.path)
		require.NoError(t, err, tc.path)
		require.Equal(t, tc.ino, st.Ino, tc.path)
		require.Equal(t, tc.mode, st.Mode, tc.path)
		require.Equal(t, tc.nlink, st.Nlink, tc.path)
		require.Equal(t, tc.uid, st.UID, tc.path)
		require.Equal(t, tc.gid, st.GID, tc.path)
		require.Equal(t, tc.size, st.Size, tc.path)
		in, err := e.v.Resolve(e.c, tc.path, true)
		require.NoError(t, err)
		n := kernfs.NodeOf(in)
		require.NotNil(t, n)
		require.Equal(t, tc.wantNodeID, n.ID())
		require.Same(t, e.r, kernfs.RootOf(in))
	}
	require.Nil(t, kernfs.NodeOf(e.v.Root()), "a ramfs inode is not a kernfs node")
	require.Nil(t, kernfs.RootOf(e.v.Root()))
	require.Equal(t, uint32(7), d.UID())
	require.Equal(t, uint32(8), d.GID())
	require.Equal(t, uint32(vfs.S_IFDIR|0750), d.Mode())
	require.Equal(t, "/d/sub", sub.Path())
	require.Equal(t, "/", e.r.Node().Path())
	require.Same(t, d, sub.Parent())
	require.Equal(t, "sub", sub.Name())
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	f, err := e.r.CreateFile(nil, e.r.Node(), "f", kernfs.Attr{Mode: 0644}, nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		parent *kernfs.Node
		name   string
		err    error
	}{
		{e.r.Node(), "", unix.EINVAL},
		{e.r.Node(), ".", unix.EINVAL},
		{e.r.Node(), "..", unix.EINVAL},
		{e.r.Node(), "a/b", unix.EINVAL},
		{f, "x", unix.ENOTDIR},
		{e.r.Node(), "f", unix.EEXIST},
	} {
		_, err := e.r.CreateDir(nil, tc.parent, tc.name, kernfs.Attr{Mode: 0755})
		require.ErrorIs(t, err, tc.err, "%q", tc.name)
	}
	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	e.r.Remove(nil, d)
	_, err = e.r.CreateFile(nil, d, "late", kernfs.Attr{Mode: 0644}, nil)
	require.ErrorIs(t, err, unix.ENOENT, "creating in a removed directory")
}

func TestNameHash(t *testing.T) {
	// Values computed from the kernel's formula; the order they give is
	// the `ls -f` order of a cgroup directory on Linux 6.18 (the
	// differential test in package cgroup checks it against the kernel).
	for name, want := range map[string]uint32{
		"cgroup.events":          35091264,
		"io.pressure":            42970303,
		"cgroup.procs":           116541448,
		"cgroup.max.descendants": 435126269,
		"cgroup.pressure":        2053510312,
	} {
		require.Equal(t, want, kernfs.NameHash(name), name)
	}
	for _, name := range []string{"", "a", "\xff\xfe", strings.Repeat("z", 300)} {
		h := kernfs.NameHash(name)
		require.True(t, h >= 2 && h < 1<<31-1, "%q: %d is reserved", name, h)
	}
}

func TestReaddirOrder(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	names := []string{"cgroup.type", "cgroup.procs", "cgroup.threads", "cgroup.controllers",
		"cgroup.subtree_control", "cgroup.events", "cgroup.max.descendants", "cgroup.max.depth",
		"cgroup.stat", "cgroup.stat.local", "cgroup.freeze", "cgroup.kill", "cpu.stat",
		"cpu.stat.local", "io.pressure", "memory.pressure", "cpu.pressure", "cgroup.pressure", "sub"}
	for _, n := range names {
		if n == "sub" {
			_, err := e.r.CreateDir(nil, e.r.Node(), n, kernfs.Attr{Mode: 0755})
			require.NoError(t, err)
			continue
		}
		_, err := e.r.CreateFile(nil, e.r.Node(), n, kernfs.Attr{Mode: 0644}, nil)
		require.NoError(t, err)
	}
	ents, err := e.v.ReadDir(e.c, mnt)
	require.NoError(t, err)
	var got []string
	for _, de := range ents {
		got = append(got, de.Name)
	}
	// `ls -f` of a fresh cgroup on Linux 6.18, with "sub" where its hash
	// puts it.
	want := []string{"cgroup.events", "io.pressure", "cgroup.procs", "cgroup.max.descendants",
		"cgroup.stat.local", "cpu.stat", "memory.pressure", "cpu.pressure", "cgroup.type",
		"cgroup.stat", "cpu.stat.local", "cgroup.threads", "cgroup.kill", "cgroup.freeze",
		"cgroup.controllers", "cgroup.subtree_control", "cgroup.max.depth", "cgroup.pressure"}
	var withoutSub []string
	for _, n := range got {
		if n != "sub" {
			withoutSub = append(withoutSub, n)
		}
	}
	require.Equal(t, want, withoutSub)
	for i := 1; i < len(got); i++ {
		hi, hj := kernfs.NameHash(got[i-1]), kernfs.NameHash(got[i])
		require.True(t, hi < hj || hi == hj && got[i-1] < got[i], "%s before %s", got[i-1], got[i])
	}
	var kids []string
	for _, n := range e.r.Node().Children() {
		kids = append(kids, n.Name())
	}
	require.Equal(t, got, kids, "Children lists in readdir order")
}

func TestCreateDeactivated(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{Flags: kernfs.CreateDeactivated})
	// A CreateDeactivated root is itself inactive until activated.
	require.False(t, e.r.Node().Active())
	e.r.Activate(nil, e.r.Node())
	require.True(t, e.r.Node().Active())

	t1 := e.v.Begin()
	d, err := e.r.CreateDir(t1, e.r.Node(), "cg", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	f, err := e.r.CreateFile(t1, d, "file", kernfs.Attr{Mode: 0644}, constOps("hi\n"))
	require.NoError(t, err)
	t1.End()
	require.False(t, d.Active())
	require.False(t, f.Active())
	_, err = e.v.Stat(e.c, "/k/cg")
	require.ErrorIs(t, err, unix.ENOENT, "inactive nodes are invisible")
	ents, err := e.v.ReadDir(e.c, mnt)
	require.NoError(t, err)
	require.Empty(t, ents)
	require.Nil(t, e.r.FindByID(d.ID()), "never-activated nodes are not found by id")
	// The name is taken all the same.
	_, err = e.r.CreateDir(nil, e.r.Node(), "cg", kernfs.Attr{Mode: 0755})
	require.ErrorIs(t, err, unix.EEXIST)
	// Opening the inode before activation fails like a removed node.
	_, err = e.v.OpenInode(e.c, f.Inode(), unix.O_RDONLY)
	require.ErrorIs(t, err, unix.ENODEV)

	e.r.Activate(nil, d)
	require.True(t, d.Active())
	require.True(t, f.Active())
	file := e.open(t, "/k/cg/file", unix.O_RDONLY)
	defer file.Close()
	s, err := readAll(file, 100)
	require.NoError(t, err)
	require.Equal(t, "hi\n", s)
	st, err := e.v.Stat(e.c, mnt)
	require.NoError(t, err)
	require.Equal(t, uint32(3), st.Nlink)
}

func TestSeqRead(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	gen := 0
	_, err := e.r.CreateFile(nil, e.r.Node(), "f", kernfs.Attr{Mode: 0644},
		textOps(func(*kernfs.OpenFile) string { gen++; return fmt.Sprintf("generation %d\n", gen) }))
	require.NoError(t, err)
	f := e.open(t, "/k/f", unix.O_RDONLY)
	defer f.Close()
	s, err := readAll(f, 4)
	require.NoError(t, err)
	require.Equal(t, "generation 1\n", s)
	// At EOF: reads return 0 without running show.
	n, err := f.Read(make([]byte, 8))
	require.NoError(t, err)
	require.Equal(t, 0, n)
	require.Equal(t, 1, gen)
	// pread at 0 regenerates.
	buf := make([]byte, 100)
	n, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "generation 2\n", string(buf[:n]))
	// lseek to 0 and read regenerates too.
	_, err = f.Seek(0, io.SeekStart)
	require.NoError(t, err)
	s, err = readAll(f, 100)
	require.NoError(t, err)
	require.Equal(t, "generation 3\n", s)

	big := strings.Repeat("0123456789", 2000)
	shows := 0
	_, err = e.r.CreateFile(nil, e.r.Node(), "big", kernfs.Attr{Mode: 0444}, &kernfs.Ops{
		SeqShow: func(of *kernfs.OpenFile, m *seqfile.Buffer) error {
			shows++
			for i := 0; i < len(big); i += 100 {
				if _, err := m.WriteString(big[i : i+100]); err != nil {
					return nil
				}
			}
			return nil
		}})
	require.NoError(t, err)
	fb := e.open(t, "/k/big", unix.O_RDONLY)
	defer fb.Close()
	s, err = readAll(fb, 7000)
	require.NoError(t, err)
	require.Equal(t, big, s, "the buffer grows and the data is not duplicated")
	require.Equal(t, 4, shows, "4096, 8192, 16384, 32768")

	_, err = e.r.CreateFile(nil, e.r.Node(), "skip", kernfs.Attr{Mode: 0444}, &kernfs.Ops{
		SeqShow: func(of *kernfs.OpenFile, m *seqfile.Buffer) error {
			_, _ = m.WriteString("hidden")
			return seqfile.ErrSkip
		}})
	require.NoError(t, err)
	fs := e.open(t, "/k/skip", unix.O_RDONLY)
	defer fs.Close()
	s, err = readAll(fs, 100)
	require.NoError(t, err)
	require.Equal(t, "", s)

	_, err = e.r.CreateFile(nil, e.r.Node(), "noread", kernfs.Attr{Mode: 0200}, &kernfs.Ops{})
	require.NoError(t, err)
	fn := e.open(t, "/k/noread", unix.O_RDONLY) // root may open it
	defer fn.Close()
	_, err = fn.Read(buf)
	require.ErrorIs(t, err, unix.EINVAL, "no read handler")

	_, err = e.r.CreateFile(nil, e.r.Node(), "direct", kernfs.Attr{Mode: 0444}, &kernfs.Ops{
		Read: func(of *kernfs.OpenFile, p []byte, off int64) (int, error) {
			require.LessOrEqual(t, len(p), kernfs.PageSize)
			if off > 0 {
				return 0, nil
			}
			return copy(p, "direct\n"), nil
		}})
	require.NoError(t, err)
	fd := e.open(t, "/k/direct", unix.O_RDONLY)
	defer fd.Close()
	s, err = readAll(fd, 10000)
	require.NoError(t, err)
	require.Equal(t, "direct\n", s)
}

func TestSeek(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	_, err := e.r.CreateFile(nil, e.r.Node(), "f", kernfs.Attr{Mode: 0644}, constOps("populated 0\nfrozen 0\n"))
	require.NoError(t, err)
	f := e.open(t, "/k/f", unix.O_RDONLY)
	defer f.Close()
	for _, tc := range []struct {
		off    int64
		whence int
		pos    int64
		err    error
	}{
		{0, io.SeekEnd, 0, nil}, // generic_file_llseek: the end is i_size, 0
		{3, io.SeekEnd, 3, nil},
		{2, io.SeekCurrent, 5, nil},
		{0, io.SeekCurrent, 5, nil},
		{0, unix.SEEK_DATA, 0, unix.ENXIO},
		{0, unix.SEEK_HOLE, 0, unix.ENXIO},
		{-1, io.SeekStart, 0, unix.EINVAL},
		{1<<31 - 1, io.SeekStart, 1<<31 - 1, nil},
		{1 << 31, io.SeekStart, 0, unix.EINVAL}, // s_maxbytes is MAX_NON_LFS
		{7, 5, 0, unix.EINVAL},
		{5, io.SeekStart, 5, nil},
	} {
		pos, err := f.Seek(tc.off, tc.whence)
		if tc.err != nil {
			require.ErrorIs(t, err, tc.err, "%d %d", tc.off, tc.whence)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.pos, pos)
	}
	s, err := readAll(f, 100)
	require.NoError(t, err)
	require.Equal(t, "ated 0\nfrozen 0\n", s, "a read away from the last position re-runs the show")
}

func TestWrite(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	var got []string
	var offs []int64
	handler := func(of *kernfs.OpenFile, buf []byte, off int64) (int, error) {
		got = append(got, kernfs.CString(buf))
		offs = append(offs, off)
		if kernfs.CString(buf) == "bad" {
			return 0, unix.EINVAL
		}
		return len(buf), nil
	}
	_, err := e.r.CreateFile(nil, e.r.Node(), "atomic", kernfs.Attr{Mode: 0644},
		&kernfs.Ops{Write: handler, AtomicWriteLen: kernfs.PageSize})
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, e.r.Node(), "cut", kernfs.Attr{Mode: 0644}, &kernfs.Ops{Write: handler})
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, e.r.Node(), "ro", kernfs.Attr{Mode: 0444}, constOps("x"))
	require.NoError(t, err)

	f := e.open(t, "/k/atomic", unix.O_WRONLY)
	defer f.Close()
	_, err = f.Write(make([]byte, 4097))
	require.ErrorIs(t, err, unix.E2BIG)
	n, err := f.Write([]byte(strings.Repeat("a", 4096)))
	require.NoError(t, err)
	require.Equal(t, 4096, n)
	n, err = f.Write([]byte("5\x007"))
	require.NoError(t, err)
	require.Equal(t, 3, n, "the handler consumed all 3 bytes")
	require.Equal(t, "5", got[len(got)-1], "handlers see the NUL-terminated string")
	require.Equal(t, int64(4096), offs[len(offs)-1], "the file position advances")
	_, err = f.Write([]byte("bad"))
	require.ErrorIs(t, err, unix.EINVAL)

	fc := e.open(t, "/k/cut", unix.O_WRONLY)
	defer fc.Close()
	n, err = fc.Write(make([]byte, 5000))
	require.NoError(t, err)
	require.Equal(t, 4096, n, "without atomic_write_len a write is cut to a page")

	fr := e.open(t, "/k/ro", unix.O_WRONLY) // root opens it
	defer fr.Close()
	_, err = fr.Write([]byte("1"))
	require.ErrorIs(t, err, unix.EINVAL, "no write handler")
	_, err = fr.Write(nil)
	require.ErrorIs(t, err, unix.EINVAL, "even for an empty write")
}

func TestDirOpsErrnos(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, d, "f", kernfs.Attr{Mode: 0644}, constOps("x"))
	require.NoError(t, err)
	_, err = e.r.CreateDir(nil, d, "sub", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	c := e.c
	for _, tc := range []struct {
		name string
		op   func() error
		err  error
	}{
		{"open O_CREAT new", func() error {
			_, err := e.v.Open(c, "/k/d/new", unix.O_CREAT|unix.O_WRONLY, 0644)
			return err
		}, unix.EACCES},
		{"open O_CREAT|O_EXCL existing", func() error {
			_, err := e.v.Open(c, "/k/d/f", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644)
			return err
		}, unix.EEXIST},
		{"mknod regular", func() error { return e.v.Mknod(c, "/k/d/n", vfs.S_IFREG|0644, 0) }, unix.EACCES},
		{"mknod fifo", func() error { return e.v.Mknod(c, "/k/d/n", vfs.S_IFIFO|0644, 0) }, unix.EPERM},
		{"symlink", func() error { return e.v.Symlink(c, "x", "/k/d/l") }, unix.EPERM},
		{"link", func() error { return e.v.Link(c, "/k/d/f", "/k/d/l") }, unix.EPERM},
		{"unlink", func() error { return e.v.Unlink(c, "/k/d/f") }, unix.EPERM},
		{"unlink dir", func() error { return e.v.Unlink(c, "/k/d/sub") }, unix.EISDIR},
		{"rmdir file", func() error { return e.v.Rmdir(c, "/k/d/f") }, unix.ENOTDIR},
		{"mkdir without op", func() error { return e.v.Mkdir(c, "/k/d/new", 0755) }, unix.EPERM},
		{"rmdir without op", func() error { return e.v.Rmdir(c, "/k/d/sub") }, unix.EPERM},
		{"rename without op", func() error { return e.v.Rename(c, "/k/d/f", "/k/d/g", 0) }, unix.EPERM},
		{"rename with flags", func() error { return e.v.Rename(c, "/k/d/f", "/k/d/g", unix.RENAME_NOREPLACE) }, unix.EINVAL},
		{"rename exchange", func() error { return e.v.Rename(c, "/k/d/f", "/k/d/sub", unix.RENAME_EXCHANGE) }, unix.EINVAL},
		{"rename noreplace onto existing", func() error { return e.v.Rename(c, "/k/d/f", "/k/d/sub", unix.RENAME_NOREPLACE) }, unix.EEXIST},
		{"rename to self", func() error { return e.v.Rename(c, "/k/d/f", "/k/d/f", 0) }, nil},
		{"lookup missing", func() error { _, err := e.v.Stat(c, "/k/d/missing"); return err }, unix.ENOENT},
		{"open O_CREAT existing", func() error {
			f, err := e.v.Open(c, "/k/d/f", unix.O_CREAT|unix.O_WRONLY, 0644)
			if err == nil {
				f.Close()
			}
			return err
		}, nil},
		{"chmod", func() error { return e.v.Chmod(c, "/k/d/f", 0600) }, nil},
		{"chown", func() error { return e.v.Chown(c, "/k/d/f", 1000, 1000) }, nil},
		{"truncate", func() error { return e.v.Truncate(c, "/k/d/f", 100) }, nil},
		{"open O_TRUNC", func() error {
			f, err := e.v.Open(c, "/k/d/f", unix.O_WRONLY|unix.O_TRUNC, 0)
			if err == nil {
				f.Close()
			}
			return err
		}, nil},
	} {
		err := tc.op()
		if tc.err == nil {
			require.NoError(t, err, tc.name)
		} else {
			require.ErrorIs(t, err, tc.err, tc.name)
		}
	}
	st, err := e.v.Stat(c, "/k/d/f")
	require.NoError(t, err)
	require.Equal(t, uint32(vfs.S_IFREG|0600), st.Mode)
	require.Equal(t, uint32(1000), st.UID)
	require.Equal(t, int64(0), st.Size, "size changes are ignored")
}

func TestExtraOpenPermCheck(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{Flags: kernfs.ExtraOpenPermCheck})
	_, err := e.r.CreateFile(nil, e.r.Node(), "ro", kernfs.Attr{Mode: 0444}, constOps("x"))
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, e.r.Node(), "wo", kernfs.Attr{Mode: 0200}, &kernfs.Ops{
		Write: func(*kernfs.OpenFile, []byte, int64) (int, error) { return 0, nil }})
	require.NoError(t, err)
	_, err = e.v.Open(e.c, "/k/ro", unix.O_WRONLY, 0)
	require.ErrorIs(t, err, unix.EACCES, "even root, on sysfs-like roots")
	_, err = e.v.Open(e.c, "/k/wo", unix.O_RDONLY, 0)
	require.ErrorIs(t, err, unix.EACCES)
	f := e.open(t, "/k/ro", unix.O_RDONLY)
	require.NoError(t, f.Close())
}

// releaseCounter counts Release calls per open file.
type releaseCounter struct {
	mu    sync.Mutex
	calls map[*kernfs.OpenFile]int
}

func (rc *releaseCounter) ops(text string) *kernfs.Ops {
	rc.calls = make(map[*kernfs.OpenFile]int)
	o := constOps(text)
	o.Release = func(of *kernfs.OpenFile) {
		rc.mu.Lock()
		rc.calls[of]++
		rc.mu.Unlock()
	}
	o.Write = func(of *kernfs.OpenFile, buf []byte, off int64) (int, error) { return len(buf), nil }
	o.AtomicWriteLen = kernfs.PageSize
	return o
}

func (rc *releaseCounter) count(of *kernfs.OpenFile) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.calls[of]
}

func TestRemoveWithOpenFiles(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	var rc releaseCounter
	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, d, "f", kernfs.Attr{Mode: 0644}, rc.ops("populated 0\nfrozen 0\n"))
	require.NoError(t, err)
	sub, err := e.r.CreateDir(nil, d, "sub", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, sub, "g", kernfs.Attr{Mode: 0644}, constOps("g\n"))
	require.NoError(t, err)

	partial := e.open(t, "/k/d/f", unix.O_RDONLY)
	atEOF := e.open(t, "/k/d/f", unix.O_RDONLY)
	writer := e.open(t, "/k/d/f", unix.O_RDWR)
	dirFD := e.open(t, "/k/d", unix.O_RDONLY)
	buf := make([]byte, 4)
	n, err := partial.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "popu", string(buf[:n]))
	s, err := readAll(atEOF, 100)
	require.NoError(t, err)
	require.Equal(t, "populated 0\nfrozen 0\n", s)
	fin := kernfs.NodeOf(writer.Inode())
	require.NotNil(t, fin)
	// Keep the inode of g reachable to open it after the removal.
	gIn, err := e.v.Resolve(e.c, "/k/d/sub/g", true)
	require.NoError(t, err)
	require.True(t, e.v.Get(gIn))
	defer e.v.Put(gIn)

	e.r.Remove(nil, d)

	// Gone from lookups and readdir at once, the whole subtree.
	for _, p := range []string{"/k/d", "/k/d/f", "/k/d/sub/g"} {
		_, err := e.v.Stat(e.c, p)
		require.ErrorIs(t, err, unix.ENOENT, p)
	}
	ents, err := e.v.ReadDir(e.c, mnt)
	require.NoError(t, err)
	require.Empty(t, ents)
	require.True(t, d.Removed())
	require.False(t, sub.Active())

	// Leftover bytes are still served, then ENODEV.
	s, err = readAll(partial, 100)
	require.ErrorIs(t, err, unix.ENODEV)
	require.Equal(t, "lated 0\nfrozen 0\n", s)
	// At EOF a read is ENODEV, not 0.
	_, err = atEOF.Read(buf)
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = atEOF.ReadAt(buf, 0)
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = writer.Write([]byte("1"))
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = writer.Write(nil)
	require.ErrorIs(t, err, unix.ENODEV, "even an empty write")
	_, err = writer.Write(make([]byte, 5000))
	require.ErrorIs(t, err, unix.E2BIG, "the size is checked before the node")
	_, err = writer.Seek(0, io.SeekStart)
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = writer.Seek(0, 9)
	require.ErrorIs(t, err, unix.EINVAL, "a bad whence is refused before kernfs")
	n, err = writer.Read(nil)
	require.NoError(t, err, "a zero-length read of a seq file")
	require.Equal(t, 0, n)
	// fstat still works, on the inode it had.
	st := writer.Stat()
	require.Equal(t, uint32(vfs.S_IFREG|0644), st.Mode)
	require.Equal(t, uint32(1), st.Nlink)
	require.Equal(t, fin.ID(), st.Ino)
	st = dirFD.Stat()
	require.Equal(t, uint32(vfs.S_IFDIR|0755), st.Mode)
	// The removed directory lists nothing and creates nothing.
	ents, err = e.v.ReadDirInode(e.c, dirFD.Inode())
	require.NoError(t, err)
	require.Empty(t, ents)
	_, err = e.v.MkdirChild(e.c, dirFD.Inode(), "x", 0755)
	require.Error(t, err)
	// Opening an inode looked up before the removal.
	_, err = e.v.OpenInode(e.c, gIn, unix.O_RDONLY)
	require.ErrorIs(t, err, unix.ENODEV)

	// Release ran once for each file still open, at the removal.
	for _, f := range []*vfs.File{partial, atEOF, writer} {
		of := f.Private.(*kernfs.OpenFile)
		require.Equal(t, 1, rc.count(of))
	}
	for _, f := range []*vfs.File{partial, atEOF, writer, dirFD} {
		require.NoError(t, f.Close())
	}
	for _, f := range []*vfs.File{partial, atEOF, writer} {
		require.Equal(t, 1, rc.count(f.Private.(*kernfs.OpenFile)), "not again at close")
	}
	// Removing again does nothing.
	e.r.Remove(nil, d)
	e.r.Remove(nil, nil)
}

func TestReleaseAtClose(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	var rc releaseCounter
	n, err := e.r.CreateFile(nil, e.r.Node(), "f", kernfs.Attr{Mode: 0644}, rc.ops("x"))
	require.NoError(t, err)
	f := e.open(t, "/k/f", unix.O_RDONLY)
	of := f.Private.(*kernfs.OpenFile)
	require.Same(t, n, of.Node())
	require.Same(t, f, of.File())
	require.Equal(t, 0, rc.count(of))
	require.NoError(t, f.Close())
	require.Equal(t, 1, rc.count(of))
	e.r.Remove(nil, n)
	require.Equal(t, 1, rc.count(of))
}

func TestOpenHandlerError(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	_, err := e.r.CreateFile(nil, e.r.Node(), "f", kernfs.Attr{Mode: 0644}, &kernfs.Ops{
		Open: func(of *kernfs.OpenFile) error { return unix.EIO },
	})
	require.NoError(t, err)
	_, err = e.v.Open(e.c, "/k/f", unix.O_RDONLY, 0)
	require.ErrorIs(t, err, unix.EIO)
}

// blockingFile is a seq file whose show waits until released.
type blockingFile struct {
	entered chan struct{}
	release chan struct{}
}

func newBlocking() *blockingFile {
	return &blockingFile{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (b *blockingFile) ops() *kernfs.Ops {
	return &kernfs.Ops{SeqShow: func(of *kernfs.OpenFile, m *seqfile.Buffer) error {
		b.entered <- struct{}{}
		<-b.release
		_, _ = m.WriteString("complete\n")
		return nil
	}}
}

func TestRemoveDrainsInFlightReads(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	b := newBlocking()
	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	_, err = e.r.CreateFile(nil, d, "f", kernfs.Attr{Mode: 0644}, b.ops())
	require.NoError(t, err)
	f := e.open(t, "/k/d/f", unix.O_RDONLY)
	defer f.Close()

	type result struct {
		s   string
		err error
	}
	readDone := make(chan result, 1)
	go func() {
		s, err := readAll(f, 100)
		readDone <- result{s, err}
	}()
	<-b.entered

	removed := make(chan struct{})
	go func() {
		e.r.Remove(nil, d)
		close(removed)
	}()
	// The subtree disappears at once, while the read is still in its
	// show; the VFS lock is free meanwhile.
	require.Eventually(t, func() bool {
		_, err := e.v.Stat(e.c, "/k/d")
		return err != nil
	}, 5*time.Second, time.Millisecond)
	select {
	case <-removed:
		t.Fatal("Remove returned before the read in flight finished")
	case <-time.After(50 * time.Millisecond):
	}
	close(b.release)
	<-removed
	r := <-readDone
	// The read that started before the removal completes its record, then
	// asks for more and learns the node is gone.
	require.Equal(t, "complete\n", r.s)
	require.ErrorIs(t, r.err, unix.ENODEV)
}

func TestRemoveInsideTransactionDefersDrain(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	b := newBlocking()
	n, err := e.r.CreateFile(nil, e.r.Node(), "f", kernfs.Attr{Mode: 0644}, b.ops())
	require.NoError(t, err)
	f := e.open(t, "/k/f", unix.O_RDONLY)
	defer f.Close()
	readDone := make(chan error, 1)
	go func() {
		_, err := readAll(f, 100)
		readDone <- err
	}()
	<-b.entered
	txn := e.v.Begin()
	e.r.Remove(txn, n) // must not wait here, with the VFS lock held
	require.False(t, n.Active())
	ended := make(chan struct{})
	go func() {
		txn.End() // the drain runs here
		close(ended)
	}()
	select {
	case <-ended:
		t.Fatal("End returned before the read in flight finished")
	case <-time.After(50 * time.Millisecond):
	}
	close(b.release)
	<-ended
	require.ErrorIs(t, <-readDone, unix.ENODEV)
}

func TestRemoveSelf(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	var won atomic.Int32
	ops := &kernfs.Ops{
		SeqShow: func(of *kernfs.OpenFile, m *seqfile.Buffer) error { _, _ = m.WriteString("x\n"); return nil },
		Write: func(of *kernfs.OpenFile, buf []byte, off int64) (int, error) {
			if strings.TrimSuffix(kernfs.CString(buf), "\n") != "rm" {
				return 0, unix.EINVAL
			}
			if of.RemoveSelf() {
				won.Add(1)
			}
			return len(buf), nil
		},
	}
	n, err := e.r.CreateFile(nil, e.r.Node(), "exposed", kernfs.Attr{Mode: 0600}, ops)
	require.NoError(t, err)
	f := e.open(t, "/k/exposed", unix.O_RDWR)
	defer f.Close()
	_, err = f.Write([]byte("nope"))
	require.ErrorIs(t, err, unix.EINVAL)
	k, err := f.Write([]byte("rm\n"))
	require.NoError(t, err)
	require.Equal(t, 3, k)
	require.Equal(t, int32(1), won.Load())
	require.True(t, n.Removed())
	_, err = e.v.Stat(e.c, "/k/exposed")
	require.ErrorIs(t, err, unix.ENOENT)
	_, err = f.Write([]byte("rm"))
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = f.Read(make([]byte, 10))
	require.ErrorIs(t, err, unix.ENODEV)

	require.Panics(t, func() { (&kernfs.OpenFile{}).RemoveSelf() }, "only from a handler")
}

func TestRemoveSelfRaces(t *testing.T) {
	for round := 0; round < 50; round++ {
		e := newEnv(t, kernfs.RootOptions{})
		var won atomic.Int32
		ops := &kernfs.Ops{
			Write: func(of *kernfs.OpenFile, buf []byte, off int64) (int, error) {
				if of.RemoveSelf() {
					won.Add(1)
				}
				return len(buf), nil
			},
		}
		d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0755})
		require.NoError(t, err)
		n, err := e.r.CreateFile(nil, d, "f", kernfs.Attr{Mode: 0600}, ops)
		require.NoError(t, err)
		var files []*vfs.File
		for i := 0; i < 4; i++ {
			files = append(files, e.open(t, "/k/d/f", unix.O_WRONLY))
		}
		var wg sync.WaitGroup
		for _, f := range files {
			wg.Add(1)
			go func(f *vfs.File) {
				defer wg.Done()
				_, err := f.Write([]byte("rm"))
				if err != nil {
					require.ErrorIs(t, err, unix.ENODEV)
				}
			}(f)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if round%2 == 0 {
				e.r.Remove(nil, d)
			} else {
				e.r.Remove(nil, n)
			}
		}()
		wg.Wait()
		require.LessOrEqual(t, won.Load(), int32(1))
		require.True(t, n.Removed())
		require.False(t, n.Active())
		for _, f := range files {
			require.NoError(t, f.Close())
		}
	}
}

func TestShowHide(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	n, err := e.r.CreateFile(nil, e.r.Node(), "cpu.pressure", kernfs.Attr{Mode: 0644}, constOps("some\n"))
	require.NoError(t, err)
	require.NoError(t, e.v.Chmod(e.c, "/k/cpu.pressure", 0640))
	f := e.open(t, "/k/cpu.pressure", unix.O_RDONLY)
	defer f.Close()
	e.r.Show(nil, n, false)
	_, err = e.v.Stat(e.c, "/k/cpu.pressure")
	require.ErrorIs(t, err, unix.ENOENT)
	_, err = f.Read(make([]byte, 10))
	require.ErrorIs(t, err, unix.ENODEV)
	require.Nil(t, e.r.FindByID(n.ID()))
	e.r.Show(nil, n, false) // twice is fine
	e.r.Show(nil, n, true)
	st, err := e.v.Stat(e.c, "/k/cpu.pressure")
	require.NoError(t, err)
	require.Equal(t, n.ID(), st.Ino, "same id")
	require.Equal(t, uint32(vfs.S_IFREG|0640), st.Mode, "same mode")
	s, err := readAll(f, 10)
	require.NoError(t, err, "a file opened before hiding works again")
	require.Equal(t, "some\n", s)
	e.r.Show(nil, e.r.Node(), false) // directories cannot be hidden
	require.True(t, e.r.Node().Active())
}

// recorder is a vfs.Notifier that keeps events.
type recorder struct {
	mu  sync.Mutex
	evs []vfs.Event
}

func (r *recorder) Notify(ev vfs.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}
func (r *recorder) InodeRemoved(*vfs.Inode) {}
func (r *recorder) Unmounted(*vfs.Inode)    {}

func (r *recorder) modify() []vfs.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []vfs.Event
	for _, ev := range r.evs {
		if ev.Mask&unix.IN_MODIFY != 0 {
			out = append(out, ev)
		}
	}
	return out
}

func TestNotifyAndPoll(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	rec := &recorder{}
	defer e.v.AddNotifier(rec)()
	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	n, err := e.r.CreateFile(nil, d, "cgroup.events", kernfs.Attr{Mode: 0444}, constOps("populated 0\n"))
	require.NoError(t, err)
	f := e.open(t, "/k/d/cgroup.events", unix.O_RDONLY)
	defer f.Close()
	of := f.Private.(*kernfs.OpenFile)
	const def = unix.POLLIN | unix.POLLOUT | 0x40 | 0x100
	require.Equal(t, uint32(def), of.Poll())
	e.r.Notify(nil, n)
	evs := rec.modify()
	require.Len(t, evs, 1)
	require.Equal(t, d.Inode(), evs[0].Dir)
	require.Equal(t, "cgroup.events", evs[0].Name)
	require.Equal(t, n.Inode(), evs[0].Inode)
	require.Equal(t, uint32(def|unix.POLLERR|unix.POLLPRI), of.Poll(), "notified since the last read")
	_, err = readAll(f, 100)
	require.NoError(t, err)
	require.Equal(t, uint32(def), of.Poll(), "a read catches up")
	e.r.Notify(nil, d) // directories are not notified
	require.Len(t, rec.modify(), 1)
	e.r.Remove(nil, n)
	e.r.Notify(nil, n) // removed: no event
	require.Len(t, rec.modify(), 1)
	require.Equal(t, uint32(def|unix.POLLERR|unix.POLLPRI), of.Poll())
}

func TestFindByIDAndRefs(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	f, err := e.r.CreateFile(nil, d, "f", kernfs.Attr{Mode: 0644}, nil)
	require.NoError(t, err)
	got := e.r.FindByID(f.ID())
	require.Same(t, f, got)
	got.Put()
	require.Nil(t, e.r.FindByID(f.ID()|1<<32), "the high bits must match")
	require.Nil(t, e.r.FindByID(999))
	f.Get() // the RFC's fsnotify mark holds one of these
	e.r.Remove(nil, d)
	require.Nil(t, e.r.FindByID(f.ID()), "removed nodes are not found")
	require.Nil(t, e.r.FindByID(d.ID()))
	f.Put()
	require.Panics(t, func() { f.Put() })
	require.Panics(t, func() { f.Get() })
}

func TestRenameOp(t *testing.T) {
	var e *env
	e = newEnv(t, kernfs.RootOptions{Ops: kernfs.SyscallOps{
		Rename: func(txn *vfs.Txn, c *vfs.Caller, n, newParent *kernfs.Node, newName string) error {
			return e.r.Rename(txn, n, newParent, newName)
		},
		Mkdir: func(txn *vfs.Txn, c *vfs.Caller, parent *kernfs.Node, name string, mode uint32) (*kernfs.Node, error) {
			return e.r.CreateDir(txn, parent, name, kernfs.Attr{Mode: mode, UID: c.Cred.UID, GID: c.Cred.GID})
		},
		Rmdir: func(txn *vfs.Txn, c *vfs.Caller, n *kernfs.Node) error {
			e.r.Remove(txn, n)
			return nil
		},
	}})
	require.NoError(t, e.v.Mkdir(e.c, "/k/a", 0700))
	require.NoError(t, e.v.Mkdir(e.c, "/k/b", 0777))
	st, err := e.v.Stat(e.c, "/k/b")
	require.NoError(t, err)
	require.Equal(t, uint32(vfs.S_IFDIR|0755), st.Mode, "mkdir mode has the umask applied")
	a, err := e.v.Resolve(e.c, "/k/a", true)
	require.NoError(t, err)
	an := kernfs.NodeOf(a)
	require.NoError(t, e.v.Rename(e.c, "/k/a", "/k/b/c", 0))
	require.Equal(t, "/b/c", an.Path())
	st, err = e.v.Stat(e.c, "/k/b/c")
	require.NoError(t, err)
	require.Equal(t, an.ID(), st.Ino)
	require.Same(t, an, e.r.Node().Child("b").Child("c"))
	require.ErrorIs(t, e.v.Rename(e.c, "/k/b", "/k/b/c/d", 0), unix.EINVAL)
	require.NoError(t, e.v.Rmdir(e.c, "/k/b/c"))
	require.NoError(t, e.v.Rmdir(e.c, "/k/b"))
}

func TestConcurrentReadersAndRemovers(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	const dirs, files = 8, 4
	content := func(of *kernfs.OpenFile) string {
		return strings.Repeat(fmt.Sprintf("node %d\n", of.Node().ID()), 700) // > 4096: the buffer grows
	}
	var nodes []*kernfs.Node
	for i := 0; i < dirs; i++ {
		d, err := e.r.CreateDir(nil, e.r.Node(), fmt.Sprintf("d%d", i), kernfs.Attr{Mode: 0755})
		require.NoError(t, err)
		nodes = append(nodes, d)
		for j := 0; j < files; j++ {
			_, err := e.r.CreateFile(nil, d, fmt.Sprintf("f%d", j), kernfs.Attr{Mode: 0644}, textOps(content))
			require.NoError(t, err)
		}
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var complete, gone atomic.Int64
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for it := 0; ; it++ {
				select {
				case <-stop:
					return
				default:
				}
				path := fmt.Sprintf("/k/d%d/f%d", (g+it)%dirs, it%files)
				f, err := e.v.Open(e.c, path, unix.O_RDONLY, 0)
				if err != nil {
					if !errorsIsAny(err, unix.ENOENT, unix.ENODEV) {
						t.Errorf("open %s: %v", path, err)
					}
					gone.Add(1)
					continue
				}
				of := f.Private.(*kernfs.OpenFile)
				want := content(of)
				// One read big enough for everything: all or ENODEV.
				buf := make([]byte, 1<<16)
				n, err := f.Read(buf)
				switch {
				case err == nil && string(buf[:n]) == want:
					complete.Add(1)
				case err != nil && errorsIsAny(err, unix.ENODEV):
					gone.Add(1)
				default:
					t.Errorf("read %s: %d bytes, %v", path, n, err)
				}
				// Small reads: a prefix of the content, then EOF or ENODEV.
				if _, err := f.Seek(0, io.SeekStart); err == nil {
					s, err := readAll(f, 333)
					if !strings.HasPrefix(want, s) || (err == nil && s != want) || (err != nil && !errorsIsAny(err, unix.ENODEV)) {
						t.Errorf("small reads of %s: %d bytes, %v", path, len(s), err)
					}
				}
				require.NoError(t, f.Close())
			}
		}(g)
	}
	for i := len(nodes) - 1; i >= 0; i-- {
		time.Sleep(2 * time.Millisecond)
		e.r.Remove(nil, nodes[i])
	}
	close(stop)
	wg.Wait()
	require.Positive(t, complete.Load())
	require.Positive(t, gone.Load())
}

func errorsIsAny(err error, errnos ...unix.Errno) bool {
	for _, en := range errnos {
		if vfs.Errno(err) == en {
			return true
		}
	}
	return false
}

// TestRemoveNodesBatch removes unrelated nodes — idle ones, one with an
// open file, one already removed, a directory and a file below it — in one
// RemoveNodes call that also drops the reference the caller held on each.
func TestRemoveNodesBatch(t *testing.T) {
	e := newEnv(t, kernfs.RootOptions{})
	mk := func(parent *kernfs.Node, name string) *kernfs.Node {
		n, err := e.r.CreateFile(nil, parent, name, kernfs.Attr{Mode: 0644}, constOps("0123456789\n"))
		require.NoError(t, err)
		return n
	}
	d, err := e.r.CreateDir(nil, e.r.Node(), "d", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	sub, err := e.r.CreateDir(nil, d, "sub", kernfs.Attr{Mode: 0755})
	require.NoError(t, err)
	idle, busy, gone, keep := mk(d, "idle"), mk(d, "busy"), mk(d, "gone"), mk(d, "keep")
	top, below := mk(e.r.Node(), "top"), mk(sub, "below")

	f := e.open(t, "/k/d/busy", unix.O_RDONLY)
	buf := make([]byte, 4)
	n, err := f.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "0123", string(buf[:n]))
	g := e.open(t, "/k/d/sub/below", unix.O_RDONLY)

	batch := []*kernfs.Node{idle, nil, busy, gone, top, sub, below}
	for _, n := range batch {
		if n != nil {
			n.Get() // the caller's reference, which RemoveNodes drops
		}
	}
	e.r.Remove(nil, gone)
	e.r.RemoveNodes(nil, batch, true)

	for _, p := range []string{"/k/top", "/k/d/idle", "/k/d/busy", "/k/d/gone", "/k/d/sub", "/k/d/sub/below"} {
		_, err := e.v.Stat(e.c, p)
		require.ErrorIs(t, err, unix.ENOENT, p)
	}
	_, err = e.v.Stat(e.c, "/k/d/keep")
	require.NoError(t, err, "not in the batch")
	require.Same(t, keep, e.r.FindByID(keep.ID()))
	keep.Put()
	ents, err := e.v.ReadDir(e.c, "/k/d")
	require.NoError(t, err)
	require.Len(t, ents, 1)

	// The open files were drained: leftover bytes, then ENODEV.
	s, err := readAll(f, 100)
	require.ErrorIs(t, err, unix.ENODEV)
	require.Equal(t, "456789\n", s)
	_, err = g.Read(buf)
	require.ErrorIs(t, err, unix.ENODEV)
	require.NoError(t, f.Close())
	require.NoError(t, g.Close())

	// Every node is removed, and the reference each batch entry held is
	// gone with it: the last Put was RemoveNodes's.
	for _, n := range batch {
		if n == nil {
			continue
		}
		require.True(t, n.Removed(), n.Name())
		require.Nil(t, e.r.FindByID(n.ID()), n.Name())
		require.Panics(t, func() { n.Put() }, n.Name())
	}

	// Without put the caller keeps its references; empty batches and
	// removed nodes do nothing.
	x := mk(d, "x")
	x.Get()
	e.r.RemoveNodes(nil, []*kernfs.Node{x}, false)
	require.True(t, x.Removed())
	x.Put()
	require.Panics(t, func() { x.Put() })
	e.r.RemoveNodes(nil, nil, true)
	e.r.RemoveNodes(nil, []*kernfs.Node{nil}, true)
}
