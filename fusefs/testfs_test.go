package fusefs

import (
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// testFS is a small kernfs/bpffs-like file system for the end-to-end
// tests: directories whose operations answer as bpffs does (create
// EACCES, mknod EPERM, dotted names EPERM) and generated files whose
// content is fresh per open, whose size is 0, which answer ENODEV once the
// server removed them, and which remove themselves on a write of "rm".
type testFS struct{}

// testMagic is what statfs would report on the real file system.
const testMagic = 0xcafe4a11

func (testFS) Statfs() vfs.Statfs {
	return vfs.Statfs{Type: testMagic, Bsize: 4096, Namelen: vfs.NameMax}
}

func (testFS) EvictInode(in *vfs.Inode) {}

type testDirOps struct{ vfs.NoDirOps }

func (testDirOps) Lookup(dir *vfs.Inode, name string) error {
	if strings.Contains(name, ".") {
		return unix.EPERM
	}
	return vfs.NoDirOps{}.Lookup(dir, name)
}

func (testDirOps) Mkdir(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, mode uint32) (*vfs.Inode, error) {
	return vfs.SimpleMkdir(t, c, dir, name, mode, testDirOps{}), nil
}

func (testDirOps) Symlink(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name, target string) (*vfs.Inode, error) {
	return vfs.SimpleSymlink(t, c, dir, name, target), nil
}

func (testDirOps) Link(t *vfs.Txn, c *vfs.Caller, old, dir *vfs.Inode, name string) error {
	vfs.SimpleLink(t, old, dir, name)
	return nil
}

func (testDirOps) Unlink(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, victim *vfs.Inode) error {
	vfs.SimpleUnlink(t, dir, name)
	return nil
}

func (testDirOps) Rmdir(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, victim *vfs.Inode) error {
	return vfs.SimpleRmdir(t, dir, name, victim)
}

func (testDirOps) Rename(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, oldName string, newDir *vfs.Inode, newName string, flags uint32) error {
	return vfs.SimpleRename(t, dir, oldName, newDir, newName, flags)
}

// genFile is a generated file: each open renders "NAME open N\n" with a
// per-file counter, like a seq file showing fresh state.
type genFile struct {
	name    string
	opens   atomic.Int64
	removed atomic.Bool
	dir     *vfs.Inode // where it was created
	// body pads the output (the benchmark's file is cgroup.stat-sized)
	// unless short is set.
	body  string
	short atomic.Bool
}

func (g *genFile) Open(f *vfs.File) error {
	if g.removed.Load() {
		return unix.ENODEV
	}
	body := g.body
	if g.short.Load() {
		body = ""
	}
	f.Private = []byte(fmt.Sprintf("%s open %d\n%s", g.name, g.opens.Add(1), body))
	return nil
}

func (g *genFile) Read(f *vfs.File, p []byte, off int64) (int, error) {
	if g.removed.Load() {
		return 0, unix.ENODEV
	}
	data := f.Private.([]byte)
	if off >= int64(len(data)) {
		return 0, nil
	}
	return copy(p, data[off:]), nil
}

// Write accepts "rm" (a trailing newline allowed) and removes the file,
// as the RFC's exposed files do; anything else is EINVAL.
func (g *genFile) Write(f *vfs.File, p []byte, off int64) (int, error) {
	if g.removed.Load() {
		return 0, unix.ENODEV
	}
	if strings.TrimSuffix(string(p), "\n") != "rm" {
		return 0, unix.EINVAL
	}
	removeGen(f.VFS(), f.Inode())
	return len(p), nil
}

func (g *genFile) Release(f *vfs.File) {}

// Truncate accepts O_TRUNC (kernfs ignores the size of its files).
func (g *genFile) Truncate(in *vfs.Inode, size int64) (int64, error) { return 0, nil }

// addGen creates a generated file named name in dir, server-side.
func addGen(v *vfs.VFS, dir *vfs.Inode, name string, mode uint32, body string) (*vfs.Inode, *genFile) {
	g := &genFile{name: name, body: body, dir: dir}
	t := v.Begin()
	in := t.NewInode(dir.Superblock(), vfs.InodeAttr{Mode: vfs.S_IFREG | mode, FileOps: g})
	t.AddChild(dir, name, in)
	t.End()
	return in, g
}

// removeGen removes a generated file server-side, the way kernfs removes
// a node: deactivated first (reads answer ENODEV), then detached from its
// directory without touching its link count.
func removeGen(v *vfs.VFS, in *vfs.Inode) {
	g := in.FileOps().(*genFile)
	g.removed.Store(true)
	t := v.Begin()
	if t.Child(g.dir, g.name) == in {
		t.DetachChild(g.dir, g.name)
	}
	t.End()
}
