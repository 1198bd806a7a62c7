package kernfs

import (
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// dirOps are kernfs_dir_iops: lookup (the VFS already found every visible
// entry), mkdir, rmdir and rename through the root's SyscallOps. Create,
// mknod, link, symlink and unlink are missing, so the VFS answers EACCES
// (open O_CREAT, mknod S_IFREG) or EPERM (the rest).
type dirOps struct{ vfs.NoDirOps }

var _ vfs.DirOps = dirOps{}

// Lookup is kernfs_iop_lookup for a name the VFS did not find: a negative
// dentry, whatever the name's length (kernfs has no NAME_MAX check, so
// cgroup2 accepts names longer than 255 bytes).
func (dirOps) Lookup(dir *vfs.Inode, name string) error { return unix.ENOENT }

// Mkdir is kernfs_iop_mkdir.
func (dirOps) Mkdir(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, mode uint32) (*vfs.Inode, error) {
	parent := NodeOf(dir)
	r := parent.root
	if r.scops.Mkdir == nil {
		return nil, unix.EPERM
	}
	if parent.Removed() {
		// A directory removed by rmdir(2) is dead to the VFS (S_DEAD):
		// may_create answers ENOENT before kernfs is asked.
		return nil, unix.ENOENT
	}
	if !parent.getActive() {
		return nil, unix.ENODEV
	}
	defer parent.putActive()
	n, err := r.scops.Mkdir(t, c, parent, name, mode)
	if err != nil {
		return nil, err
	}
	return n.inode, nil
}

// Rmdir is kernfs_iop_rmdir.
func (dirOps) Rmdir(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, victim *vfs.Inode) error {
	n := NodeOf(victim)
	r := n.root
	if r.scops.Rmdir == nil {
		return unix.EPERM
	}
	if !n.getActive() {
		return unix.ENODEV
	}
	defer n.putActive()
	return r.scops.Rmdir(t, c, n)
}

// Rename is kernfs_iop_rename: any flag is EINVAL.
func (dirOps) Rename(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, oldName string, newDir *vfs.Inode, newName string, flags uint32) error {
	if flags != 0 {
		return unix.EINVAL
	}
	parent := NodeOf(dir)
	r := parent.root
	if r.scops.Rename == nil {
		return unix.EPERM
	}
	n := NodeOf(t.Child(dir, oldName))
	newParent := NodeOf(newDir)
	if n == nil || newParent == nil {
		return unix.ENOENT
	}
	if !n.getActive() {
		return unix.ENODEV
	}
	defer n.putActive()
	if !newParent.getActive() {
		return unix.ENODEV
	}
	defer newParent.putActive()
	return r.scops.Rename(t, c, n, newParent, newName)
}
