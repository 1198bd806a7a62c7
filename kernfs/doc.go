// Package kernfs is simfs's fs/kernfs: dir.c (nodes, ids, activation,
// removal, kernfs_remove_self, kernfs_show, readdir order), file.c (open
// files, seq_show reads, writes, lseek, kernfs_notify, draining open files)
// and inode.c (attributes, statfs). cgroup2 is built on it, and so is the
// RFC's exposure of BPF objects in cgroup directories.
//
// # Model
//
// A [Root] is a kernfs_root and the VFS superblock that shows it; the
// caller mounts [Root.Superblock]. Every [Node] — directory or file — is a
// vfs.Inode whose inode number is the node's id. Ids come from one cyclic
// allocator per root: the root node is 1 and every new node takes the next
// id; when the low 31 bits wrap the high 32 bits are bumped, so an id is
// never handed out twice. [NodeOf] and [RootOf] map a vfs.Inode back
// (kernfs_node_from_dentry, kernfs_root_from_sb).
//
// A node is visible in the VFS only while it is active. Nodes of a root
// with [CreateDeactivated] are created inactive and appear all at once on
// [Root.Activate] (cgroup mkdir creates the directory and every interface
// file, then activates). Removal ([Root.Remove]) deactivates the whole
// subtree and detaches it from the VFS in one transaction, then — after
// the VFS lock is released — waits for the operations in flight on each
// node (drain), calls Release for files still open, and unlinks the nodes.
//
// Files have [Ops]: SeqShow files are read through package seqfile (the
// buffer starts at one page and doubles on overflow; leftovers are served
// by later reads; a read at offset 0 regenerates); writes are whole-buffer
// (AtomicWriteLen, E2BIG beyond it) and NUL-terminated ([CString]); lseek
// is generic_file_llseek with the node's size (0 for cgroup files) as end
// of file. Directories support mkdir, rmdir and rename through the root's
// [SyscallOps] (EPERM when missing, EINVAL for rename flags); create is
// EACCES, mknod, link, symlink and unlink are EPERM; chmod, chown and
// utimes work and size changes are ignored. Directories list in
// [NameHash] order. statfs reports the root's magic.
//
// What a holder of an open file sees after its node is removed (§5.1):
// read returns any leftover buffered bytes, then ENODEV (even at end of
// file); write and lseek return ENODEV; fstat and close work; opening an
// inode looked up before the removal returns ENODEV.
//
// # Reference model
//
//   - Active references (kernfs_get_active) are held by every file
//     operation for its duration: open, each read (from seq start to
//     stop), write, lseek, and mkdir/rmdir/rename on the directories
//     involved. Removal and [Root.Show] (hide) wait for them to drain.
//   - Plain references ([Node.Get], [Node.Put]; kernfs_get/put): a node is
//     created with one (dropped when it is unlinked after removal), each
//     child holds one on its parent, [Root.FindByID] returns one. When the
//     last goes, the id leaves the root's id map. Plain references never
//     keep a node active or visible; the Go garbage collector frees
//     memory.
//   - Open files ([OpenFile]) hold a VFS reference on the inode they were
//     opened on (the VFS's), not a kernfs reference: a removed node's inode
//     dies with its last open file.
//   - The VFS inode does not pin the node: the node pins nothing but its
//     parent.
//
// # Locking
//
// Lock order: OpenFile mutex (of->mutex) → active reference → VFS lock
// (vfs.Txn) → Root.mu (kernfs_rwsem) → Root.openMu (open-file lists,
// Release) and Root.waitMu (drain waits, remove-self arbitration).
//
// Every tree change runs in a vfs.Txn, because it changes the VFS tree as
// well: methods take the caller's *vfs.Txn, or nil to run a transaction of
// their own. Code running inside a DirOps call or vfs.CreateAt's callback
// passes its Txn; code outside any transaction passes nil. Nothing waits
// for active references while holding the VFS lock: a removal inside a
// transaction queues its drain with Txn.Defer, so it runs when that
// transaction ends — still before the system call returns. A caller must
// therefore never remove a node while it holds an active reference on it
// (a write handler uses [OpenFile.RemoveSelf]).
//
// # Left out
//
// Namespace tags (kn->ns, sysfs network namespaces), mmap of kernfs files,
// multi-record seq_start/next/stop ops (seqfile supports them; no kernfs
// user here needs them), prealloc buffers, the system.* (POSIX ACL)
// xattr namespace and LSM security labels (security.* attributes are kept
// as plain values; the VFS library has no xattr calls of its own: they
// reach [Root.Getxattr] and friends through fusefs), the KERNFS_EMPTY_DIR and KERNFS_ROOT_SUPPORT_EXPORTOP flags,
// file handles, 32-bit ino/generation splitting, poll wait queues (Poll
// reports the state; there is no blocking poll), rate limiting of
// notifications, and the dentry revalidation machinery (the VFS tree is
// authoritative). Timestamps are the VFS's: a node gets fresh times when a
// new VFS inode shows it. A file hidden with [Root.Show] and shown again
// gets a new VFS inode with the same number and mode but the owner it was
// created with (a chown in between is lost). The VFS rejects names longer
// than NAME_MAX before kernfs sees them; Linux's kernfs accepts them.
package kernfs
