package kernfs

import (
	"slices"
	"strings"
	"sync"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// Extended attributes, as fs/kernfs/inode.c keeps them: in the node (its
// kernfs_iattrs), so that they outlive the node's VFS inodes, in a
// simple_xattrs set (fs/xattr.c). Three namespaces have handlers:
// trusted.* and security.* (privileged), and user.* when the root has
// [SupportUserXattr] (cgroup2 sets it), limited to 128 attributes and
// 128 KiB of values per node. The permission rules are fs/xattr.c's
// xattr_permission and the capability module's cap_inode_setxattr, with
// uid 0 standing for CAP_SYS_ADMIN.

const (
	xattrNameMax       = 255     // XATTR_NAME_MAX
	xattrSizeMax       = 1 << 16 // XATTR_SIZE_MAX
	maxUserXattrs      = 128     // KERNFS_MAX_USER_XATTRS
	userXattrSizeLimit = 128 << 10

	xattrCreate  = unix.XATTR_CREATE
	xattrReplace = unix.XATTR_REPLACE

	prefixTrusted  = "trusted."
	prefixSecurity = "security."
	prefixUser     = "user."
	prefixSystem   = "system."
)

// xattrSet is a node's simple_xattrs plus kernfs's user.* accounting.
type xattrSet struct {
	mu       sync.Mutex
	vals     map[string][]byte
	nrUser   int // nr_user_xattrs
	userSize int // user_xattr_size
}

// xattrsOf returns n's set, creating it when create is set
// (__kernfs_iattrs); nil if it has none, or if n was released already.
func (n *Node) xattrsOf(create bool) *xattrSet {
	r := n.root
	if !create {
		r.mu.RLock()
		defer r.mu.RUnlock()
		return r.xattrs[n]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if x := r.xattrs[n]; x != nil {
		return x
	}
	if n.count.Load() <= 0 {
		return nil
	}
	if r.xattrs == nil {
		r.xattrs = make(map[*Node]*xattrSet)
	}
	x := &xattrSet{vals: make(map[string][]byte)}
	r.xattrs[n] = x
	n.flags |= flagXattrs
	return x
}

// xattrHandler is the part of xattr_resolve_name that kernfs's handler
// list decides: EOPNOTSUPP for a namespace without a handler, EINVAL for
// a prefix with nothing after it.
func xattrHandler(name string) (prefix string, err error) {
	for _, p := range []string{prefixTrusted, prefixSecurity, prefixUser} {
		if rest, ok := strings.CutPrefix(name, p); ok {
			if rest == "" {
				return "", unix.EINVAL
			}
			return p, nil
		}
	}
	return "", unix.EOPNOTSUPP
}

// checkXattrName is what the system calls check before the file system:
// the name must be 1..255 bytes (ERANGE otherwise).
func checkXattrName(name string) error {
	if name == "" || len(name) > xattrNameMax {
		return unix.ERANGE
	}
	return nil
}

// xattrPermission is xattr_permission for mask MayRead or MayWrite.
func (r *Root) xattrPermission(c *vfs.Caller, in *vfs.Inode, name string, mask uint32) error {
	st := r.v.Getattr(in)
	priv := c.Cred.UID == 0
	switch {
	case strings.HasPrefix(name, prefixSecurity), strings.HasPrefix(name, prefixSystem):
		return nil // left to the security module
	case strings.HasPrefix(name, prefixTrusted):
		if !priv {
			if mask&vfs.MayWrite != 0 {
				return unix.EPERM
			}
			return unix.ENODATA
		}
		return nil
	case strings.HasPrefix(name, prefixUser):
		typ := st.Mode & vfs.S_IFMT
		if typ != vfs.S_IFREG && typ != vfs.S_IFDIR {
			if mask&vfs.MayWrite != 0 {
				return unix.EPERM
			}
			return unix.ENODATA
		}
		if typ == vfs.S_IFDIR && st.Mode&vfs.S_ISVTX != 0 && mask&vfs.MayWrite != 0 && !priv && c.Cred.UID != st.UID {
			return unix.EPERM
		}
	}
	return r.v.Permission(c, in, mask)
}

// Getxattr is getxattr(2) on a kernfs inode (vfs_getxattr,
// kernfs_vfs_xattr_get). The caller copies the value out and answers
// ERANGE for a short buffer.
func (r *Root) Getxattr(c *vfs.Caller, in *vfs.Inode, name string) ([]byte, error) {
	n := NodeOf(in)
	if n == nil {
		return nil, unix.EOPNOTSUPP
	}
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	if err := r.xattrPermission(c, in, name, vfs.MayRead); err != nil {
		return nil, err
	}
	if _, err := xattrHandler(name); err != nil {
		return nil, err
	}
	x := n.xattrsOf(false)
	if x == nil {
		return nil, unix.ENODATA
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	v, ok := x.vals[name]
	if !ok {
		return nil, unix.ENODATA
	}
	return slices.Clone(v), nil
}

// Setxattr is setxattr(2) (vfs_setxattr): flags are XATTR_CREATE and
// XATTR_REPLACE.
func (r *Root) Setxattr(c *vfs.Caller, in *vfs.Inode, name string, value []byte, flags int) error {
	if flags&^(xattrCreate|xattrReplace) != 0 {
		return unix.EINVAL
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	if len(value) > xattrSizeMax {
		return unix.E2BIG
	}
	if value == nil {
		value = []byte{} // an empty value is still a value
	}
	return r.setxattr(c, in, name, value, flags)
}

// Removexattr is removexattr(2): the handler's set with no value and
// XATTR_REPLACE, so a missing attribute is ENODATA.
func (r *Root) Removexattr(c *vfs.Caller, in *vfs.Inode, name string) error {
	if err := checkXattrName(name); err != nil {
		return err
	}
	return r.setxattr(c, in, name, nil, xattrReplace)
}

// setxattr is __vfs_setxattr_locked and kernfs's handlers; a nil value
// removes.
func (r *Root) setxattr(c *vfs.Caller, in *vfs.Inode, name string, value []byte, flags int) error {
	n := NodeOf(in)
	if n == nil {
		return unix.EOPNOTSUPP
	}
	if err := r.xattrPermission(c, in, name, vfs.MayWrite); err != nil {
		return err
	}
	// cap_inode_setxattr (and cap_inode_removexattr): security.* other
	// than security.capability needs CAP_SYS_ADMIN.
	if strings.HasPrefix(name, prefixSecurity) && name != "security.capability" && c.Cred.UID != 0 {
		return unix.EPERM
	}
	prefix, err := xattrHandler(name)
	if err != nil {
		return err
	}
	if prefix == prefixUser && r.flags&SupportUserXattr == 0 {
		return unix.EOPNOTSUPP
	}
	x := n.xattrsOf(true)
	if x == nil {
		return unix.ENOENT
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if prefix != prefixUser {
		return x.set(name, value, flags)
	}
	if value == nil { // kernfs_vfs_user_xattr_rm
		old, ok := x.vals[name]
		if err := x.set(name, nil, flags); err != nil {
			return err
		}
		if ok {
			x.nrUser--
			x.userSize -= len(old)
		}
		return nil
	}
	// kernfs_vfs_user_xattr_add counts the new attribute and its size
	// before looking for an old one, so at the limits even a replacement
	// fails with ENOSPC.
	if x.nrUser+1 > maxUserXattrs || x.userSize+len(value) > userXattrSizeLimit {
		return unix.ENOSPC
	}
	old, had := x.vals[name]
	if err := x.set(name, value, flags); err != nil {
		return err
	}
	if had {
		x.userSize += len(value) - len(old)
	} else {
		x.nrUser++
		x.userSize += len(value)
	}
	return nil
}

// set is simple_xattr_set: a nil value removes. Caller holds x.mu.
func (x *xattrSet) set(name string, value []byte, flags int) error {
	_, ok := x.vals[name]
	if ok && flags&xattrCreate != 0 {
		return unix.EEXIST
	}
	if !ok && flags&xattrReplace != 0 {
		return unix.ENODATA
	}
	if value == nil {
		delete(x.vals, name)
		return nil
	}
	x.vals[name] = slices.Clone(value)
	return nil
}

// Listxattr is listxattr(2) (kernfs_iop_listxattr, simple_xattr_list):
// every name, trusted.* ones only for a privileged caller, in the order
// of the kernel's tree of names (descending byte order).
func (r *Root) Listxattr(c *vfs.Caller, in *vfs.Inode) ([]string, error) {
	n := NodeOf(in)
	if n == nil {
		return nil, unix.EOPNOTSUPP
	}
	x := n.xattrsOf(false)
	if x == nil {
		return nil, nil
	}
	x.mu.Lock()
	names := make([]string, 0, len(x.vals))
	for name := range x.vals {
		if c.Cred.UID != 0 && strings.HasPrefix(name, prefixTrusted) {
			continue
		}
		names = append(names, name)
	}
	x.mu.Unlock()
	slices.Sort(names)
	slices.Reverse(names)
	return names, nil
}
