// Package vfs is simfs's virtual file system: inodes with link and open
// counts, directories, path walk, permissions, open files, mounts and the
// point at which an inode is destroyed. It stands for fs/namei.c (path walk,
// may_create/may_delete, vfs_mkdir & co.), fs/inode.c and the parts of
// fs/dcache.c that decide when an unlinked inode dies, plus fs/libfs.c's
// simple_* helpers that bpffs and the root file system use.
//
// # Model
//
// A [VFS] is one mount namespace. It holds a tree of [Inode]s spread over
// [Superblock]s; each superblock is mounted at most once, on a directory of
// another superblock (the root superblock is mounted on nothing). Directories
// own their children by name; a directory has exactly one parent, regular
// files and symlinks may have many names (hard links). There is no separate
// dentry cache: the tree is authoritative, as it is for ramfs-like file
// systems whose dentries are pinned.
//
// File-system behaviour comes from two small interfaces set per inode:
// [DirOps] (what Linux calls a directory's inode_operations) and [FileOps]
// (file_operations). [NoDirOps] answers every directory operation the way the
// Linux VFS answers when the operation is missing; the Simple* functions are
// the libfs helpers.
//
// # Reference model
//
//   - A directory entry holds a link (nlink) on its inode. A directory's
//     nlink is 2 plus its number of subdirectories.
//   - An open [File], a caller-held reference ([VFS.Get]) or an in-flight
//     operation holds a reference (refs) on its inode.
//   - An inode is destroyed exactly once, when nlink is 0 and refs is 0: the
//     [Notifier] hears InodeRemoved (fsnotify_inoderemove), then the
//     superblock's [SuperOps.EvictInode] runs (bpffs drops its object
//     reference there). Both run after the VFS lock is released, from the
//     goroutine that dropped the last link or reference, before the system
//     call that caused it returns; they may take other file systems' locks
//     and start new VFS transactions.
//
// # Locking
//
// One RWMutex per VFS guards the tree and every inode's attributes. Read-only
// operations (lookup, stat, readdir) take it shared; anything that changes
// the tree runs in a [Txn], which holds it exclusively and queues events and
// deferred work that run in order once it is released. DirOps methods are
// called inside a Txn and must not block on anything that waits for the VFS
// lock. File reads and writes ([FileOps]) run without the VFS lock.
//
// Lock order: VFS.mu → (file-system locks such as kernfs's active
// references are never held while acquiring VFS.mu, except by code that has
// already released them) → File.mu.
//
// # Left out
//
// Page cache, data blocks (size is an attribute only), xattrs (EOPNOTSUPP),
// ACLs and capabilities other than "uid 0 is privileged", user and mount
// namespaces, bind mounts and mounting one superblock twice, O_PATH, file
// locks, mmap, atime updates on read.
package vfs
