package vfs

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// VFS is one mount namespace: the superblocks mounted in it and the lock
// that guards them all.
type VFS struct {
	mu sync.RWMutex

	root    *Superblock
	nextDev uint64
	nextIno uint64 // get_next_ino(): shared by superblocks that do not allocate their own
	cookie  uint32 // rename cookies
	now     func() time.Time

	watchMu sync.Mutex                 // serializes changes of watch
	watch   atomic.Pointer[watcherSet] // read without locks
}

// watcherSet is an immutable snapshot of the registered watchers.
type watcherSet struct {
	notifiers []Notifier
	trees     []TreeWatcher
}

// Options configure a VFS.
type Options struct {
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// New creates a namespace whose root is a fresh superblock with the given
// operations; rootMode is the permission bits of its root directory.
func New(rootOps SuperOps, rootDirOps DirOps, rootMode uint32, opts Options) *VFS {
	v := &VFS{now: opts.Now, nextDev: 1}
	if v.now == nil {
		v.now = time.Now
	}
	v.root = v.NewSuperblock(rootOps, InodeAttr{Mode: S_IFDIR | rootMode&S_IALLUGO, DirOps: rootDirOps})
	return v
}

// Root returns the root directory of the namespace.
func (v *VFS) Root() *Inode { return v.root.root }

// Now returns the VFS clock.
func (v *VFS) Now() time.Time { return v.now() }

// Notifier hears inode events; fsnotify implements it. Its methods run after
// the VFS lock is released, in the order the events happened.
type Notifier interface {
	// Notify delivers one event.
	Notify(ev Event)
	// InodeRemoved is fsnotify_inoderemove, called once per inode: the
	// inode has no link left and the entry that lost the last one is
	// gone (dentry_unlink_inode). That is in the unlink, rmdir or rename
	// that removed the last link, unless an open file or a working
	// directory holds that entry: then when it lets go. It can come
	// before the inode is evicted — while it is still open through
	// another, earlier unlinked, hard link, or referenced with Get — and
	// always comes before. Marks on it must be destroyed.
	InodeRemoved(in *Inode)
	// Unmounted is fsnotify_unmount_inodes for one inode of a superblock
	// being unmounted.
	Unmounted(in *Inode)
}

// Event is an inotify-style event. Mask holds unix.IN_* bits.
//
// For events about a directory entry (IN_CREATE, IN_DELETE, IN_MOVED_FROM,
// IN_MOVED_TO: see [Event.IsDirent]), Dir is the directory, Name the entry
// and Inode the object it names.
//
// Every other event is about Inode itself (IN_ATTRIB, IN_MODIFY, IN_ACCESS,
// IN_OPEN, IN_CLOSE_*, IN_MOVE_SELF). When the VFS knows the directory
// entry the inode was reached through (the path of a chmod, the name a file
// was opened by, which follows renames), Dir and Name are that entry, so
// that watchers of Dir that watch their children hear the event with Name,
// as fsnotify_parent arranges; they are nil and "" for the root of a
// superblock and when the entry is unknown (an inode-only event such as the
// IN_ATTRIB of a link-count change, or a file opened by inode).
type Event struct {
	Mask   uint32
	Dir    *Inode
	Name   string
	Inode  *Inode
	Cookie uint32
	// Unlinked says that the entry Dir/Name of an inode event no longer
	// names Inode: an open file whose name was unlinked or replaced
	// (d_unlinked; watches with IN_EXCL_UNLINK ignore such events).
	Unlinked bool
}

// IsDirent reports whether e is about a directory entry rather than an
// inode: IN_CREATE, IN_DELETE, IN_MOVED_FROM or IN_MOVED_TO.
func (e Event) IsDirent() bool {
	return e.Mask&(unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO) != 0
}

// TreeWatcher hears every change of a directory's entries, including those a
// file system makes on its own (kernfs removals) that inotify never reports.
// The FUSE adapter uses it to invalidate the kernel's dentry cache.
type TreeWatcher interface {
	TreeChanged(c TreeChange)
}

// TreeChange says that Name in Dir now refers to Child (Added) or no longer
// does (Removed).
type TreeChange struct {
	Dir     *Inode
	Name    string
	Child   *Inode
	Removed bool
}

// AddNotifier registers n and returns a function that unregisters it.
func (v *VFS) AddNotifier(n Notifier) (remove func()) {
	v.updateWatchers(func(w *watcherSet) { w.notifiers = append(w.notifiers, n) })
	return func() {
		v.updateWatchers(func(w *watcherSet) {
			for i, x := range w.notifiers {
				if x == n {
					w.notifiers = append(w.notifiers[:i:i], w.notifiers[i+1:]...)
					return
				}
			}
		})
	}
}

// AddTreeWatcher registers w and returns a function that unregisters it.
func (v *VFS) AddTreeWatcher(tw TreeWatcher) (remove func()) {
	v.updateWatchers(func(w *watcherSet) { w.trees = append(w.trees, tw) })
	return func() {
		v.updateWatchers(func(w *watcherSet) {
			for i, x := range w.trees {
				if x == tw {
					w.trees = append(w.trees[:i:i], w.trees[i+1:]...)
					return
				}
			}
		})
	}
}

// updateWatchers replaces the watcher snapshot by a modified copy.
func (v *VFS) updateWatchers(fn func(w *watcherSet)) {
	v.watchMu.Lock()
	defer v.watchMu.Unlock()
	var w watcherSet
	if old := v.watch.Load(); old != nil {
		w.notifiers = append([]Notifier(nil), old.notifiers...)
		w.trees = append([]TreeWatcher(nil), old.trees...)
	}
	fn(&w)
	v.watch.Store(&w)
}

func (v *VFS) watchers() ([]Notifier, []TreeWatcher) {
	if w := v.watch.Load(); w != nil {
		return w.notifiers, w.trees
	}
	return nil, nil
}

// notifying reports whether any Notifier is registered, so that events
// that cost a lock to build can be skipped.
func (v *VFS) notifying() bool {
	w := v.watch.Load()
	return w != nil && len(w.notifiers) != 0
}

// deliver hands events to the notifiers now, without a transaction: for
// events that change nothing in the tree (IN_OPEN, IN_ACCESS, IN_MODIFY,
// IN_CLOSE_*). No lock may be held.
func (v *VFS) deliver(evs ...Event) {
	notifiers, _ := v.watchers()
	for _, ev := range evs {
		for _, n := range notifiers {
			n.Notify(ev)
		}
	}
}

// fileEvent builds the event mask about f's inode, with the entry f was
// opened through.
func (v *VFS) fileEvent(f *File, mask uint32) Event {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return inodeEvent(mask, f.inode, f.dent)
}

// inodeEvent builds an event about in reached through d (nil: a root or
// unknown). The VFS lock is held: d's name and directory change on rename.
func inodeEvent(mask uint32, in *Inode, d *dirent) Event {
	ev := Event{Mask: mask, Inode: in}
	if d != nil {
		ev.Dir, ev.Name = d.dir, d.name
		ev.Unlinked = !d.dir.children.has(d)
	}
	return ev
}

// SuperOps are a file system's superblock operations.
type SuperOps interface {
	// Statfs answers statfs(2).
	Statfs() Statfs
	// EvictInode runs once when an inode of this superblock is destroyed,
	// after the Notifier heard InodeRemoved, outside the VFS lock.
	EvictInode(in *Inode)
}

// InoAllocator is an optional SuperOps extension for file systems that
// choose their own inode numbers when InodeAttr.Ino is 0.
type InoAllocator interface {
	AllocIno() uint64
}

// DirOrder is an optional SuperOps extension that orders readdir entries.
// The default is creation order, oldest first.
type DirOrder interface {
	// SortDirents sorts entries in place.
	SortDirents(entries []Dirent)
}

// Superblock is one mounted file system instance.
type Superblock struct {
	v          *VFS
	ops        SuperOps
	root       *Inode
	mountpoint *Inode // directory it is mounted on; nil for the namespace root or when unmounted
	dev        uint64
	seq        uint64
}

// NewSuperblock creates a superblock and its root directory (nlink 2). The
// superblock is not reachable until it is mounted.
func (v *VFS) NewSuperblock(ops SuperOps, root InodeAttr) *Superblock {
	v.mu.Lock()
	defer v.mu.Unlock()
	sb := &Superblock{v: v, ops: ops, dev: v.nextDev}
	v.nextDev++
	root.Mode = S_IFDIR | root.Mode&S_IALLUGO
	sb.root = sb.newInode(root, v.now())
	sb.root.nlink = 2
	return sb
}

// Root returns the superblock's root directory.
func (sb *Superblock) Root() *Inode { return sb.root }

// Ops returns the superblock's operations.
func (sb *Superblock) Ops() SuperOps { return sb.ops }

// VFS returns the namespace the superblock belongs to.
func (sb *Superblock) VFS() *VFS { return sb.v }

// Dev returns the device number shown in st_dev.
func (sb *Superblock) Dev() uint64 { return sb.dev }

func (sb *Superblock) blockSize() int64 {
	if b := sb.ops.Statfs().Bsize; b > 0 {
		return b
	}
	return 4096
}

// newInode allocates an inode; the caller holds the VFS lock. nlink is 1
// (new_inode); directories are linked by the caller.
func (sb *Superblock) newInode(a InodeAttr, now time.Time) *Inode {
	ino := a.Ino
	if ino == 0 {
		if al, ok := sb.ops.(InoAllocator); ok {
			ino = al.AllocIno()
		} else {
			sb.v.nextIno++
			ino = sb.v.nextIno
		}
	}
	in := &Inode{
		sb:      sb,
		ino:     ino,
		mode:    a.Mode,
		typ:     a.Mode & S_IFMT,
		uid:     a.UID,
		gid:     a.GID,
		nlink:   1,
		size:    a.Size,
		atime:   now,
		mtime:   now,
		ctime:   now,
		target:  a.Target,
		dirOps:  a.DirOps,
		fileOps: a.FileOps,
		private: a.Private,
	}
	if in.IsDir() {
		if in.dirOps == nil {
			in.dirOps = NoDirOps{}
		}
	}
	return in
}

// Mount mounts sb on the directory at path: EPERM unless privileged
// (may_mount, after the walk), ENOTDIR on a non-directory, EBUSY if sb is
// already mounted (one superblock, one mount).
func (v *VFS) Mount(c *Caller, path string, sb *Superblock) error {
	t := v.Begin()
	defer t.End()
	mp, err := t.walk(c, path, walkFollow)
	if err != nil {
		return &PathError{Op: "mount", Path: path, Err: err}
	}
	if !c.privileged() {
		return &PathError{Op: "mount", Path: path, Err: unix.EPERM}
	}
	if !mp.IsDir() {
		return &PathError{Op: "mount", Path: path, Err: unix.ENOTDIR}
	}
	if mp.mounted != nil || sb.mountpoint != nil || sb == v.root {
		return &PathError{Op: "mount", Path: path, Err: unix.EBUSY}
	}
	if sb.root.destroyed.Load() || sb.root.nlink == 0 {
		// Unmounting killed it (kill_litter_super): nothing to mount.
		return &PathError{Op: "mount", Path: path, Err: unix.EINVAL}
	}
	mp.mounted = sb
	sb.mountpoint = mp
	mp.refs++
	return nil
}

// Unmount detaches the superblock mounted at path and destroys every inode
// in it that nothing else references: watchers hear IN_UNMOUNT, the file
// system evicts the inodes (bpffs drops every pin). Open files keep their
// inodes until they are closed: this is umount2(MNT_DETACH); a plain
// umount(2) would fail with EBUSY while files are open. EPERM unless
// privileged, then EINVAL if nothing is mounted there (can_umount).
func (v *VFS) Unmount(c *Caller, path string) error {
	t := v.Begin()
	defer t.End()
	in, err := t.walk(c, path, walkFollow|walkNoCrossLast)
	if err != nil {
		return &PathError{Op: "umount", Path: path, Err: err}
	}
	if !c.privileged() {
		return &PathError{Op: "umount", Path: path, Err: unix.EPERM}
	}
	sb := in.mounted
	if sb == nil {
		return &PathError{Op: "umount", Path: path, Err: unix.EINVAL}
	}
	in.mounted = nil
	in.refs--
	sb.mountpoint = nil
	t.killTree(sb.root)
	return nil
}

// killTree drops every link in a detached subtree (kill_litter_super).
// First every inode of the tree hears Unmounted once, newest first as
// fsnotify_unmount_inodes walks sb->s_inodes (by inode number, which grows
// with creation).
func (t *Txn) killTree(root *Inode) {
	seen := make(map[*Inode]bool)
	var all []*Inode
	var collect func(dir *Inode)
	collect = func(dir *Inode) {
		seen[dir] = true
		all = append(all, dir)
		for d := range dir.children.all() {
			if c := d.inode; !seen[c] {
				if c.IsDir() {
					collect(c)
				} else {
					seen[c] = true
					all = append(all, c)
				}
			}
		}
	}
	collect(root)
	sort.Slice(all, func(i, j int) bool { return all[i].ino > all[j].ino })
	for _, in := range all {
		t.q = append(t.q, txnItem{kind: itemUnmount, inode: in})
	}
	t.unlinkTree(root)
}

// unlinkTree drops every link of a subtree; inodes nothing references are
// destroyed.
func (t *Txn) unlinkTree(dir *Inode) {
	ents := make([]*dirent, 0, dir.children.len())
	for d := range dir.children.all() {
		ents = append(ents, d)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	for _, d := range ents {
		child := d.inode
		dir.children.remove(d)
		if child.IsDir() {
			t.unlinkTree(child)
			continue
		}
		child.nlink--
		t.maybeDestroy(child)
	}
	dir.nlink = 0
	t.maybeDestroy(dir)
}
