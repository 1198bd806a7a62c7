// Package bpffs is the BPF file system: pins of programs, maps and links as
// files, directories, symlinks and hard links between them. It stands for
// kernel/bpf/inode.c, including the two pieces the 2022 RFC "Pinning bpf
// objects outside bpffs" adds there: the back pointer from an object to the
// first bpffs inode that pinned it (patch 2, [GetBackingInode]) and
// bpf_watch_inode, an fsnotify mark that tells another file system when a
// pin inode dies (patch 1, [WatchInode]).
//
// # Reference model
//
// A pin inode holds one reference on its object, taken at pin time and
// dropped when the inode is destroyed: its last link unlinked and its last
// open file closed, or the file system unmounted. Destruction first lets
// fsnotify marks on the inode fire (the RFC removes kernfs exposures there),
// then clears the object's back pointer if it points here, then drops the
// reference — the order of fsnotify_inoderemove and bpf_free_inode.
//
// # Behaviour
//
// The root is drwxrwxrwt (sticky, 01777 by default); pins are regular files
// of mode 0600 &^ umask, nlink 1, size 0; readdir lists newest entries
// first (dcache_readdir). Names containing a dot are refused with EPERM in
// any directory with permission bits (bpf_lookup); open(O_CREAT) of a new
// name is EACCES (no ->create), mknod EPERM. Opening a pinned program or a
// pinned non-iterator link is EIO; a pinned map with BTF reads as text with
// the kernel's two warning lines; a pinned iterator link starts a new
// iterator session per open. Like the running 6.18 kernel, a fresh mount
// holds bpf_preload's maps.debug and progs.debug entries (0400): they stat,
// but opening them is ENOENT and unlinking, renaming or linking them EPERM.
//
// # Left out
//
// Mount options other than mode, uid and gid (no BPF token delegation),
// BPF_F_PATH_FD, xattrs, the preload iterators' contents.
package bpffs

import (
	"strings"
	"sync"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/fsnotify"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// Magic is BPF_FS_MAGIC.
const Magic = 0xcafe4a11

// Options are bpffs mount options.
type Options struct {
	// Mode is the root's permission bits (default 0777); the sticky bit is
	// always added.
	Mode uint32
	// UID and GID own the root.
	UID, GID uint32
	// NoPreload leaves out maps.debug and progs.debug.
	NoPreload bool
	// Notify is the machine's fsnotify registry; without it WatchInode
	// fails with EPERM, as bpf_watch_inode does without CONFIG_FSNOTIFY.
	Notify *fsnotify.Registry
}

// FS is one bpffs instance (one mount).
type FS struct {
	sys *bpf.Subsystem
	sb  *vfs.Superblock
	v   *vfs.VFS

	mu    sync.Mutex
	paths map[*vfs.Inode]string // where each pin was made, for events

	// notify is bpf_notify_group: the group of the RFC's watch marks.
	notify *fsnotify.Group
}

// pin is the private data of a pin inode: bpf_inode_type's answer.
type pin struct {
	obj bpf.Object
}

type preload struct{}

// New creates a bpffs instance; mount it with vfs.Mount.
func New(v *vfs.VFS, sys *bpf.Subsystem, opts Options) *FS {
	mode := opts.Mode
	if mode == 0 {
		mode = vfs.S_IRWXUGO
	}
	fs := &FS{sys: sys, v: v, paths: make(map[*vfs.Inode]string)}
	if opts.Notify != nil {
		fs.notify = opts.Notify.NewGroup(fsnotify.GroupOps{})
	}
	fs.sb = v.NewSuperblock(fs, vfs.InodeAttr{Ino: 1, Mode: vfs.S_IFDIR | vfs.S_ISVTX | mode&vfs.S_IALLUGO, UID: opts.UID, GID: opts.GID, DirOps: dirOps{fs}})
	if !opts.NoPreload {
		t := v.Begin()
		root := fs.sb.Root()
		for _, name := range []string{"maps.debug", "progs.debug"} {
			in := t.NewInode(fs.sb, vfs.InodeAttr{Mode: vfs.S_IFREG | 0400, FileOps: preloadOps{}, Private: preload{}})
			t.AddChild(root, name, in)
		}
		t.End()
	}
	return fs
}

// Superblock returns the instance's superblock.
func (fs *FS) Superblock() *vfs.Superblock { return fs.sb }

// Statfs is simple_statfs with BPF_FS_MAGIC.
func (fs *FS) Statfs() vfs.Statfs {
	return vfs.Statfs{Type: Magic, Bsize: 4096, Namelen: vfs.NameMax}
}

// SortDirents lists newest entries first, as dcache_readdir does.
func (fs *FS) SortDirents(ents []vfs.Dirent) {
	sortNewestFirst(ents)
}

// EvictInode is bpf_free_inode: clear the back pointer, drop the pin's
// reference.
func (fs *FS) EvictInode(in *vfs.Inode) {
	p, ok := in.Private().(*pin)
	if !ok {
		return
	}
	p.obj.CondSetBackingInode(in, nil)
	fs.mu.Lock()
	path := fs.paths[in]
	delete(fs.paths, in)
	fs.mu.Unlock()
	fs.sys.Emit(events.Event{Kind: events.Unpinned, ObjType: p.obj.ObjType().String(), ObjID: p.obj.ID(), Path: path})
	p.obj.Put()
}

// IsDir reports whether in is a bpffs directory (dentry_is_bpf_dir).
func IsDir(in *vfs.Inode) bool {
	_, ok := in.DirOps().(dirOps)
	return ok
}

// ObjectOf returns the object a bpffs inode pins (bpf_inode_type): false
// for directories, symlinks, preload entries and inodes of other file
// systems.
func ObjectOf(in *vfs.Inode) (bpf.Object, bool) {
	p, ok := in.Private().(*pin)
	if !ok {
		return nil, false
	}
	return p.obj, true
}

// GetBackingInode is the RFC's get_backing_inode: the first bpffs inode that
// pinned obj, with a reference the caller drops with Txn.Put, or nil if
// there is none or it is being destroyed (unlinked: I_FREEING).
func GetBackingInode(t *vfs.Txn, obj bpf.Object) *vfs.Inode {
	in := obj.BackingInode()
	if in == nil || in.Removed() || !t.Get(in) {
		return nil
	}
	return in
}

// WatchInode is the RFC's bpf_watch_inode (patch 1): when the bpffs inode in
// dies — its last link unlinked, or the file system unmounted — free runs
// once with the object in pinned and priv. Many watches may share an inode
// (allow_dups). It may be called inside a vfs transaction; free runs with no
// lock held and may remove nodes of other file systems.
func (fs *FS) WatchInode(in *vfs.Inode, free func(obj bpf.Object, priv any), priv any) error {
	if fs.notify == nil {
		return unix.EPERM
	}
	obj, _ := ObjectOf(in)
	m := &fsnotify.Mark{Private: priv, Freeing: func(m *fsnotify.Mark, why fsnotify.Reason) {
		free(obj, m.Private)
	}}
	return fs.notify.AddInodeMark(in, m, true)
}

// Pin is bpf_obj_do_pin's bpffs branch (vfs_mkobj with bpf_mkprog,
// bpf_mkmap or bpf_mklink): it creates name in dir, inside a vfs
// transaction, for a caller that already walked to dir (vfs.CreateAt). On
// success the new inode owns the reference the caller passes in; on error
// the caller keeps it. path is recorded for events.
func (fs *FS) Pin(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, obj bpf.Object, path string) (*vfs.Inode, error) {
	if dir.Superblock() != fs.sb || !IsDir(dir) {
		return nil, unix.EPERM
	}
	if err := t.CheckMayCreate(c, dir); err != nil {
		return nil, err
	}
	uid, gid := c.Owner(dir)
	mode := vfs.S_IFREG | (0600 &^ c.Umask)
	in := t.NewInode(fs.sb, vfs.InodeAttr{Mode: mode, UID: uid, GID: gid, FileOps: fs.fileOps(obj), Private: &pin{obj: obj}})
	t.AddChild(dir, name, in)
	// bpf_mkobj_ops: record the first pin only.
	obj.CondSetBackingInode(nil, in)
	fs.mu.Lock()
	fs.paths[in] = path
	fs.mu.Unlock()
	t.Notify(vfs.Event{Mask: unix.IN_CREATE, Dir: dir, Name: name, Inode: in})
	return in, nil
}

type dirOps struct{ fs *FS }

var _ vfs.DirOps = dirOps{}

// Lookup is bpf_lookup: a name with a dot is EPERM in a directory with any
// permission bit.
func (d dirOps) Lookup(dir *vfs.Inode, name string) error {
	if dir.Mode()&vfs.S_IALLUGO != 0 && strings.Contains(name, ".") {
		return unix.EPERM
	}
	return vfs.NoDirOps{}.Lookup(dir, name)
}

func (d dirOps) Create(*vfs.Txn, *vfs.Caller, *vfs.Inode, string, uint32) (*vfs.Inode, error) {
	return nil, unix.EACCES
}

func (d dirOps) Mknod(*vfs.Txn, *vfs.Caller, *vfs.Inode, string, uint32, uint64) (*vfs.Inode, error) {
	return nil, unix.EPERM
}

func (d dirOps) Mkdir(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, mode uint32) (*vfs.Inode, error) {
	return vfs.SimpleMkdir(t, c, dir, name, mode, d), nil
}

func (d dirOps) Symlink(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name, target string) (*vfs.Inode, error) {
	return vfs.SimpleSymlink(t, c, dir, name, target), nil
}

func (d dirOps) Link(t *vfs.Txn, c *vfs.Caller, old, dir *vfs.Inode, name string) error {
	if isPreload(old) {
		return unix.EPERM
	}
	vfs.SimpleLink(t, old, dir, name)
	return nil
}

func (d dirOps) Unlink(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, victim *vfs.Inode) error {
	if isPreload(victim) {
		return unix.EPERM
	}
	vfs.SimpleUnlink(t, dir, name)
	return nil
}

func (d dirOps) Rmdir(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, victim *vfs.Inode) error {
	return vfs.SimpleRmdir(t, dir, name, victim)
}

func (d dirOps) Rename(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, oldName string, newDir *vfs.Inode, newName string, flags uint32) error {
	if src := t.Child(dir, oldName); src != nil && isPreload(src) {
		return unix.EPERM
	}
	if dst := t.Child(newDir, newName); dst != nil && isPreload(dst) {
		return unix.EPERM
	}
	return vfs.SimpleRenameDcache(t, dir, oldName, newDir, newName, flags)
}

func isPreload(in *vfs.Inode) bool {
	_, ok := in.Private().(preload)
	return ok
}
