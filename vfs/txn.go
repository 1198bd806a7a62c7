package vfs

import "time"

// Txn is a VFS operation in progress: it holds the VFS lock exclusively and
// queues what must happen once the lock is released — events, tree changes,
// inode destruction and work a file system deferred — so that those run in
// the order they were caused, without the lock, before the operation returns.
//
// Every function that changes the tree takes a *Txn, which is how the type
// system says "the VFS lock is held".
type Txn struct {
	v   *VFS
	now time.Time
	q   []txnItem
	// tidy lists the directories whose tables removals made sparse; End
	// rebuilds them before it releases the lock.
	tidy []*Inode
}

type itemKind uint8

const (
	itemEvent itemKind = iota
	itemTree
	itemRemoved
	itemEvict
	itemUnmount
	itemFunc
)

// txnItem is one queued item. Events and tree changes share their
// fields, which keeps the item small: a kernfs batch removal queues two
// per node.
type txnItem struct {
	kind   itemKind
	flag   bool // Event.Unlinked, TreeChange.Removed
	mask   uint32
	cookie uint32
	dir    *Inode
	name   string
	inode  *Inode // Event.Inode, TreeChange.Child, or the inode removed, evicted or unmounted
	fn     func()
}

func eventItem(ev Event) txnItem {
	return txnItem{kind: itemEvent, flag: ev.Unlinked, mask: ev.Mask, cookie: ev.Cookie, dir: ev.Dir, name: ev.Name, inode: ev.Inode}
}

func (it *txnItem) event() Event {
	return Event{Mask: it.mask, Dir: it.dir, Name: it.name, Inode: it.inode, Cookie: it.cookie, Unlinked: it.flag}
}

func treeItem(tc TreeChange) txnItem {
	return txnItem{kind: itemTree, flag: tc.Removed, dir: tc.Dir, name: tc.Name, inode: tc.Child}
}

func (it *txnItem) tree() TreeChange {
	return TreeChange{Dir: it.dir, Name: it.name, Child: it.inode, Removed: it.flag}
}

// Begin starts a transaction. End must be called exactly once.
func (v *VFS) Begin() *Txn {
	v.mu.Lock()
	return &Txn{v: v, now: v.now()}
}

// VFS returns the namespace.
func (t *Txn) VFS() *VFS { return t.v }

// Now is the time the transaction started; every timestamp it sets uses it.
func (t *Txn) Now() time.Time { return t.now }

// Defer queues fn to run after the lock is released, in order with the
// transaction's events. fn may start new transactions.
func (t *Txn) Defer(fn func()) {
	t.q = append(t.q, txnItem{kind: itemFunc, fn: fn})
}

// Reserve makes room in the transaction's queue for n more items, for a
// caller about to make many changes at once (a kernfs batch removal queues
// two per node: the tree change and the eviction): one allocation instead
// of the repeated growth and copying of a long queue.
func (t *Txn) Reserve(n int) {
	if n > cap(t.q)-len(t.q) {
		q := make([]txnItem, len(t.q), len(t.q)+n)
		copy(q, t.q)
		t.q = q
	}
}

// Notify queues an inotify-style event.
func (t *Txn) Notify(ev Event) {
	t.q = append(t.q, eventItem(ev))
}

// End releases the lock and runs what the transaction queued. Work queued by
// that work (through new transactions) runs in those transactions.
func (t *Txn) End() {
	for _, dir := range t.tidy {
		dir.children.queued = false
		dir.children.tidy()
	}
	t.tidy = nil
	q := t.q
	t.q = nil
	t.v.mu.Unlock()
	if len(q) == 0 {
		return
	}
	notifiers, trees := t.v.watchers()
	for i := range q {
		it := &q[i]
		switch it.kind {
		case itemEvent:
			for _, n := range notifiers {
				n.Notify(it.event())
			}
		case itemTree:
			for _, w := range trees {
				w.TreeChanged(it.tree())
			}
		case itemRemoved:
			for _, n := range notifiers {
				n.InodeRemoved(it.inode)
			}
		case itemUnmount:
			for _, n := range notifiers {
				n.Unmounted(it.inode)
			}
		case itemEvict:
			it.inode.sb.ops.EvictInode(it.inode)
		case itemFunc:
			it.fn()
		}
	}
}

// maybeDestroy queues the destruction of in if nothing references it and it
// has no links left (or was detached by its file system). Watchers hear
// InodeRemoved only for inodes whose link count reached zero (before the
// eviction, if no entry reported it earlier): a kernfs node keeps nlink 1
// to the end, so inotify never reports its deletion.
func (t *Txn) maybeDestroy(in *Inode) {
	if in.refs != 0 || in.destroyed.Load() || (in.nlink != 0 && !in.orphan) {
		return
	}
	in.destroyed.Store(true)
	t.markRemoved(in)
	t.q = append(t.q, txnItem{kind: itemEvict, inode: in})
}

// markRemoved queues InodeRemoved (fsnotify_inoderemove) once, for an
// inode without links.
func (t *Txn) markRemoved(in *Inode) {
	if in.nlink != 0 || in.removed.Load() {
		return
	}
	in.removed.Store(true)
	t.q = append(t.q, txnItem{kind: itemRemoved, inode: in})
}

// entryGone is dentry_unlink_inode for an entry that was unlinked and is no
// longer held: the inode is reported removed if that was its last link,
// unless a holder the VFS cannot place (a file opened by inode) remains.
func (t *Txn) entryGone(d *dirent) {
	if in := d.inode; in.anon == 0 {
		t.markRemoved(in)
	}
}

// holdEntry takes the references an open file or a working directory
// holds: one on the inode, one on the entry it came through (d; nil if
// unknown).
func (t *Txn) holdEntry(d *dirent, in *Inode) {
	in.refs++
	if d != nil {
		d.holds++
	} else {
		in.anon++
	}
}

// releaseEntry drops what holdEntry took: an unlinked entry that loses its
// last holder reports the inode removed if it has no links (the dput that
// kills the dentry), then the inode reference goes.
func (t *Txn) releaseEntry(d *dirent, in *Inode) {
	if d != nil {
		d.holds--
		if d.holds == 0 && !d.dir.children.has(d) {
			t.entryGone(d)
		}
	} else {
		in.anon--
		if in.anon == 0 {
			t.markRemoved(in)
		}
	}
	t.Put(in)
}

// NewInode creates an inode in sb with nlink 1 (0 links from directories
// yet; [Txn.AddChild] does not add a link, so the count matches Linux's
// new_inode + d_instantiate). Directories start with nlink 2.
func (t *Txn) NewInode(sb *Superblock, a InodeAttr) *Inode {
	in := sb.newInode(a, t.now)
	if in.IsDir() {
		in.nlink = 2
	}
	return in
}

// AddChild links a new entry name in dir to child. It does not change
// nlinks (a fresh inode already counts the link it is created with, see
// [Txn.NewInode]; use [Txn.IncLink] for hard links). A directory child gets
// dir as its parent and raises dir's nlink.
func (t *Txn) AddChild(dir *Inode, name string, child *Inode) {
	dir.sb.seq++
	d := &dirent{inode: child, seq: dir.sb.seq, name: name, dir: dir}
	dir.children.add(d)
	child.entry = d
	if child.IsDir() {
		child.parent = dir
		dir.nlink++
	}
	dir.touchCMtime(t.now)
	t.q = append(t.q, treeItem(TreeChange{Dir: dir, Name: name, Child: child}))
}

// RemoveChild unlinks name from dir as simple_unlink/simple_rmdir do: the
// child loses the link (a directory loses both of its own, and dir loses the
// child's ".."), and it is destroyed if nothing references it. It returns
// the child, or nil if there was no such entry.
func (t *Txn) RemoveChild(dir *Inode, name string) *Inode {
	d := dir.children.get(name)
	if d == nil {
		return nil
	}
	child := d.inode
	t.dropEntry(dir, d)
	if child.IsDir() {
		child.nlink = 0
		if dir.nlink > 2 {
			dir.nlink--
		}
	} else if child.nlink > 0 {
		child.nlink--
	}
	child.ctime = t.now
	dir.touchCMtime(t.now)
	t.q = append(t.q, treeItem(TreeChange{Dir: dir, Name: name, Child: child, Removed: true}))
	if d.holds == 0 {
		t.entryGone(d)
	}
	t.maybeDestroy(child)
	return child
}

// DetachChild removes name from dir without touching the child's link
// count, as kernfs removal does: open files keep seeing nlink 1, no inotify
// event is generated (tree watchers hear it), and the inode is destroyed
// once its last reference goes. A detached directory keeps its children:
// the file system detaches each descendant it removes itself.
func (t *Txn) DetachChild(dir *Inode, name string) *Inode {
	d := dir.children.get(name)
	if d == nil {
		return nil
	}
	return t.detach(dir, d)
}

// DetachInode is DetachChild for an entry name in dir known to name child:
// when it is the entry child was last linked with, as a kernfs node's
// only entry is, it is found without a name lookup, which is what makes
// removing many entries of a large directory cheap.
func (t *Txn) DetachInode(dir *Inode, name string, child *Inode) *Inode {
	d := child.entry
	if d == nil || d.dir != dir || d.name != name || !dir.children.has(d) {
		if d = dir.children.get(name); d == nil {
			return nil
		}
	}
	return t.detach(dir, d)
}

func (t *Txn) detach(dir *Inode, d *dirent) *Inode {
	child := d.inode
	t.dropEntry(dir, d)
	if child.IsDir() && dir.nlink > 2 {
		dir.nlink--
	}
	t.q = append(t.q, treeItem(TreeChange{Dir: dir, Name: d.name, Child: child, Removed: true}))
	child.orphan = true
	t.maybeDestroy(child)
	return child
}

// IncLink adds a hard link to in (inc_nlink).
func (t *Txn) IncLink(in *Inode) {
	in.nlink++
	in.ctime = t.now
}

// Child returns the inode named name in dir, or nil.
func (t *Txn) Child(dir *Inode, name string) *Inode {
	if d := dir.children.get(name); d != nil {
		return d.inode
	}
	return nil
}

// dropEntry takes d out of dir's table and, if that leaves the table
// sparse, has End tidy it.
func (t *Txn) dropEntry(dir *Inode, d *dirent) {
	dir.children.remove(d)
	if !dir.children.queued && dir.children.sparse() {
		dir.children.queued = true
		t.tidy = append(t.tidy, dir)
	}
}

// SetMode sets the permission bits of in.
func (t *Txn) SetMode(in *Inode, perm uint32) {
	in.mode = in.mode&S_IFMT | perm&S_IALLUGO
	in.ctime = t.now
}

// SetPrivate replaces the file system's private value.
func (t *Txn) SetPrivate(in *Inode, p any) { in.private = p }
