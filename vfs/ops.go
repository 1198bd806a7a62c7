package vfs

import (
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// This file holds the system-call layer: each operation comes in a path form
// (Mkdir, Unlink, ...) that walks like the *at(2) calls with AT_FDCWD, and an
// inode form (MkdirChild, UnlinkChild, ...) for callers that already hold the
// directory, such as the FUSE adapter. Both share one implementation that
// runs in a Txn.

// Get takes a reference on in, keeping it from being destroyed; false if it
// already was (igrab).
func (v *VFS) Get(in *Inode) bool {
	t := v.Begin()
	defer t.End()
	return t.Get(in)
}

// Put drops a reference taken with Get; the inode is destroyed if that was
// the last reference and it has no links.
func (v *VFS) Put(in *Inode) {
	t := v.Begin()
	t.Put(in)
	t.End()
}

// Get is VFS.Get inside a transaction.
func (t *Txn) Get(in *Inode) bool {
	if in.destroyed.Load() {
		return false
	}
	in.refs++
	return true
}

// Put is VFS.Put inside a transaction.
func (t *Txn) Put(in *Inode) {
	in.refs--
	t.maybeDestroy(in)
}

// Alive reports whether in has not been destroyed.
func (v *VFS) Alive(in *Inode) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return !in.destroyed.Load()
}

// Getattr returns the inode's attributes.
func (v *VFS) Getattr(in *Inode) Stat {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return in.stat()
}

// Nlink returns the inode's link count.
func (v *VFS) Nlink(in *Inode) uint32 {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return in.nlink
}

// Statfs answers statfs(2) for the superblock of in.
func (v *VFS) StatfsInode(in *Inode) Statfs {
	st := in.sb.ops.Statfs()
	if st.Bsize == 0 {
		st.Bsize = 4096
	}
	if st.Frsize == 0 {
		st.Frsize = st.Bsize
	}
	if st.Fsid == 0 {
		st.Fsid = in.sb.dev
	}
	return st
}

// Resolve walks path; follow says whether a final symlink is followed.
func (v *VFS) Resolve(c *Caller, path string, follow bool) (*Inode, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	var fl walkFlags
	if follow {
		fl = walkFollow
	}
	in, err := v.walk(c, path, fl)
	if err != nil {
		return nil, &PathError{Op: "lookup", Path: path, Err: err}
	}
	return in, nil
}

// Stat is stat(2).
func (v *VFS) Stat(c *Caller, path string) (Stat, error) {
	return v.statPath(c, path, "stat", walkFollow)
}

// Lstat is lstat(2).
func (v *VFS) Lstat(c *Caller, path string) (Stat, error) {
	return v.statPath(c, path, "lstat", 0)
}

func (v *VFS) statPath(c *Caller, path, op string, fl walkFlags) (Stat, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	in, err := v.walk(c, path, fl)
	if err != nil {
		return Stat{}, &PathError{Op: op, Path: path, Err: err}
	}
	return in.stat(), nil
}

// Statfs is statfs(2).
func (v *VFS) Statfs(c *Caller, path string) (Statfs, error) {
	in, err := v.Resolve(c, path, true)
	if err != nil {
		return Statfs{}, &PathError{Op: "statfs", Path: path, Err: Errno(err)}
	}
	return v.StatfsInode(in), nil
}

// Lookup finds name in dir for a caller that walks one component at a time
// (the FUSE adapter): search permission on dir, then the entry. It does not
// enter mounts.
func (v *VFS) Lookup(c *Caller, dir *Inode, name string) (*Inode, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if !dir.IsDir() {
		return nil, unix.ENOTDIR
	}
	if err := c.permission(dir, MayExec); err != nil {
		return nil, err
	}
	return v.lookupNoCross(dir, name)
}

// Chdir is chdir(2): path must be a directory the caller may search. On
// success c.Cwd is the directory and holds a reference on it (released by
// the next Chdir or by PutCwd).
func (v *VFS) Chdir(c *Caller, path string) error {
	t := v.Begin()
	defer t.End()
	in, d, err := v.walkEnt(c, path, walkFollow|walkDirectory)
	if err == nil {
		err = c.permission(in, MayExec)
	}
	if err != nil {
		return &PathError{Op: "chdir", Path: path, Err: err}
	}
	// fs->pwd holds the path: the entry and the inode.
	t.holdEntry(d, in)
	t.putCwd(c)
	c.Cwd, c.cwdRef, c.cwdDent = in, in, d
	return nil
}

func (t *Txn) putCwd(c *Caller) {
	if old := c.cwdRef; old != nil && old == c.Cwd {
		t.releaseEntry(c.cwdDent, old)
	}
	c.Cwd, c.cwdRef, c.cwdDent = nil, nil, nil
}

// PutCwd drops the reference Chdir took on c's working directory (a task
// exiting) and resets c.Cwd to the namespace root.
func (v *VFS) PutCwd(c *Caller) {
	t := v.Begin()
	defer t.End()
	t.putCwd(c)
}

// Readlink is readlink(2) (no permission needed beyond the walk).
func (v *VFS) Readlink(c *Caller, path string) (string, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	in, err := v.walk(c, path, 0)
	if err != nil {
		return "", &PathError{Op: "readlink", Path: path, Err: err}
	}
	if in.Type() != S_IFLNK {
		return "", &PathError{Op: "readlink", Path: path, Err: unix.EINVAL}
	}
	return in.target, nil
}

// ReadlinkInode returns a symlink's target.
func (v *VFS) ReadlinkInode(in *Inode) (string, error) {
	if in.Type() != S_IFLNK {
		return "", unix.EINVAL
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return in.target, nil
}

func childName(name string) (nameData, error) {
	nd := nameData{name: name}
	switch {
	case name == "":
		return nd, unix.ENOENT
	case name == ".":
		nd.kind = lastDot
	case name == "..":
		nd.kind = lastDotDot
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return nd, unix.EINVAL
		}
	}
	return nd, nil
}

func (t *Txn) childOf(c *Caller, dir *Inode, name string) (nameData, error) {
	if !dir.IsDir() {
		return nameData{}, unix.ENOTDIR
	}
	nd, err := childName(name)
	if err != nil {
		return nd, err
	}
	nd.dir = dir
	if err := c.permission(dir, MayExec); err != nil {
		return nd, err
	}
	return nd, nil
}

// prepareCreate is filename_create: the last component must be a plain
// name that does not exist; a trailing slash is only allowed for
// directories.
func (t *Txn) prepareCreate(nd nameData, isDir bool) error {
	if nd.kind != lastNorm {
		return unix.EEXIST
	}
	if nd.dir.children.get(nd.name) != nil {
		return unix.EEXIST
	}
	if err := nd.dir.dirOps.Lookup(nd.dir, nd.name); err != unix.ENOENT {
		if err == nil {
			return unix.EEXIST
		}
		return err
	}
	if nd.trailing && !isDir {
		return unix.ENOENT
	}
	return nil
}

// pathOp runs fn on the parent of path inside a transaction and wraps its
// error with op and path.
func (v *VFS) pathOp(c *Caller, op, path string, fn func(t *Txn, nd nameData) error) error {
	t := v.Begin()
	defer t.End()
	nd, err := v.walkParent(c, path)
	if err == nil {
		err = fn(t, nd)
	}
	if err != nil {
		return &PathError{Op: op, Path: path, Err: err}
	}
	return nil
}

// childOp runs fn on name in dir inside a transaction.
func (v *VFS) childOp(c *Caller, dir *Inode, name string, fn func(t *Txn, nd nameData) error) error {
	t := v.Begin()
	defer t.End()
	nd, err := t.childOf(c, dir, name)
	if err != nil {
		return err
	}
	return fn(t, nd)
}

// Mkdir is mkdir(2).
func (v *VFS) Mkdir(c *Caller, path string, mode uint32) error {
	return v.pathOp(c, "mkdir", path, func(t *Txn, nd nameData) error {
		_, err := t.mkdir(c, nd, mode)
		return err
	})
}

// MkdirChild is mkdir(2) of name in dir.
func (v *VFS) MkdirChild(c *Caller, dir *Inode, name string, mode uint32) (in *Inode, err error) {
	err = v.childOp(c, dir, name, func(t *Txn, nd nameData) error {
		in, err = t.mkdir(c, nd, mode)
		return err
	})
	return in, err
}

func (t *Txn) mkdir(c *Caller, nd nameData, mode uint32) (*Inode, error) {
	if err := t.prepareCreate(nd, true); err != nil {
		return nil, err
	}
	if err := c.mayCreate(nd.dir); err != nil {
		return nil, err
	}
	mode = c.prepareMode(nd.dir, mode, S_IRWXUGO|S_ISVTX)
	in, err := nd.dir.dirOps.Mkdir(t, c, nd.dir, nd.name, mode)
	if err != nil {
		return nil, err
	}
	t.Notify(Event{Mask: unix.IN_CREATE | unix.IN_ISDIR, Dir: nd.dir, Name: nd.name, Inode: in})
	return in, nil
}

// Mknod is mknod(2).
func (v *VFS) Mknod(c *Caller, path string, mode uint32, dev uint64) error {
	// do_mknodat checks the type (may_mknod) before it looks at the path.
	if err := mayMknod(mode); err != nil {
		return &PathError{Op: "mknod", Path: path, Err: err}
	}
	return v.pathOp(c, "mknod", path, func(t *Txn, nd nameData) error {
		_, err := t.mknod(c, nd, mode, dev)
		return err
	})
}

// MknodChild is mknod(2) of name in dir.
func (v *VFS) MknodChild(c *Caller, dir *Inode, name string, mode uint32, dev uint64) (in *Inode, err error) {
	err = v.childOp(c, dir, name, func(t *Txn, nd nameData) error {
		in, err = t.mknod(c, nd, mode, dev)
		return err
	})
	return in, err
}

// mayMknod is may_mknod: the file types mknod(2) accepts.
func mayMknod(mode uint32) error {
	switch mode & S_IFMT {
	case 0, S_IFREG, S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK:
		return nil
	case S_IFDIR:
		return unix.EPERM
	}
	return unix.EINVAL
}

// WhiteoutDev is the device number of a whiteout: a character device 0/0,
// which unprivileged callers may create (Linux 5.8).
const WhiteoutDev = 0

func (t *Txn) mknod(c *Caller, nd nameData, mode uint32, dev uint64) (*Inode, error) {
	if err := mayMknod(mode); err != nil {
		return nil, err
	}
	if mode&S_IFMT == 0 {
		mode |= S_IFREG
	}
	if err := t.prepareCreate(nd, false); err != nil {
		return nil, err
	}
	if err := c.mayCreate(nd.dir); err != nil {
		return nil, err
	}
	typ := mode & S_IFMT
	mode = c.prepareMode(nd.dir, mode, S_IALLUGO) | typ
	var in *Inode
	var err error
	switch typ {
	case S_IFREG:
		in, err = nd.dir.dirOps.Create(t, c, nd.dir, nd.name, mode)
	case S_IFCHR, S_IFBLK:
		whiteout := typ == S_IFCHR && dev == WhiteoutDev
		if !whiteout && !c.privileged() {
			return nil, unix.EPERM
		}
		fallthrough
	default:
		in, err = nd.dir.dirOps.Mknod(t, c, nd.dir, nd.name, mode, dev)
	}
	if err != nil {
		return nil, err
	}
	t.Notify(Event{Mask: unix.IN_CREATE, Dir: nd.dir, Name: nd.name, Inode: in})
	return in, nil
}

// Symlink is symlink(2): a link at path pointing to target.
func (v *VFS) Symlink(c *Caller, target, path string) error {
	// getname(oldname) fails before the new path is looked at.
	if err := symlinkTarget(target); err != nil {
		return &PathError{Op: "symlink", Path: path, Err: err}
	}
	return v.pathOp(c, "symlink", path, func(t *Txn, nd nameData) error {
		_, err := t.symlink(c, nd, target)
		return err
	})
}

// SymlinkChild is symlink(2) of name in dir.
func (v *VFS) SymlinkChild(c *Caller, dir *Inode, name, target string) (in *Inode, err error) {
	if err := symlinkTarget(target); err != nil {
		return nil, err
	}
	err = v.childOp(c, dir, name, func(t *Txn, nd nameData) error {
		in, err = t.symlink(c, nd, target)
		return err
	})
	return in, err
}

func symlinkTarget(target string) error {
	switch {
	case target == "":
		return unix.ENOENT
	case len(target) >= PathMax:
		return unix.ENAMETOOLONG
	}
	return nil
}

func (t *Txn) symlink(c *Caller, nd nameData, target string) (*Inode, error) {
	if err := t.prepareCreate(nd, false); err != nil {
		return nil, err
	}
	if err := c.mayCreate(nd.dir); err != nil {
		return nil, err
	}
	in, err := nd.dir.dirOps.Symlink(t, c, nd.dir, nd.name, target)
	if err != nil {
		return nil, err
	}
	t.Notify(Event{Mask: unix.IN_CREATE, Dir: nd.dir, Name: nd.name, Inode: in})
	return in, nil
}

// Link is link(2) (the old path's final symlink is not followed).
func (v *VFS) Link(c *Caller, oldPath, newPath string) error {
	t := v.Begin()
	defer t.End()
	// do_linkat resolves the old path before it looks at the new one.
	old, err := v.walk(c, oldPath, 0)
	if err != nil {
		return &PathError{Op: "link", Path: oldPath, Err: err}
	}
	nd, err := v.walkParent(c, newPath)
	if err == nil {
		err = t.link(c, old, nd)
	}
	if err != nil {
		return &PathError{Op: "link", Path: newPath, Err: err}
	}
	return nil
}

// LinkChild is link(2) of old as name in dir.
func (v *VFS) LinkChild(c *Caller, old, dir *Inode, name string) error {
	return v.childOp(c, dir, name, func(t *Txn, nd nameData) error {
		return t.link(c, old, nd)
	})
}

func (t *Txn) link(c *Caller, old *Inode, nd nameData) error {
	if err := t.prepareCreate(nd, false); err != nil {
		return err
	}
	if old.sb != nd.dir.sb {
		return unix.EXDEV
	}
	// may_linkat with fs.protected_hardlinks = 1.
	if !c.privileged() && c.Cred.UID != old.uid {
		if old.Type() != S_IFREG || old.mode&S_ISUID != 0 ||
			old.mode&(S_ISGID|0010) == S_ISGID|0010 ||
			c.permission(old, MayRead|MayWrite) != nil {
			return unix.EPERM
		}
	}
	if err := c.mayCreate(nd.dir); err != nil {
		return err
	}
	if old.IsDir() {
		return unix.EPERM
	}
	if old.nlink == 0 || old.destroyed.Load() {
		return unix.ENOENT
	}
	if err := nd.dir.dirOps.Link(t, c, old, nd.dir, nd.name); err != nil {
		return err
	}
	t.Notify(Event{Mask: unix.IN_ATTRIB, Inode: old})
	t.Notify(Event{Mask: unix.IN_CREATE, Dir: nd.dir, Name: nd.name, Inode: old})
	return nil
}

// Unlink is unlink(2).
func (v *VFS) Unlink(c *Caller, path string) error {
	return v.pathOp(c, "unlink", path, func(t *Txn, nd nameData) error {
		return t.unlink(c, nd)
	})
}

// UnlinkChild is unlink(2) of name in dir.
func (v *VFS) UnlinkChild(c *Caller, dir *Inode, name string) error {
	return v.childOp(c, dir, name, func(t *Txn, nd nameData) error {
		return t.unlink(c, nd)
	})
}

func (t *Txn) unlink(c *Caller, nd nameData) error {
	if nd.kind != lastNorm {
		return unix.EISDIR
	}
	victim, err := t.v.lookupNoCross(nd.dir, nd.name)
	if err != nil {
		return err
	}
	if nd.trailing {
		if victim.IsDir() {
			return unix.EISDIR
		}
		return unix.ENOTDIR
	}
	if err := c.mayDelete(nd.dir, victim, false); err != nil {
		return err
	}
	if victim.mounted != nil {
		return unix.EBUSY
	}
	mark := len(t.q)
	if err := nd.dir.dirOps.Unlink(t, c, nd.dir, nd.name, victim); err != nil {
		return err
	}
	// vfs_unlink: fsnotify_link_count (IN_ATTRIB on the inode alone), then
	// d_delete_notify: the entry loses its inode (IN_DELETE_SELF if that
	// was the last link and nothing else holds it), IN_DELETE on the
	// directory, and only then the iput that evicts it.
	t.insert(mark, eventItem(Event{Mask: unix.IN_ATTRIB, Inode: victim}))
	t.Notify(Event{Mask: unix.IN_DELETE, Dir: nd.dir, Name: nd.name, Inode: victim})
	t.evictLast(mark, victim)
	return nil
}

// evictLast moves the eviction of in, queued since mark, to the end of the
// queue: d_delete_notify holds the inode (ihold) until IN_DELETE is out.
func (t *Txn) evictLast(mark int, in *Inode) {
	for i := mark; i < len(t.q); i++ {
		if t.q[i].kind == itemEvict && t.q[i].inode == in {
			it := t.q[i]
			t.q = append(t.q[:i], t.q[i+1:]...)
			t.q = append(t.q, it)
			return
		}
	}
}

func (t *Txn) insert(at int, it txnItem) {
	t.q = append(t.q, txnItem{})
	copy(t.q[at+1:], t.q[at:])
	t.q[at] = it
}

// Rmdir is rmdir(2).
func (v *VFS) Rmdir(c *Caller, path string) error {
	return v.pathOp(c, "rmdir", path, func(t *Txn, nd nameData) error {
		return t.rmdir(c, nd)
	})
}

// RmdirChild is rmdir(2) of name in dir.
func (v *VFS) RmdirChild(c *Caller, dir *Inode, name string) error {
	return v.childOp(c, dir, name, func(t *Txn, nd nameData) error {
		return t.rmdir(c, nd)
	})
}

func (t *Txn) rmdir(c *Caller, nd nameData) error {
	switch nd.kind {
	case lastDotDot:
		return unix.ENOTEMPTY
	case lastDot:
		return unix.EINVAL
	case lastRoot:
		return unix.EBUSY
	}
	victim, err := t.v.lookupNoCross(nd.dir, nd.name)
	if err != nil {
		return err
	}
	if err := c.mayDelete(nd.dir, victim, true); err != nil {
		return err
	}
	if victim.mounted != nil || victim.parent == nil {
		return unix.EBUSY
	}
	mark := len(t.q)
	if err := nd.dir.dirOps.Rmdir(t, c, nd.dir, nd.name, victim); err != nil {
		return err
	}
	victim.sdead = true // S_DEAD
	// vfs_rmdir: d_delete_notify, as for unlink, without the IN_ATTRIB.
	t.Notify(Event{Mask: unix.IN_DELETE | unix.IN_ISDIR, Dir: nd.dir, Name: nd.name, Inode: victim})
	t.evictLast(mark, victim)
	return nil
}

// Rename is renameat2(2).
func (v *VFS) Rename(c *Caller, oldPath, newPath string, flags uint32) error {
	if err := renameFlags(flags); err != nil {
		return &PathError{Op: "rename", Path: oldPath, Err: err}
	}
	return v.pathOp(c, "rename", oldPath, func(t *Txn, ond nameData) error {
		nnd, err := v.walkParent(c, newPath)
		if err != nil {
			return err
		}
		return t.rename(c, ond, nnd, flags)
	})
}

// RenameChild is renameat2(2) of oldName in dir to newName in newDir.
func (v *VFS) RenameChild(c *Caller, dir *Inode, oldName string, newDir *Inode, newName string, flags uint32) error {
	if err := renameFlags(flags); err != nil {
		return err
	}
	return v.childOp(c, dir, oldName, func(t *Txn, ond nameData) error {
		nnd, err := t.childOf(c, newDir, newName)
		if err != nil {
			return err
		}
		return t.rename(c, ond, nnd, flags)
	})
}

func renameFlags(flags uint32) error {
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE|unix.RENAME_WHITEOUT) != 0 {
		return unix.EINVAL
	}
	if flags&(unix.RENAME_NOREPLACE|unix.RENAME_WHITEOUT) != 0 && flags&unix.RENAME_EXCHANGE != 0 {
		return unix.EINVAL
	}
	return nil
}

func (t *Txn) rename(c *Caller, ond, nnd nameData, flags uint32) error {
	if ond.dir.sb != nnd.dir.sb {
		return unix.EXDEV
	}
	if ond.kind != lastNorm {
		return unix.EBUSY
	}
	if nnd.kind != lastNorm {
		if flags&unix.RENAME_NOREPLACE != 0 {
			return unix.EEXIST
		}
		return unix.EBUSY
	}
	src, err := t.v.lookupNoCross(ond.dir, ond.name)
	if err != nil {
		return err
	}
	dst, err := t.v.lookupNoCross(nnd.dir, nnd.name)
	if err != nil && err != unix.ENOENT {
		return err
	}
	if dst != nil && flags&unix.RENAME_NOREPLACE != 0 {
		return unix.EEXIST
	}
	if dst == nil && flags&unix.RENAME_EXCHANGE != 0 {
		return unix.ENOENT
	}
	if flags&unix.RENAME_EXCHANGE == 0 {
		if !src.IsDir() && (ond.trailing || nnd.trailing) {
			return unix.ENOTDIR
		}
	} else if (!src.IsDir() && ond.trailing) || (!dst.IsDir() && nnd.trailing) {
		return unix.ENOTDIR
	}
	// The source must not be an ancestor of the target directory, and the
	// target not an ancestor of the source (lock_rename's trap).
	if isAncestor(src, nnd.dir) {
		return unix.EINVAL
	}
	if dst != nil && isAncestor(dst, ond.dir) {
		if flags&unix.RENAME_EXCHANGE != 0 {
			return unix.EINVAL
		}
		return unix.ENOTEMPTY
	}
	if src == dst {
		return nil
	}
	if err := c.mayDelete(ond.dir, src, src.IsDir()); err != nil {
		return err
	}
	if dst != nil {
		isDir := src.IsDir()
		if flags&unix.RENAME_EXCHANGE != 0 {
			isDir = dst.IsDir()
		}
		if err := c.mayDelete(nnd.dir, dst, isDir); err != nil {
			return err
		}
	} else if err := c.mayCreate(nnd.dir); err != nil {
		return err
	}
	if ond.dir != nnd.dir {
		if src.IsDir() {
			if err := c.permission(src, MayWrite); err != nil {
				return err
			}
		}
		if dst != nil && dst.IsDir() && flags&unix.RENAME_EXCHANGE != 0 {
			if err := c.permission(dst, MayWrite); err != nil {
				return err
			}
		}
	}
	if src.mounted != nil || (dst != nil && dst.mounted != nil) {
		return unix.EBUSY
	}
	// A replaced target's entry (new_dentry) stays held until
	// do_renameat2's dput, after the move events: its IN_DELETE_SELF
	// comes last.
	var held *dirent
	if dst != nil && flags&unix.RENAME_EXCHANGE == 0 {
		held = nnd.dir.children.get(nnd.name)
		t.holdEntry(held, dst)
	}
	if err := ond.dir.dirOps.Rename(t, c, ond.dir, ond.name, nnd.dir, nnd.name, flags); err != nil {
		if held != nil {
			t.releaseEntry(held, dst)
		}
		return err
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		// Two fsnotify_move calls, each with its own cookie.
		t.moveEvents(src, ond.dir, ond.name, nnd.dir, nnd.name, nil)
		t.moveEvents(dst, nnd.dir, nnd.name, ond.dir, ond.name, nil)
		return nil
	}
	t.moveEvents(src, ond.dir, ond.name, nnd.dir, nnd.name, dst)
	if held != nil {
		t.releaseEntry(held, dst)
	}
	return nil
}

// moveEvents is fsnotify_move: IN_MOVED_FROM and IN_MOVED_TO with one
// cookie, IN_ATTRIB on a replaced target (its link count changed), then
// IN_MOVE_SELF.
func (t *Txn) moveEvents(src, oldDir *Inode, oldName string, newDir *Inode, newName string, target *Inode) {
	t.v.cookie++
	ck := t.v.cookie
	isdir := uint32(0)
	if src.IsDir() {
		isdir = unix.IN_ISDIR
	}
	t.Notify(Event{Mask: unix.IN_MOVED_FROM | isdir, Dir: oldDir, Name: oldName, Inode: src, Cookie: ck})
	t.Notify(Event{Mask: unix.IN_MOVED_TO | isdir, Dir: newDir, Name: newName, Inode: src, Cookie: ck})
	if target != nil {
		t.Notify(Event{Mask: unix.IN_ATTRIB, Inode: target})
	}
	t.Notify(Event{Mask: unix.IN_MOVE_SELF, Inode: src})
}

// isAncestor reports whether a is dir or one of its ancestors (within one
// superblock).
func isAncestor(a, dir *Inode) bool {
	if !a.IsDir() {
		return false
	}
	for d := dir; d != nil; d = d.parent {
		if d == a {
			return true
		}
	}
	return false
}

// Open is open(2): flags are O_* and mode is used when O_CREAT creates the
// file.
func (v *VFS) Open(c *Caller, path string, flags int, mode uint32) (*File, error) {
	if err := openFlags(flags); err != nil {
		return nil, &PathError{Op: "open", Path: path, Err: err}
	}
	t := v.Begin()
	f, err := func() (*File, error) {
		nd, err := v.walkParent(c, path)
		if err != nil {
			return nil, err
		}
		return t.openLast(c, &walker{v: v, c: c}, nd, flags, mode)
	}()
	t.End()
	if err != nil {
		return nil, &PathError{Op: "open", Path: path, Err: err}
	}
	if err := v.finishOpen(f); err != nil {
		return nil, &PathError{Op: "open", Path: path, Err: err}
	}
	return f, nil
}

// openFlags is the part of build_open_flags that can fail.
func openFlags(flags int) error {
	if flags&(unix.O_DIRECTORY|unix.O_CREAT) == unix.O_DIRECTORY|unix.O_CREAT {
		// Linux 6.4: O_DIRECTORY|O_CREAT used to create regular files.
		return unix.EINVAL
	}
	return nil
}

// openLast is open_last_lookups + do_open for the last component nd.
func (t *Txn) openLast(c *Caller, w *walker, nd nameData, flags int, mode uint32) (*File, error) {
	if flags&unix.O_CREAT == 0 {
		fl := walkFollow
		if flags&unix.O_NOFOLLOW != 0 {
			fl = 0
		}
		if flags&unix.O_DIRECTORY != 0 {
			fl |= walkDirectory
		}
		in, err := w.final(nd, fl)
		if err != nil {
			return nil, err
		}
		return t.open(c, in, w.dentry(), flags, false)
	}
	return t.openCreate(c, w, nd, flags, mode)
}

// OpenInode opens in directly (the FUSE adapter's OPEN).
func (v *VFS) OpenInode(c *Caller, in *Inode, flags int) (*File, error) {
	t := v.Begin()
	f, err := t.open(c, in, v.dentryOf(in), flags&^unix.O_CREAT, false)
	t.End()
	if err != nil {
		return nil, err
	}
	if err := v.finishOpen(f); err != nil {
		return nil, err
	}
	return f, nil
}

// CreateChild is open(2) with O_CREAT of name in dir.
func (v *VFS) CreateChild(c *Caller, dir *Inode, name string, flags int, mode uint32) (f *File, err error) {
	if err := openFlags(flags | unix.O_CREAT); err != nil {
		return nil, err
	}
	err = v.childOp(c, dir, name, func(t *Txn, nd nameData) error {
		f, err = t.openCreate(c, &walker{v: v, c: c}, nd, flags|unix.O_CREAT, mode)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := v.finishOpen(f); err != nil {
		return nil, err
	}
	return f, nil
}

// openCreate is open with O_CREAT of the last component nd: it opens an
// existing file or creates one, following a final symlink (even a dangling
// one, whose target is then created) unless O_EXCL or O_NOFOLLOW.
func (t *Txn) openCreate(c *Caller, w *walker, nd nameData, flags int, mode uint32) (*File, error) {
	if nd.kind != lastNorm {
		// handle_dots, then do_open: the result is a directory.
		if flags&unix.O_EXCL != 0 {
			return nil, unix.EEXIST
		}
		return nil, unix.EISDIR
	}
	if nd.trailing {
		return nil, unix.EISDIR
	}
	existing, d, err := t.v.lookupEnt(nd.dir, nd.name, true)
	if err == nil && d != nil && d.inode != existing {
		d = nil // a mount root
	}
	switch {
	case err == nil:
		if flags&unix.O_EXCL != 0 {
			return nil, unix.EEXIST
		}
		if existing.Type() == S_IFLNK {
			if flags&unix.O_NOFOLLOW != 0 {
				return nil, unix.ELOOP
			}
			// The symlink's body is walked and its last component
			// opened with the same flags, O_CREAT included.
			w.links++
			if w.links > MaxSymlinks {
				return nil, unix.ELOOP
			}
			target := existing.target
			start := nd.dir
			if strings.HasPrefix(target, "/") {
				start = t.v.root.root
			}
			tnd, err := w.parent(start, target)
			if err != nil {
				return nil, err
			}
			return t.openCreate(c, w, tnd, flags, mode)
		}
		if existing.IsDir() {
			return nil, unix.EISDIR
		}
		return t.open(c, existing, d, flags, false)
	case err != unix.ENOENT:
		return nil, err
	}
	if err := c.mayCreate(nd.dir); err != nil {
		return nil, err
	}
	mode = S_IFREG | c.prepareMode(nd.dir, mode, S_IALLUGO)
	in, err := nd.dir.dirOps.Create(t, c, nd.dir, nd.name, mode)
	if err != nil {
		return nil, err
	}
	t.Notify(Event{Mask: unix.IN_CREATE, Dir: nd.dir, Name: nd.name, Inode: in})
	return t.open(c, in, nd.dir.children.get(nd.name), flags, true)
}

// open is do_open/may_open up to (not including) f_op->open; d is the entry
// in was reached through (nil if unknown).
func (t *Txn) open(c *Caller, in *Inode, d *dirent, flags int, created bool) (*File, error) {
	if in.destroyed.Load() {
		return nil, unix.ENOENT
	}
	// ACC_MODE: O_RDWR|O_WRONLY (3) needs read and write permission and
	// gives a descriptor that can do neither.
	var mask uint32
	switch flags & unix.O_ACCMODE {
	case unix.O_RDONLY:
		mask = MayRead
	case unix.O_WRONLY:
		mask = MayWrite
	default:
		mask = MayRead | MayWrite
	}
	if flags&unix.O_TRUNC != 0 {
		mask |= MayWrite
	}
	switch in.Type() {
	case S_IFLNK:
		return nil, unix.ELOOP
	case S_IFDIR:
		if mask&MayWrite != 0 {
			return nil, unix.EISDIR
		}
	default:
		if flags&unix.O_DIRECTORY != 0 {
			return nil, unix.ENOTDIR
		}
	}
	if !created {
		if err := c.permission(in, mask); err != nil {
			return nil, err
		}
	}
	if in.Type() == S_IFSOCK {
		// Sockets' file operations refuse to open.
		return nil, unix.ENXIO
	}
	t.holdEntry(d, in)
	f := &File{v: t.v, inode: in, dent: d, flags: flags, caller: *c}
	if flags&unix.O_TRUNC != 0 && in.Type() == S_IFREG && !created {
		killed, err := t.truncate(c, in, 0)
		if err != nil {
			t.releaseEntry(d, in)
			return nil, err
		}
		f.truncated = unix.IN_MODIFY
		if killed {
			f.truncated |= unix.IN_ATTRIB
		}
	}
	// IN_OPEN is delivered by finishOpen once f_op->open has succeeded.
	return f, nil
}

// finishOpen runs f_op->open outside the lock, and undoes the open if it
// fails; a successful open is an IN_OPEN event (fsnotify_open).
func (v *VFS) finishOpen(f *File) error {
	if ops := f.inode.fileOps; ops != nil && !f.inode.IsDir() {
		if err := ops.Open(f); err != nil {
			f.closed = true
			t := v.Begin()
			t.releaseEntry(f.dent, f.inode)
			t.End()
			return err
		}
	}
	if v.notifying() {
		v.deliver(v.fileEvent(f, unix.IN_OPEN))
		if f.truncated != 0 {
			// handle_truncate runs after the open: its
			// notify_change(ATTR_SIZE) is an IN_MODIFY, even when the
			// file was empty.
			v.deliver(v.fileEvent(f, f.truncated))
		}
	}
	return nil
}

// truncate is do_truncate: an unprivileged caller's truncation also drops
// S_ISUID and S_ISGID as a write would (dentry_needs_remove_privs), in the
// same notify_change: killed says so, and the caller's event is then
// IN_MODIFY|IN_ATTRIB.
func (t *Txn) truncate(c *Caller, in *Inode, size int64) (killed bool, err error) {
	if tr, ok := in.fileOps.(Truncater); ok {
		ns, err := tr.Truncate(in, size)
		if err != nil {
			return false, err
		}
		size = ns
	}
	in.size = size
	in.touchCMtime(t.now)
	return t.killPriv(c, in), nil
}

// Dirent is one directory entry. Seq orders entries by creation within a
// superblock.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint32 // S_IFMT bits
	Seq  uint64
}

// ReadDir lists the directory at path, without "." and "..".
func (v *VFS) ReadDir(c *Caller, path string) ([]Dirent, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	in, err := v.walk(c, path, walkFollow)
	if err == nil {
		var ents []Dirent
		if ents, err = v.readDir(c, in); err == nil {
			return ents, nil
		}
	}
	return nil, &PathError{Op: "readdir", Path: path, Err: err}
}

// ReadDirInode lists dir, without "." and "..".
func (v *VFS) ReadDirInode(c *Caller, dir *Inode) ([]Dirent, error) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.readDir(c, dir)
}

func (v *VFS) readDir(c *Caller, dir *Inode) ([]Dirent, error) {
	if !dir.IsDir() {
		return nil, unix.ENOTDIR
	}
	if err := c.permission(dir, MayRead); err != nil {
		return nil, err
	}
	if dir.destroyed.Load() || dir.nlink == 0 || dir.sdead {
		// iterate_dir on an IS_DEADDIR directory: rmdir set S_DEAD, even
		// on file systems (kernfs) that keep the link count.
		return nil, unix.ENOENT
	}
	ents := make([]Dirent, 0, dir.children.len())
	for d := range dir.children.all() {
		ents = append(ents, Dirent{Name: d.name, Ino: d.inode.ino, Type: d.inode.Type(), Seq: d.seq})
	}
	if o, ok := dir.sb.ops.(DirOrder); ok {
		o.SortDirents(ents)
	} else {
		sort.Slice(ents, func(i, j int) bool { return ents[i].Seq < ents[j].Seq })
	}
	return ents, nil
}

// SetAttr is a setattr request; nil fields stay as they are.
type SetAttr struct {
	Mode     *uint32
	UID      *uint32
	GID      *uint32
	Size     *int64
	Atime    *time.Time
	Mtime    *time.Time
	AtimeNow bool
	MtimeNow bool
}

// Chmod is chmod(2).
func (v *VFS) Chmod(c *Caller, path string, mode uint32) error {
	return v.setattrPath(c, "chmod", path, SetAttr{Mode: &mode})
}

// Chown is chown(2); -1 (as uint32 0xffffffff) leaves an id unchanged.
// As chown_common does, a non-directory loses S_ISUID, and S_ISGID when
// setattr_should_drop_sgid says so, even when root changes nothing.
func (v *VFS) Chown(c *Caller, path string, uid, gid uint32) error {
	var a SetAttr
	if uid != ^uint32(0) {
		a.UID = &uid
	}
	if gid != ^uint32(0) {
		a.GID = &gid
	}
	t := v.Begin()
	defer t.End()
	in, d, err := v.walkEnt(c, path, walkFollow)
	if err == nil {
		if !in.IsDir() {
			m := in.mode & S_IALLUGO
			if m&S_ISUID != 0 {
				m &^= S_ISUID
			}
			if c.shouldDropSgid(in) {
				m &^= S_ISGID
			}
			if m != in.mode&S_IALLUGO {
				a.Mode = &m
			}
		}
		err = t.setattr(c, in, d, a)
	}
	if err != nil {
		return &PathError{Op: "chown", Path: path, Err: err}
	}
	return nil
}

// Truncate is truncate(2).
func (v *VFS) Truncate(c *Caller, path string, size int64) error {
	if size < 0 {
		// do_sys_truncate rejects a negative length before the walk.
		return &PathError{Op: "truncate", Path: path, Err: unix.EINVAL}
	}
	return v.setattrPath(c, "truncate", path, SetAttr{Size: &size})
}

func (v *VFS) setattrPath(c *Caller, op, path string, a SetAttr) error {
	t := v.Begin()
	defer t.End()
	in, d, err := v.walkEnt(c, path, walkFollow)
	if err == nil {
		if a.Size != nil {
			// vfs_truncate: EISDIR, EINVAL for other non-regular
			// files, then write permission.
			switch {
			case in.IsDir():
				err = unix.EISDIR
			case in.Type() != S_IFREG:
				err = unix.EINVAL
			default:
				if err = c.permission(in, MayWrite); err == nil {
					err = t.setattr(c, in, d, a)
				}
			}
		} else {
			err = t.setattr(c, in, d, a)
		}
	}
	if err != nil {
		return &PathError{Op: op, Path: path, Err: err}
	}
	return nil
}

// Setattr applies a to in with notify_change's permission rules.
func (v *VFS) Setattr(c *Caller, in *Inode, a SetAttr) error {
	t := v.Begin()
	defer t.End()
	return t.setattr(c, in, v.dentryOf(in), a)
}

// setattr is notify_change with setattr_prepare's permission rules and
// setattr_copy.
func (t *Txn) setattr(c *Caller, in *Inode, d *dirent, a SetAttr) error {
	owner := c.privileged() || c.Cred.UID == in.uid
	// chown_ok: the owner may "change" the uid to itself, privilege may
	// change it to anything.
	if a.UID != nil && !c.privileged() && !(c.Cred.UID == in.uid && *a.UID == in.uid) {
		return unix.EPERM
	}
	// chgrp_ok: the owner may pick the current group or one it is in.
	if a.GID != nil && !c.privileged() && !(c.Cred.UID == in.uid && (*a.GID == in.gid || c.inGroup(*a.GID))) {
		return unix.EPERM
	}
	if a.Mode != nil && !owner {
		return unix.EPERM
	}
	if (a.Atime != nil || a.Mtime != nil) && !owner {
		return unix.EPERM
	}
	if (a.AtimeNow || a.MtimeNow) && !owner {
		if err := c.permission(in, MayWrite); err != nil {
			return err
		}
	}
	var mask uint32
	if a.Size != nil {
		switch {
		case in.IsDir():
			return unix.EISDIR
		case in.Type() != S_IFREG:
			return unix.EINVAL
		case *a.Size < 0:
			return unix.EINVAL
		}
		killed, err := t.truncate(c, in, *a.Size)
		if err != nil {
			return err
		}
		if killed {
			mask |= unix.IN_ATTRIB
		}
	}
	if a.UID != nil {
		in.uid = *a.UID
	}
	if a.GID != nil {
		in.gid = *a.GID
	}
	if a.Mode != nil {
		m := *a.Mode & S_IALLUGO
		// The setgid bit needs membership in the (new) group.
		if !c.privileged() && !c.inGroup(in.gid) {
			m &^= S_ISGID
		}
		in.mode = in.mode&S_IFMT | m
	}
	switch {
	case a.Atime != nil:
		in.atime = *a.Atime
	case a.AtimeNow:
		in.atime = t.now
	}
	switch {
	case a.Mtime != nil:
		in.mtime = *a.Mtime
	case a.MtimeNow:
		in.mtime = t.now
	}
	in.ctime = t.now
	// fsnotify_change: a size change is IN_MODIFY, ids, mode and both
	// times IN_ATTRIB, one time alone IN_ACCESS or IN_MODIFY.
	if a.UID != nil || a.GID != nil || a.Mode != nil {
		mask |= unix.IN_ATTRIB
	}
	if a.Size != nil {
		mask |= unix.IN_MODIFY
	}
	atime, mtime := a.Atime != nil || a.AtimeNow, a.Mtime != nil || a.MtimeNow
	switch {
	case atime && mtime:
		mask |= unix.IN_ATTRIB
	case atime:
		mask |= unix.IN_ACCESS
	case mtime:
		mask |= unix.IN_MODIFY
	}
	if mask != 0 {
		t.Notify(inodeEvent(mask, in, d))
	}
	return nil
}

// CreateAt runs make for the last component of path after the checks every
// creation gets (filename_create: the parent exists and is searchable, the
// name is a plain one that does not exist and has no trailing slash). make
// runs in the transaction and does its own permission checks and events;
// BPF_OBJ_PIN uses it.
func (v *VFS) CreateAt(c *Caller, path string, make func(t *Txn, dir *Inode, name string) (*Inode, error)) (in *Inode, err error) {
	err = v.pathOp(c, "create", path, func(t *Txn, nd nameData) error {
		if err := t.prepareCreate(nd, false); err != nil {
			return err
		}
		in, err = make(t, nd.dir, nd.name)
		return err
	})
	return in, err
}
