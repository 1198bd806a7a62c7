package vfs

import (
	"golang.org/x/sys/unix"
)

// Cred is who performs an operation.
type Cred struct {
	UID    uint32
	GID    uint32
	Groups []uint32
}

// Caller is the context of one operation: the credential, the umask applied
// to created objects, and the working directory relative paths start from
// (nil: the namespace root). A Cwd set directly is not a reference: if its
// inode dies, relative lookups fail with ENOENT. [VFS.Chdir] sets it the way
// chdir(2) does, holding a reference as a task's fs->pwd does, so that a
// removed working directory stays usable ("." works, creating in it is
// ENOENT); [VFS.PutCwd] drops that reference when the task goes away. Task
// is the simulated task performing the operation, opaque to the VFS (a BPF
// program run on behalf of a read asks it for bpf_get_current_pid_tgid).
type Caller struct {
	Cred  Cred
	Umask uint32
	Cwd   *Inode
	Task  any

	cwdRef  *Inode  // the reference Chdir holds, if Cwd came from Chdir
	cwdDent *dirent // and the entry it holds
}

// RootCaller returns a caller with uid 0 and umask 022.
func RootCaller() *Caller { return &Caller{Umask: 022} }

// privileged reports CAP_DAC_OVERRIDE, CAP_FOWNER and friends: uid 0.
func (c *Caller) privileged() bool { return c.Cred.UID == 0 }

func (c *Caller) inGroup(gid uint32) bool {
	if c.Cred.GID == gid {
		return true
	}
	for _, g := range c.Cred.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// permission is generic_permission (fs/namei.c) for mask MAY_*: the owner,
// group or other class bits, then the root overrides (CAP_DAC_OVERRIDE may
// read and write anything and execute anything with an x bit or any
// directory; CAP_DAC_READ_SEARCH may read anything and search directories).
// Caller holds the VFS lock.
func (c *Caller) permission(in *Inode, mask uint32) error {
	mode := in.mode
	var bits uint32
	switch {
	case c.Cred.UID == in.uid:
		bits = mode >> 6
	case c.inGroup(in.gid):
		bits = mode >> 3
	default:
		bits = mode
	}
	if mask&^(bits&7) == 0 {
		return nil
	}
	if c.privileged() {
		if in.IsDir() {
			return nil
		}
		if mask&MayExec == 0 || mode&0111 != 0 {
			return nil
		}
	}
	return unix.EACCES
}

// Permission checks mask (MayRead|MayWrite|MayExec) on in for c.
func (v *VFS) Permission(c *Caller, in *Inode, mask uint32) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return c.permission(in, mask)
}

// mayCreate is may_create: the directory must still be linked and writable
// and searchable.
func (c *Caller) mayCreate(dir *Inode) error {
	if dir.destroyed.Load() || dir.nlink == 0 {
		return unix.ENOENT
	}
	return c.permission(dir, MayWrite|MayExec)
}

// mayDelete is may_delete for victim in dir: write and search permission on
// dir and the sticky-bit rule (check_sticky: in a sticky directory only the
// owner of the victim, the owner of the directory or a privileged caller may
// remove or rename an entry).
func (c *Caller) mayDelete(dir, victim *Inode, isDir bool) error {
	if err := c.permission(dir, MayWrite|MayExec); err != nil {
		return err
	}
	if dir.mode&S_ISVTX != 0 && !c.privileged() && c.Cred.UID != victim.uid && c.Cred.UID != dir.uid {
		return unix.EPERM
	}
	if isDir && !victim.IsDir() {
		return unix.ENOTDIR
	}
	if !isDir && victim.IsDir() {
		return unix.EISDIR
	}
	return nil
}

// CheckMayCreate runs may_create for code that creates entries on its own
// (BPF_OBJ_PIN). Caller holds the lock through t.
func (t *Txn) CheckMayCreate(c *Caller, dir *Inode) error { return c.mayCreate(dir) }

// CheckPermission runs generic_permission inside a transaction.
func (t *Txn) CheckPermission(c *Caller, in *Inode, mask uint32) error {
	return c.permission(in, mask)
}

// umask is current_umask(): umask(2) keeps only the permission bits.
func (c *Caller) umask() uint32 { return c.Umask & S_IRWXUGO }

// prepareMode is vfs_prepare_mode for a new inode in dir: mode_strip_sgid
// (a setgid, group-executable non-directory created in a setgid directory
// whose group the caller is not in loses S_ISGID), then the umask, then
// only the bits in maskPerms remain.
func (c *Caller) prepareMode(dir *Inode, mode, maskPerms uint32) uint32 {
	if mode&(S_ISGID|0010) == S_ISGID|0010 && mode&S_IFMT != S_IFDIR &&
		dir != nil && dir.mode&S_ISGID != 0 && !c.inGroup(dir.gid) && !c.privileged() {
		mode &^= S_ISGID
	}
	mode &^= c.umask()
	return mode & maskPerms
}

// shouldDropSgid is setattr_should_drop_sgid: a setgid file loses the bit
// when it is group-executable, or when the caller is neither in its group
// nor privileged.
func (c *Caller) shouldDropSgid(in *Inode) bool {
	if in.mode&S_ISGID == 0 {
		return false
	}
	return in.mode&0010 != 0 || !(c.inGroup(in.gid) || c.privileged())
}

// killPriv is file_remove_privs / dentry_needs_remove_privs for a write or
// truncation by c: without CAP_FSETID a regular file loses S_ISUID, and
// S_ISGID when shouldDropSgid says so (notify_change with ATTR_FORCE: no
// permission check). It reports whether the mode changed; the caller sends
// the IN_ATTRIB.
func (t *Txn) killPriv(c *Caller, in *Inode) bool {
	if c.privileged() || in.Type() != S_IFREG {
		return false
	}
	m := in.mode
	if m&S_ISUID != 0 {
		m &^= S_ISUID
	}
	if c.shouldDropSgid(in) {
		m &^= S_ISGID
	}
	if m == in.mode {
		return false
	}
	in.mode = m
	in.ctime = t.now
	return true
}

// Owner returns the uid and gid a new inode created by c in dir gets
// (inode_init_owner: the parent's gid when it is setgid).
func (c *Caller) Owner(dir *Inode) (uid, gid uint32) {
	gid = c.Cred.GID
	if dir != nil && dir.mode&S_ISGID != 0 {
		gid = dir.gid
	}
	return c.Cred.UID, gid
}
