package fusefs

import (
	"context"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// node is the go-fuse inode of one vfs inode. There is at most one node
// per vfs inode at a time (Server.nodes), so hard links share a FUSE node
// id, as they share a kernel inode on a real file system. A node holds no
// vfs reference: the kernel caching an inode must not keep a simulated
// inode alive (an unlinked pin must die at its last close, not when the
// kernel forgets it). Open files hold references through their vfs.File.
type node struct {
	fs.Inode
	srv *Server
	in  *vfs.Inode

	// forgotten is set when the kernel dropped the node while the vfs
	// inode still lives; guarded by srv.mu.
	forgotten bool
	// born is when the node was made; its first reply may still be on
	// the way to the kernel for a moment (see invalidator.process).
	born atomic.Int64 // UnixNano
	// snap is the passthrough backing file (Options.Passthrough).
	snap snapState
}

// Every operation is implemented: go-fuse's defaults would answer for the
// simulator, sometimes with success (a missing Unlink or Rmdir removes the
// entry and returns 0). Locks are left to the kernel (go-fuse does not ask
// for them) and POLL is switched off by go-fuse.
var (
	_ fs.NodeLookuper       = (*node)(nil)
	_ fs.NodeGetattrer      = (*node)(nil)
	_ fs.NodeSetattrer      = (*node)(nil)
	_ fs.NodeStatxer        = (*node)(nil)
	_ fs.NodeAccesser       = (*node)(nil)
	_ fs.NodeOpener         = (*node)(nil)
	_ fs.NodeReader         = (*node)(nil)
	_ fs.NodeWriter         = (*node)(nil)
	_ fs.NodeWritever       = (*node)(nil)
	_ fs.NodeFlusher        = (*node)(nil)
	_ fs.NodeReleaser       = (*node)(nil)
	_ fs.NodeFsyncer        = (*node)(nil)
	_ fs.NodeLseeker        = (*node)(nil)
	_ fs.NodeAllocater      = (*node)(nil)
	_ fs.NodeCopyFileRanger = (*node)(nil)
	_ fs.NodeIoctler        = (*node)(nil)
	_ fs.NodeOpendirHandler = (*node)(nil)
	_ fs.NodeCreater        = (*node)(nil)
	_ fs.NodeTmpfiler       = (*node)(nil)
	_ fs.NodeMknoder        = (*node)(nil)
	_ fs.NodeMkdirer        = (*node)(nil)
	_ fs.NodeRmdirer        = (*node)(nil)
	_ fs.NodeUnlinker       = (*node)(nil)
	_ fs.NodeRenamer        = (*node)(nil)
	_ fs.NodeLinker         = (*node)(nil)
	_ fs.NodeSymlinker      = (*node)(nil)
	_ fs.NodeReadlinker     = (*node)(nil)
	_ fs.NodeStatfser       = (*node)(nil)
	_ fs.NodeGetxattrer     = (*node)(nil)
	_ fs.NodeSetxattrer     = (*node)(nil)
	_ fs.NodeListxattrer    = (*node)(nil)
	_ fs.NodeRemovexattrer  = (*node)(nil)
	_ fs.NodeOnForgetter    = (*node)(nil)
)

// child returns the node of a vfs inode reached from parent, creating it
// if the kernel has none.
func (s *Server) child(ctx context.Context, parent *node, in *vfs.Inode) *fs.Inode {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.nodes[in]; n != nil {
		if n.forgotten {
			// The kernel learns the node anew.
			n.forgotten = false
			s.nforgotten--
			n.born.Store(time.Now().UnixNano())
		}
		return n.EmbeddedInode()
	}
	n := &node{srv: s, in: in}
	n.born.Store(time.Now().UnixNano())
	// Gen is unique per node so that go-fuse never merges this node with
	// an older one of the same inode number (a number the simulator
	// reused): Server.nodes alone decides identity.
	s.gen++
	ino := parent.NewInode(ctx, n, fs.StableAttr{Mode: in.Type(), Ino: in.Ino(), Gen: s.gen})
	s.nodes[in] = n
	return ino
}

// lookupNode returns the node of a vfs inode, or nil if the kernel has
// never been told about it.
func (s *Server) lookupNode(in *vfs.Inode) *node {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nodes[in]
}

// OnForget runs when the kernel no longer holds the node. The entry stays
// while the vfs inode lives (a later lookup revives the node) and goes
// with it; dead entries of forgotten nodes are swept now and then.
func (n *node) OnForget() {
	s := n.srv
	s.forgetSnapshot(&n.snap)
	alive := s.v.Alive(n.in)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nodes[n.in] != n {
		return
	}
	if !alive {
		if n.forgotten {
			s.nforgotten--
		}
		delete(s.nodes, n.in)
		return
	}
	if !n.forgotten {
		n.forgotten = true
		s.nforgotten++
	}
	if s.nforgotten > 1024 && s.nforgotten > len(s.nodes)/2 {
		for in, m := range s.nodes {
			if m.forgotten && !s.v.Alive(in) {
				delete(s.nodes, in)
				s.nforgotten--
			}
		}
	}
}

func fillAttr(st *vfs.Stat, a *fuse.Attr) {
	a.Ino = st.Ino
	a.Size = uint64(st.Size)
	a.Blocks = uint64(st.Blocks)
	a.Atime, a.Atimensec = unixTime(st.Atime)
	a.Mtime, a.Mtimensec = unixTime(st.Mtime)
	a.Ctime, a.Ctimensec = unixTime(st.Ctime)
	a.Mode = st.Mode
	a.Nlink = st.Nlink
	a.Uid = st.UID
	a.Gid = st.GID
	a.Blksize = uint32(st.Blksize)
	if a.Blksize == 0 {
		a.Blksize = 4096
	}
}

func unixTime(t time.Time) (uint64, uint32) {
	if t.IsZero() || t.Unix() < 0 {
		return 0, 0
	}
	return uint64(t.Unix()), uint32(t.Nanosecond())
}

// entry fills out with the attributes of in and returns its node.
// The node exists before the attributes are read, so that a change made
// in between finds it to invalidate (see invalidator.process).
func (n *node) entry(ctx context.Context, in *vfs.Inode, out *fuse.EntryOut) *fs.Inode {
	ch := n.srv.child(ctx, n, in)
	st := n.srv.v.Getattr(in)
	fillAttr(&st, &out.Attr)
	return ch
}

// Lookup is a path walk's step: search permission on the directory, then
// the entry or the file system's answer for a missing name (ENOENT, or
// EPERM for a dotted name in bpffs).
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var in *vfs.Inode
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		in, err = n.srv.v.Lookup(c, n.in, name)
		return err
	})
	if errno != 0 {
		return nil, errno
	}
	return n.entry(ctx, in, out), 0
}

// Getattr reports the simulator's attributes: its inode number, mode, link
// count, owner and size (0 for generated files).
func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	st := n.srv.v.Getattr(n.in)
	fillAttr(&st, &out.Attr)
	return 0
}

// Statx answers ENOSYS, after which the kernel uses GETATTR for good: the
// simulator has nothing statx adds (no birth time).
func (n *node) Statx(ctx context.Context, fh fs.FileHandle, flags uint32, mask uint32, out *fuse.StatxOut) syscall.Errno {
	return syscall.ENOSYS
}

// Setattr is chmod, chown, truncate and utimes with notify_change's rules.
func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var a vfs.SetAttr
	v := in.Valid
	if v&fuse.FATTR_MODE != 0 {
		m := in.Mode & vfs.S_IALLUGO
		a.Mode = &m
	}
	if v&fuse.FATTR_UID != 0 {
		uid := in.Uid
		a.UID = &uid
	}
	if v&fuse.FATTR_GID != 0 {
		gid := in.Gid
		a.GID = &gid
	}
	if v&fuse.FATTR_SIZE != 0 {
		if in.Size > 1<<63-1 {
			return syscall.EFBIG
		}
		sz := int64(in.Size)
		a.Size = &sz
	}
	switch {
	case v&fuse.FATTR_ATIME_NOW != 0:
		a.AtimeNow = true
	case v&fuse.FATTR_ATIME != 0:
		t := time.Unix(int64(in.Atime), int64(in.Atimensec))
		a.Atime = &t
	}
	switch {
	case v&fuse.FATTR_MTIME_NOW != 0:
		a.MtimeNow = true
	case v&fuse.FATTR_MTIME != 0:
		t := time.Unix(int64(in.Mtime), int64(in.Mtimensec))
		a.Mtime = &t
	}
	h, _ := fh.(*fileHandle)
	errno := n.srv.do(ctx, func(c *vfs.Caller) error {
		if a.Size != nil {
			if h != nil {
				// ftruncate, or O_TRUNC at open: the descriptor must
				// be writable (the kernel has checked as much).
				if h.f.Flags()&unix.O_ACCMODE == unix.O_RDONLY {
					return unix.EINVAL
				}
			} else if err := n.srv.v.Permission(c, n.in, vfs.MayWrite); err != nil {
				// truncate(2) checks write permission itself.
				return err
			}
		}
		return n.srv.v.Setattr(c, n.in, a)
	})
	if errno != 0 {
		return errno
	}
	st := n.srv.v.Getattr(n.in)
	fillAttr(&st, &out.Attr)
	return 0
}

// Access is access(2), with the caller's real ids.
func (n *node) Access(ctx context.Context, mask uint32) syscall.Errno {
	return n.srv.do(ctx, func(c *vfs.Caller) error {
		return n.srv.v.Permission(c, n.in, mask&(vfs.MayRead|vfs.MayWrite|vfs.MayExec))
	})
}

// Readlink returns a symlink's target.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	target, err := n.srv.v.ReadlinkInode(n.in)
	if err != nil {
		return nil, vfs.Errno(err)
	}
	return []byte(target), 0
}

// Statfs reports the superblock's block size and name length. The kernel
// sets f_type to FUSE_SUPER_MAGIC itself: the reply has no field for the
// simulator's magic.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	st := n.srv.v.StatfsInode(n.in)
	out.Bsize = uint32(st.Bsize)
	out.Frsize = uint32(st.Frsize)
	out.NameLen = uint32(st.Namelen)
	return 0
}

// Mkdir is mkdir(2); the kernel has applied the umask to mode.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var in *vfs.Inode
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		in, err = n.srv.v.MkdirChild(c, n.in, name, mode)
		return err
	})
	if errno != 0 {
		return nil, errno
	}
	return n.entry(ctx, in, out), 0
}

// Mknod is mknod(2) (a regular file goes to the file system's create).
func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var in *vfs.Inode
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		in, err = n.srv.v.MknodChild(c, n.in, name, mode, uint64(dev))
		return err
	})
	if errno != 0 {
		return nil, errno
	}
	return n.entry(ctx, in, out), 0
}

// Symlink is symlink(2).
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	var in *vfs.Inode
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		in, err = n.srv.v.SymlinkChild(c, n.in, name, target)
		return err
	})
	if errno != 0 {
		return nil, errno
	}
	return n.entry(ctx, in, out), 0
}

// Link is link(2). The kernel refuses links across mounts (EXDEV) before
// asking.
func (n *node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	old, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	errno := n.srv.do(ctx, func(c *vfs.Caller) error {
		return n.srv.v.LinkChild(c, old.in, n.in, name)
	})
	if errno != 0 {
		return nil, errno
	}
	return n.entry(ctx, old.in, out), 0
}

// Unlink is unlink(2). On success go-fuse drops the entry from its tree and
// the kernel from its dentry cache.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return n.srv.do(ctx, func(c *vfs.Caller) error {
		return n.srv.v.UnlinkChild(c, n.in, name)
	})
}

// Rmdir is rmdir(2).
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return n.srv.do(ctx, func(c *vfs.Caller) error {
		return n.srv.v.RmdirChild(c, n.in, name)
	})
}

// Rename is renameat2(2) with RENAME_NOREPLACE and RENAME_EXCHANGE. A
// rename between two mounts never gets here: the kernel answers EXDEV.
func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	return n.srv.do(ctx, func(c *vfs.Caller) error {
		return n.srv.v.RenameChild(c, n.in, name, np.in, newName, flags)
	})
}

// Tmpfile answers EOPNOTSUPP: neither bpffs nor kernfs has ->tmpfile.
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.EOPNOTSUPP
}

// Xattrs is an optional extension of a superblock's vfs.SuperOps for file
// systems with extended attributes (kernfs keeps security.* and, for
// cgroup2, user.* ones). Without it every xattr request is answered as
// Linux answers for a file system without xattr handlers, as bpffs is:
// EOPNOTSUPP, and an empty list. Errors are syscall.Errno values (ENODATA
// for a missing attribute, ERANGE is handled here).
type Xattrs interface {
	Getxattr(c *vfs.Caller, in *vfs.Inode, name string) ([]byte, error)
	Setxattr(c *vfs.Caller, in *vfs.Inode, name string, value []byte, flags int) error
	Listxattr(c *vfs.Caller, in *vfs.Inode) ([]string, error)
	Removexattr(c *vfs.Caller, in *vfs.Inode, name string) error
}

func (n *node) xattrs() Xattrs {
	x, _ := n.in.Superblock().Ops().(Xattrs)
	return x
}

// Getxattr is getxattr(2).
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	x := n.xattrs()
	if x == nil {
		return 0, syscall.EOPNOTSUPP
	}
	var val []byte
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		val, err = x.Getxattr(c, n.in, attr)
		return err
	})
	if errno != 0 {
		return 0, errno
	}
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE
	}
	return uint32(copy(dest, val)), 0
}

// Setxattr is setxattr(2).
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	x := n.xattrs()
	if x == nil {
		return syscall.EOPNOTSUPP
	}
	return n.srv.do(ctx, func(c *vfs.Caller) error {
		return x.Setxattr(c, n.in, attr, data, int(flags))
	})
}

// Listxattr is listxattr(2).
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	x := n.xattrs()
	if x == nil {
		return 0, 0
	}
	var names []string
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		names, err = x.Listxattr(c, n.in)
		return err
	})
	if errno != 0 {
		return 0, errno
	}
	size := 0
	for _, nm := range names {
		size += len(nm) + 1
	}
	if len(dest) < size {
		return uint32(size), syscall.ERANGE
	}
	off := 0
	for _, nm := range names {
		off += copy(dest[off:], nm)
		dest[off] = 0
		off++
	}
	return uint32(size), 0
}

// Removexattr is removexattr(2).
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	x := n.xattrs()
	if x == nil {
		return syscall.EOPNOTSUPP
	}
	return n.srv.do(ctx, func(c *vfs.Caller) error {
		return x.Removexattr(c, n.in, attr)
	})
}
