package vfs

import (
	"sync/atomic"
	"syscall"
	"time"
)

// File type and permission bits, as in <sys/stat.h>.
const (
	S_IFMT   = syscall.S_IFMT
	S_IFDIR  = syscall.S_IFDIR
	S_IFREG  = syscall.S_IFREG
	S_IFLNK  = syscall.S_IFLNK
	S_IFIFO  = syscall.S_IFIFO
	S_IFSOCK = syscall.S_IFSOCK
	S_IFCHR  = syscall.S_IFCHR
	S_IFBLK  = syscall.S_IFBLK
	S_ISUID  = syscall.S_ISUID
	S_ISGID  = syscall.S_ISGID
	S_ISVTX  = syscall.S_ISVTX

	// S_IALLUGO is every permission bit including setuid, setgid and sticky.
	S_IALLUGO = 07777
	// S_IRWXUGO is rwx for user, group and other.
	S_IRWXUGO = 0777
)

// Permission masks for [VFS.Permission], as MAY_* in the kernel.
const (
	MayExec  = 1
	MayWrite = 2
	MayRead  = 4
)

// Inode is one file-system object. Its exported methods read attributes under
// the VFS lock; the fields are private because every change must go through
// a [Txn].
type Inode struct {
	sb  *Superblock
	ino uint64
	// children are a directory's entries, next to ino: reading the inode
	// number of a directory about to lose many entries (kernfs warms a
	// batch that way) mostly brings in its table as well.
	children dirTable

	mode  uint32 // type and permission bits
	typ   uint32 // the S_IFMT bits of mode, which never change: read without the lock
	uid   uint32
	gid   uint32
	nlink uint32
	size  int64
	atime time.Time
	mtime time.Time
	ctime time.Time

	// Directories (children are above).
	parent  *Inode      // nil for a superblock root
	mounted *Superblock // superblock mounted on this directory, if any

	target string // symlinks

	dirOps  DirOps
	fileOps FileOps

	// private belongs to the file system (bpffs: the pinned object; kernfs:
	// its node).
	private any

	// entry is the directory entry that last linked the inode, so that a
	// file system detaching it ([Txn.DetachInode]) needs no name lookup.
	entry *dirent

	refs      int64       // open files, caller references, in-flight operations
	anon      int32       // open files and working directories that hold no known entry
	removed   atomic.Bool // InodeRemoved was queued: written under the VFS lock, read anywhere
	destroyed atomic.Bool // written under the VFS lock, read anywhere
	orphan    bool        // detached by its file system: destroyed when unreferenced
	sdead     bool        // S_DEAD: removed by rmdir
}

// dirent is a directory entry, and what Linux calls a dentry as far as
// fsnotify cares: an open file remembers the entry it was opened through,
// so that its events reach watchers of the entry's directory under the
// entry's current name. A rename moves the entry (it keeps its identity); an
// unlinked entry keeps its last name and directory, as an unhashed dentry
// does.
type dirent struct {
	inode *Inode
	seq   uint64 // creation order within the superblock, for readdir order
	name  string
	dir   *Inode
	holds int32 // open files and working directories that came through it
	slot  int32 // in dir's children; -1 once unlinked
}

// InodeAttr is what a file system sets when it creates an inode.
type InodeAttr struct {
	Ino     uint64 // 0: the superblock allocates one
	Mode    uint32 // file type and permission bits
	UID     uint32
	GID     uint32
	Size    int64
	Target  string // symlink target
	DirOps  DirOps
	FileOps FileOps
	Private any
}

// Ino returns the inode number.
func (in *Inode) Ino() uint64 { return in.ino }

// Superblock returns the superblock the inode belongs to.
func (in *Inode) Superblock() *Superblock { return in.sb }

// Destroyed reports whether the inode has been destroyed (its last link and
// reference are gone). It needs no lock; once true it stays true. fsnotify
// uses it to refuse marks on dead inodes (ENOENT).
func (in *Inode) Destroyed() bool { return in.destroyed.Load() }

// Removed reports whether the VFS has reported (or queued) InodeRemoved for
// the inode: it lost its last link and the last entry naming it is gone.
// It needs no lock; once true it stays true. fsnotify refuses new marks on
// removed inodes (ENOENT), as nothing would destroy them.
func (in *Inode) Removed() bool { return in.removed.Load() }

// Private returns the file system's private value.
func (in *Inode) Private() any { return in.private }

// IsDir reports whether the inode is a directory. The type never changes, so
// no lock is needed.
func (in *Inode) IsDir() bool { return in.typ == S_IFDIR }

// Type returns the S_IFMT bits. The type never changes.
func (in *Inode) Type() uint32 { return in.typ }

// Mode returns the type and permission bits. Call it only with the VFS lock
// held, as DirOps methods are; elsewhere use VFS.Getattr.
func (in *Inode) Mode() uint32 { return in.mode }

// FileOps returns the inode's file operations.
func (in *Inode) FileOps() FileOps { return in.fileOps }

// DirOps returns the inode's directory operations.
func (in *Inode) DirOps() DirOps { return in.dirOps }

// Stat is the result of stat(2) on an inode.
type Stat struct {
	Dev     uint64
	Ino     uint64
	Mode    uint32
	Nlink   uint32
	UID     uint32
	GID     uint32
	Size    int64
	Blksize int64
	Blocks  int64
	Atime   time.Time
	Mtime   time.Time
	Ctime   time.Time
}

// Statfs is the result of statfs(2).
type Statfs struct {
	Type    int64 // magic
	Bsize   int64
	Namelen int64
	Frsize  int64
	Fsid    uint64
}

// stat fills a Stat. Caller holds the VFS lock (shared is enough).
func (in *Inode) stat() Stat {
	st := Stat{
		Dev:     in.sb.dev,
		Ino:     in.ino,
		Mode:    in.mode,
		Nlink:   in.nlink,
		UID:     in.uid,
		GID:     in.gid,
		Size:    in.size,
		Blksize: in.sb.blockSize(),
		Atime:   in.atime,
		Mtime:   in.mtime,
		Ctime:   in.ctime,
	}
	if a, ok := in.fileOps.(StatAdjuster); ok {
		// A copy, so that st does not escape (and allocate) when there
		// is no adjuster.
		adj := st
		a.AdjustStat(in, &adj)
		return adj
	}
	return st
}

// StatAdjuster is an optional FileOps extension for file systems whose stat
// differs from the stored attributes (for example a size computed on demand).
type StatAdjuster interface {
	AdjustStat(in *Inode, st *Stat)
}

func (in *Inode) touchCMtime(now time.Time) {
	in.mtime = now
	in.ctime = now
}
