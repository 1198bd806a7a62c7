package vfs

import (
	"golang.org/x/sys/unix"
)

// DirOps are a directory's inode operations. The VFS has already walked the
// path, checked permissions (may_create, may_delete), existence and types
// before it calls them; they run inside t and change the tree with the Txn
// methods. Embed [NoDirOps] and override what the file system supports.
type DirOps interface {
	// Lookup answers a lookup of a name that is not in dir: ENOENT
	// normally; bpffs answers EPERM for names containing a dot.
	Lookup(dir *Inode, name string) error
	// Create makes a regular file (open with O_CREAT, mknod S_IFREG). mode
	// has the umask applied.
	Create(t *Txn, c *Caller, dir *Inode, name string, mode uint32) (*Inode, error)
	// Mknod makes a device, FIFO or socket node.
	Mknod(t *Txn, c *Caller, dir *Inode, name string, mode uint32, dev uint64) (*Inode, error)
	// Mkdir makes a directory. mode has the umask applied.
	Mkdir(t *Txn, c *Caller, dir *Inode, name string, mode uint32) (*Inode, error)
	// Symlink makes a symbolic link.
	Symlink(t *Txn, c *Caller, dir *Inode, name, target string) (*Inode, error)
	// Link adds name in dir for old.
	Link(t *Txn, c *Caller, old *Inode, dir *Inode, name string) error
	// Unlink removes the non-directory victim named name.
	Unlink(t *Txn, c *Caller, dir *Inode, name string, victim *Inode) error
	// Rmdir removes the directory victim named name.
	Rmdir(t *Txn, c *Caller, dir *Inode, name string, victim *Inode) error
	// Rename moves oldName in dir (the receiver's directory) to newName in
	// newDir. flags are RENAME_NOREPLACE and RENAME_EXCHANGE; the VFS has
	// rejected other combinations.
	Rename(t *Txn, c *Caller, dir *Inode, oldName string, newDir *Inode, newName string, flags uint32) error
}

// NoDirOps answers each directory operation the way the Linux VFS does when
// a file system leaves it out.
type NoDirOps struct{}

var _ DirOps = NoDirOps{}

// Lookup answers ENAMETOOLONG for over-long names and ENOENT otherwise
// (simple_lookup).
func (NoDirOps) Lookup(dir *Inode, name string) error {
	if len(name) > NameMax {
		return unix.ENAMETOOLONG
	}
	return unix.ENOENT
}

// Create answers EACCES: lookup_open fails so when ->create is missing.
func (NoDirOps) Create(*Txn, *Caller, *Inode, string, uint32) (*Inode, error) {
	return nil, unix.EACCES
}

// Mknod answers EPERM (vfs_mknod without ->mknod).
func (NoDirOps) Mknod(*Txn, *Caller, *Inode, string, uint32, uint64) (*Inode, error) {
	return nil, unix.EPERM
}

// Mkdir answers EPERM (vfs_mkdir without ->mkdir).
func (NoDirOps) Mkdir(*Txn, *Caller, *Inode, string, uint32) (*Inode, error) {
	return nil, unix.EPERM
}

// Symlink answers EPERM.
func (NoDirOps) Symlink(*Txn, *Caller, *Inode, string, string) (*Inode, error) {
	return nil, unix.EPERM
}

// Link answers EPERM.
func (NoDirOps) Link(*Txn, *Caller, *Inode, *Inode, string) error { return unix.EPERM }

// Unlink answers EPERM.
func (NoDirOps) Unlink(*Txn, *Caller, *Inode, string, *Inode) error { return unix.EPERM }

// Rmdir answers EPERM.
func (NoDirOps) Rmdir(*Txn, *Caller, *Inode, string, *Inode) error { return unix.EPERM }

// Rename answers EPERM.
func (NoDirOps) Rename(*Txn, *Caller, *Inode, string, *Inode, string, uint32) error {
	return unix.EPERM
}

// SimpleMkdir creates a directory the way ramfs and bpffs do; ops become its
// directory operations and owner follows inode_init_owner.
func SimpleMkdir(t *Txn, c *Caller, dir *Inode, name string, mode uint32, ops DirOps) *Inode {
	uid, gid := c.Owner(dir)
	if dir.mode&S_ISGID != 0 {
		mode |= S_ISGID
	}
	in := t.NewInode(dir.sb, InodeAttr{Mode: S_IFDIR | mode&S_IALLUGO, UID: uid, GID: gid, DirOps: ops})
	t.AddChild(dir, name, in)
	return in
}

// SimpleSymlink creates a symlink with mode 0777.
func SimpleSymlink(t *Txn, c *Caller, dir *Inode, name, target string) *Inode {
	uid, gid := c.Owner(dir)
	in := t.NewInode(dir.sb, InodeAttr{Mode: S_IFLNK | 0777, UID: uid, GID: gid, Target: target})
	t.AddChild(dir, name, in)
	return in
}

// SimpleLink is simple_link.
func SimpleLink(t *Txn, old, dir *Inode, name string) {
	t.IncLink(old)
	t.AddChild(dir, name, old)
}

// SimpleUnlink is simple_unlink: the entry goes, the inode loses a link.
func SimpleUnlink(t *Txn, dir *Inode, name string) {
	t.RemoveChild(dir, name)
}

// SimpleRmdir is simple_rmdir: ENOTEMPTY unless the directory is empty.
func SimpleRmdir(t *Txn, dir *Inode, name string, victim *Inode) error {
	if victim.children.len() != 0 {
		return unix.ENOTEMPTY
	}
	t.RemoveChild(dir, name)
	return nil
}

// SimpleRename is simple_rename with RENAME_EXCHANGE support (Linux 5.16):
// a replaced target loses its link (a non-empty directory target is
// ENOTEMPTY), directory moves fix both parents' link counts.
//
// An exchange leaves each name where it was in readdir order, as
// simple_offset_rename_exchange does for tmpfs's offset directories. For a
// file system whose readdir walks the dentry list, use
// [SimpleRenameDcache].
func SimpleRename(t *Txn, dir *Inode, oldName string, newDir *Inode, newName string, flags uint32) error {
	return t.simpleRename(dir, oldName, newDir, newName, flags, false)
}

// SimpleRenameDcache is [SimpleRename] for a file system whose readdir is
// dcache_readdir (bpffs: newest entry first, by [Dirent.Seq] descending):
// an exchange moves both entries to the head of their directories' lists
// as __d_move does, the entry now at the old name first and the one now at
// the new name in front of it.
func SimpleRenameDcache(t *Txn, dir *Inode, oldName string, newDir *Inode, newName string, flags uint32) error {
	return t.simpleRename(dir, oldName, newDir, newName, flags, true)
}

func (t *Txn) simpleRename(dir *Inode, oldName string, newDir *Inode, newName string, flags uint32, dcache bool) error {
	if flags&^(unix.RENAME_NOREPLACE|unix.RENAME_EXCHANGE) != 0 {
		return unix.EINVAL
	}
	src := t.Child(dir, oldName)
	dst := t.Child(newDir, newName)
	if flags&unix.RENAME_EXCHANGE != 0 {
		t.exchange(dir, oldName, src, newDir, newName, dst, dcache)
		return nil
	}
	if dst != nil {
		if dst.IsDir() && dst.children.len() != 0 {
			return unix.ENOTEMPTY
		}
		t.RemoveChild(newDir, newName)
	}
	t.move(dir, oldName, src, newDir, newName)
	return nil
}

// move relinks src from dir/oldName to newDir/newName without changing its
// own link count.
func (t *Txn) move(dir *Inode, oldName string, src *Inode, newDir *Inode, newName string) {
	d := dir.children.get(oldName)
	t.dropEntry(dir, d)
	if src.IsDir() && dir != newDir {
		dir.nlink--
	}
	t.q = append(t.q, treeItem(TreeChange{Dir: dir, Name: oldName, Child: src, Removed: true}))
	newDir.sb.seq++
	d.seq, d.name, d.dir = newDir.sb.seq, newName, newDir
	newDir.children.add(d)
	if src.IsDir() {
		src.parent = newDir
		if dir != newDir {
			newDir.nlink++
		}
	}
	src.ctime = t.now
	dir.touchCMtime(t.now)
	newDir.touchCMtime(t.now)
	t.q = append(t.q, treeItem(TreeChange{Dir: newDir, Name: newName, Child: src}))
}

func (t *Txn) exchange(dir *Inode, oldName string, src *Inode, newDir *Inode, newName string, dst *Inode, dcache bool) {
	if dir != newDir && src.IsDir() != dst.IsDir() {
		// simple_rename_exchange: the directory moves parents.
		if src.IsDir() {
			dir.nlink--
			newDir.nlink++
		} else {
			dir.nlink++
			newDir.nlink--
		}
	}
	// d_exchange: each entry follows its inode to the other name. The
	// readdir positions stay with the names, or (dcache) both entries
	// move to the head of their lists, the target's first.
	d1, d2 := dir.children.get(oldName), newDir.children.get(newName)
	if dcache {
		dir.sb.seq++
		d2.seq = dir.sb.seq
		dir.sb.seq++
		d1.seq = dir.sb.seq
	} else {
		d1.seq, d2.seq = d2.seq, d1.seq
	}
	d1.name, d1.dir, d2.name, d2.dir = newName, newDir, oldName, dir
	swapEntries(&dir.children, d1, &newDir.children, d2)
	if src.IsDir() {
		src.parent = newDir
	}
	if dst.IsDir() {
		dst.parent = dir
	}
	src.ctime, dst.ctime = t.now, t.now
	dir.touchCMtime(t.now)
	newDir.touchCMtime(t.now)
	t.q = append(t.q,
		treeItem(TreeChange{Dir: dir, Name: oldName, Child: dst}),
		treeItem(TreeChange{Dir: newDir, Name: newName, Child: src}))
}
