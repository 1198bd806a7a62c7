package kernfs

import (
	"math"
	"sync"

	"github.com/simfs/simfs/seqfile"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// RootFlags are kernfs_root flags.
type RootFlags uint32

const (
	// CreateDeactivated is KERNFS_ROOT_CREATE_DEACTIVATED: new nodes stay
	// invisible until [Root.Activate] (cgroup roots set it so that a new
	// cgroup appears together with all its files).
	CreateDeactivated RootFlags = 1 << iota
	// ExtraOpenPermCheck is KERNFS_ROOT_EXTRA_OPEN_PERM_CHECK (sysfs):
	// opening a file for reading or writing also needs the matching mode
	// bit and handler, even for root (EACCES).
	ExtraOpenPermCheck
	// SupportUserXattr is KERNFS_ROOT_SUPPORT_USER_XATTR (cgroup2):
	// user.* extended attributes can be set, within kernfs's limits.
	SupportUserXattr
)

// SyscallOps are kernfs_syscall_ops: what mkdir(2), rmdir(2) and rename(2)
// in a directory of the root do. A nil function makes the call fail with
// EPERM. They run inside the system call's transaction, with an active
// reference on the directories involved; they change the tree through the
// Root's methods with t.
type SyscallOps struct {
	// Mkdir creates name in parent and returns the new directory, which
	// must be visible (activated) when it returns. mode has the umask
	// applied.
	Mkdir func(t *vfs.Txn, c *vfs.Caller, parent *Node, name string, mode uint32) (*Node, error)
	// Rmdir removes the directory n.
	Rmdir func(t *vfs.Txn, c *vfs.Caller, n *Node) error
	// Rename moves n to newName in newParent (Root.Rename does the move).
	Rename func(t *vfs.Txn, c *vfs.Caller, n, newParent *Node, newName string) error
}

// RootOptions configure a new root.
type RootOptions struct {
	Flags RootFlags
	// Magic is what statfs reports (cgroup2: 0x63677270).
	Magic int64
	// Ops are the directory system calls; the zero value refuses them all.
	Ops SyscallOps
	// Priv is the root node's private value (cgroup: the root cgroup).
	Priv any
}

// Root is a kernfs hierarchy (struct kernfs_root) and the superblock that
// shows it in the VFS. Mount [Root.Superblock] where it should appear.
type Root struct {
	v     *vfs.VFS
	sb    *vfs.Superblock
	flags RootFlags
	magic int64
	scops SyscallOps
	node  *Node

	// mu is kernfs_rwsem: the tree of nodes, names, flags and the id map.
	mu sync.RWMutex
	// ids is ino_idr: low 32 bits of a node's id to the node, for every
	// node that still has a plain reference.
	ids idTable
	// xattrs are the extended attributes of the nodes that have any
	// (flagXattrs), until the node is released: kernfs_iattrs.xattrs.
	xattrs   map[*Node]*xattrSet
	nextLow  uint32 // idr_alloc_cyclic's cursor
	lastLow  uint32 // last_id_lowbits
	highbits uint32 // id_highbits
	maxLow   uint32 // INT_MAX; lowered by tests to exercise wrap-around
	// batch is set while Remove or RemoveNodes unlinks its nodes: the
	// child tables they leave sparse are queued in tidy and tidied once,
	// at its end.
	batch bool
	tidy  []*Node
	// warmSink takes what warm read, so that the reads stay.
	warmSink uint64
	// seqBufs recycles the first buffers of released seq files.
	seqBufs seqfile.Pool

	// waitMu and waitq are deactivate_waitq: removers wait here for
	// active references to drain, and kernfs_remove_self arbitrates here.
	waitMu sync.Mutex
	waitq  *sync.Cond

	// openMu is kernfs_open_file_mutex: open-file lists and release.
	openMu sync.Mutex
}

var (
	_ vfs.SuperOps = (*Root)(nil)
	_ vfs.DirOrder = (*Root)(nil)
)

// NewRoot creates a kernfs root (kernfs_create_root) in v: its root node
// has id 1, mode 0555 and owner root, and it is active at once unless
// CreateDeactivated is set. The superblock is not mounted.
func NewRoot(v *vfs.VFS, o RootOptions) *Root {
	r := &Root{
		v:       v,
		flags:   o.Flags,
		magic:   o.Magic,
		scops:   o.Ops,
		nextLow: 1,
		maxLow:  math.MaxInt32,
	}
	r.waitq = sync.NewCond(&r.waitMu)
	n := r.newNode(nil, "", vfs.S_IFDIR|0555, 0, 0, o.Priv)
	n.flags |= flagLinked
	r.node = n
	r.sb = v.NewSuperblock(r, vfs.InodeAttr{
		Ino: n.id, Mode: vfs.S_IFDIR | 0555, DirOps: dirOps{}, Private: n,
	})
	n.inode = r.sb.Root()
	if r.flags&CreateDeactivated == 0 {
		n.flags |= flagActivated
		n.active.Store(0)
	}
	return r
}

// Superblock returns the superblock to mount.
func (r *Root) Superblock() *vfs.Superblock { return r.sb }

// VFS returns the namespace the root lives in.
func (r *Root) VFS() *vfs.VFS { return r.v }

// Node returns the root node.
func (r *Root) Node() *Node { return r.node }

// Flags returns the root's flags.
func (r *Root) Flags() RootFlags { return r.flags }

// Statfs implements vfs.SuperOps: simple_statfs with the root's magic.
func (r *Root) Statfs() vfs.Statfs {
	return vfs.Statfs{Type: r.magic, Bsize: 4096, Namelen: vfs.NameMax}
}

// EvictInode implements vfs.SuperOps. A kernfs node outlives its VFS
// inodes, so there is nothing to drop.
func (r *Root) EvictInode(in *vfs.Inode) {}

// NodeOf returns the kernfs node behind a VFS inode, or nil if in does not
// belong to a kernfs root (kernfs_node_from_dentry).
func NodeOf(in *vfs.Inode) *Node {
	if in == nil {
		return nil
	}
	n, _ := in.Private().(*Node)
	return n
}

// RootOf returns the kernfs root a VFS inode belongs to, or nil
// (kernfs_root_from_sb).
func RootOf(in *vfs.Inode) *Root {
	if in == nil {
		return nil
	}
	r, _ := in.Superblock().Ops().(*Root)
	return r
}

// allocID is __kernfs_new_node's id allocation: idr_alloc_cyclic over
// [1, INT_MAX], bumping the high 32 bits whenever the low bits wrap, so a
// 64-bit id is never handed out twice. Caller holds r.mu.
func (r *Root) allocID(n *Node) uint64 {
	low := r.nextLow
	if low < 1 || low > r.maxLow {
		low = 1
	}
	for start := low; ; {
		if r.ids.get(low) == nil {
			break
		}
		low++
		if low > r.maxLow {
			low = 1
		}
		if low == start {
			panic("kernfs: node id space exhausted")
		}
	}
	if low < r.lastLow {
		r.highbits++
	}
	r.lastLow = low
	r.nextLow = low + 1
	r.ids.set(low, n)
	return uint64(r.highbits)<<32 | uint64(low)
}

// FindByID returns the active node with id and takes a plain reference on
// it, which the caller drops with [Node.Put]; nil if there is none
// (kernfs_find_and_get_node_by_id: nodes never activated, being removed or
// hidden are not found).
func (r *Root) FindByID(id uint64) *Node {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := r.ids.get(uint32(id))
	if n == nil || n.id != id || !n.isActive() {
		return nil
	}
	if !n.tryGet() {
		return nil
	}
	return n
}

// txn runs fn in t, or in a transaction of its own when t is nil; in that
// case everything fn deferred (draining removed nodes) has run when txn
// returns.
func (r *Root) txn(t *vfs.Txn, fn func(t *vfs.Txn) error) error {
	if t != nil {
		return fn(t)
	}
	t = r.v.Begin()
	defer t.End()
	return fn(t)
}

func checkName(name string) error {
	switch name {
	case "", ".", "..":
		return unix.EINVAL
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return unix.EINVAL
		}
	}
	return nil
}
