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
// A directory entry is also what Linux calls a dentry as far as events go:
// an open [File] remembers the entry it was opened through, which follows
// renames and keeps its last name when unlinked, so that events about the
// file reach watchers of its directory under its current name
// ([Event.Dir], [Event.Name], fsnotify_parent). The working directory
// that [VFS.Chdir] sets is a reference, as a task's fs->pwd is.
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
//     operation holds a reference (refs) on its inode. An open file and a
//     working directory set by [VFS.Chdir] also hold the entry they came
//     through, as a dentry reference does (a file opened by inode holds
//     an unknown one).
//   - An inode is removed once (the [Notifier] hears InodeRemoved:
//     fsnotify_inoderemove, IN_DELETE_SELF) when it has no links and the
//     entry that lost the last one is not held, or when that entry's last
//     holder lets go — as dentry_unlink_inode decides. It is destroyed
//     once, after that, when it has no links and no references: the
//     superblock's [SuperOps.EvictInode] runs (bpffs drops its object
//     reference there). Both run after the VFS lock is released, from the
//     goroutine that dropped the last link, entry or reference, before the
//     system call that caused it returns; they may take other file
//     systems' locks and start new VFS transactions. Events come in Linux's order: unlink
//     gives IN_ATTRIB on the file, IN_DELETE_SELF if it died, IN_DELETE on
//     the directory, then the eviction; a rename over a file gives
//     IN_MOVED_FROM, IN_MOVED_TO, IN_ATTRIB on the target, IN_MOVE_SELF,
//     then the target's IN_DELETE_SELF; an open file's death waits for its
//     close (IN_CLOSE_* first). The differential tests in this package
//     and in fsnotify check these against the running kernel.
//   - Unmounting ([VFS.Unmount], umount2 with MNT_DETACH) tells the
//     Notifier Unmounted for every inode of the tree, newest first, then
//     drops every link; open files keep their inodes until closed.
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
// ACLs and capabilities other than "uid 0 is privileged" (so the fs
// capabilities that setfsuid drops go with the uid), user and mount
// namespaces, bind mounts and mounting one superblock twice, a busy
// umount (EBUSY), O_PATH, O_TMPFILE, file locks, mmap, blocking FIFO
// opens, atime updates on read, fs.protected_symlinks/regular/fifos (the
// test machine has them off; protected_hardlinks is on and modelled),
// IN_ACCESS for getdents (ReadDir has no open file).
//
// # Tests
//
// The tables in this package's tests run every operation both on simfs and,
// as root, on the kernel's ramfs and tmpfs (vfs/vfstest: a thread in a
// private mount namespace with its own credentials), comparing each errno,
// each stat, inode identity and the whole tree after every step; without
// root they check simfs against the same expectations.
package vfs
