package vfs

import (
	"sync"

	"golang.org/x/sys/unix"
)

// RamFS is a ramfs-like file system: directories, symlinks, hard links,
// FIFOs and regular files with their data in memory. The simulated machine
// uses it for "/" (with /sys/fs/bpf and /sys/fs/cgroup as mountpoints) and
// tests use it as a plain Linux file system to compare bpffs and kernfs
// against.
type RamFS struct {
	// Magic is reported by statfs (RAMFS_MAGIC by default).
	Magic int64
	// Evicted, if set, is called for every inode destroyed (tests count).
	Evicted func(in *Inode)
}

// RamfsMagic is RAMFS_MAGIC.
const RamfsMagic = 0x858458f6

var _ SuperOps = (*RamFS)(nil)

// NewRamFS creates a ramfs superblock whose root has the given permission
// bits.
func NewRamFS(v *VFS, rootMode uint32) *Superblock {
	fs := &RamFS{}
	return v.NewSuperblock(fs, InodeAttr{Mode: S_IFDIR | rootMode, DirOps: ramDirOps{}})
}

// Statfs reports the ramfs magic.
func (fs *RamFS) Statfs() Statfs {
	m := fs.Magic
	if m == 0 {
		m = RamfsMagic
	}
	return Statfs{Type: m, Bsize: 4096, Namelen: NameMax}
}

// EvictInode drops nothing: data is garbage collected.
func (fs *RamFS) EvictInode(in *Inode) {
	if fs.Evicted != nil {
		fs.Evicted(in)
	}
}

// RamDirOps returns the directory operations of a ramfs directory, for
// callers that build a ramfs root with [VFS.New].
func RamDirOps() DirOps { return ramDirOps{} }

type ramDirOps struct{ NoDirOps }

func (ramDirOps) Create(t *Txn, c *Caller, dir *Inode, name string, mode uint32) (*Inode, error) {
	uid, gid := c.Owner(dir)
	in := t.NewInode(dir.sb, InodeAttr{Mode: mode, UID: uid, GID: gid, FileOps: &ramFile{}})
	t.AddChild(dir, name, in)
	return in, nil
}

func (ramDirOps) Mknod(t *Txn, c *Caller, dir *Inode, name string, mode uint32, dev uint64) (*Inode, error) {
	uid, gid := c.Owner(dir)
	in := t.NewInode(dir.sb, InodeAttr{Mode: mode, UID: uid, GID: gid, FileOps: &ramFile{}})
	t.AddChild(dir, name, in)
	return in, nil
}

func (ramDirOps) Mkdir(t *Txn, c *Caller, dir *Inode, name string, mode uint32) (*Inode, error) {
	return SimpleMkdir(t, c, dir, name, mode, ramDirOps{}), nil
}

// Symlink is ramfs_symlink: page_symlink stores the target as the file's
// data, so st_size is its length (bpffs, which keeps it in i_link, says 0).
func (ramDirOps) Symlink(t *Txn, c *Caller, dir *Inode, name, target string) (*Inode, error) {
	in := SimpleSymlink(t, c, dir, name, target)
	in.size = int64(len(target))
	return in, nil
}

func (ramDirOps) Link(t *Txn, c *Caller, old, dir *Inode, name string) error {
	SimpleLink(t, old, dir, name)
	return nil
}

func (ramDirOps) Unlink(t *Txn, c *Caller, dir *Inode, name string, victim *Inode) error {
	SimpleUnlink(t, dir, name)
	return nil
}

func (ramDirOps) Rmdir(t *Txn, c *Caller, dir *Inode, name string, victim *Inode) error {
	return SimpleRmdir(t, dir, name, victim)
}

func (ramDirOps) Rename(t *Txn, c *Caller, dir *Inode, oldName string, newDir *Inode, newName string, flags uint32) error {
	return SimpleRename(t, dir, oldName, newDir, newName, flags)
}

// ramFile is a regular file's data, shared by all its names.
type ramFile struct {
	mu   sync.Mutex
	data []byte
}

func (r *ramFile) Open(f *File) error { return nil }

func (r *ramFile) Read(f *File, p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if off >= int64(len(r.data)) {
		return 0, nil
	}
	return copy(p, r.data[off:]), nil
}

func (r *ramFile) Write(f *File, p []byte, off int64) (int, error) {
	if f.Inode().Type() != S_IFREG {
		return 0, unix.EINVAL
	}
	r.mu.Lock()
	end := off + int64(len(p))
	if end > int64(len(r.data)) {
		r.data = append(r.data, make([]byte, end-int64(len(r.data)))...)
	}
	copy(r.data[off:], p)
	size := int64(len(r.data))
	r.mu.Unlock()
	t := f.v.Begin()
	// generic_file_write_iter: file_remove_privs, then the data (File.Write
	// reports the IN_MODIFY).
	if t.killPriv(f.Caller(), f.inode) {
		t.Notify(inodeEvent(unix.IN_ATTRIB, f.inode, f.dent))
	}
	f.inode.size = size
	f.inode.touchCMtime(t.now)
	t.End()
	return len(p), nil
}

func (r *ramFile) Release(f *File) {}

// Truncate resizes the data.
func (r *ramFile) Truncate(in *Inode, size int64) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if size < int64(len(r.data)) {
		r.data = r.data[:size]
	} else {
		r.data = append(r.data, make([]byte, size-int64(len(r.data)))...)
	}
	return size, nil
}
