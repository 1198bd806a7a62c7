package kernfs

import (
	"math"
	"strings"
	"sync/atomic"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// deactivatedBias is KN_DEACTIVATED_BIAS: added to a node's active count
// when it is deactivated, so that new active references fail while the
// ones in flight can still be counted down.
const deactivatedBias = math.MinInt32

type nodeFlags uint16

const (
	flagDir       nodeFlags = 1 << iota
	flagActivated           // KERNFS_ACTIVATED: kernfs_activate has seen it
	flagRemoving            // KERNFS_REMOVING
	flagHidden              // KERNFS_HIDDEN (kernfs_show(kn, false))
	flagLinked              // in its parent's children (rbtree); cleared at unlink
	flagInVFS               // its current VFS inode is linked in the parent's VFS directory
	flagXattrs              // it has an entry in Root.xattrs
)

// Suicide flags, guarded by Root.waitMu.
const (
	suicidal uint8 = 1 << iota // KERNFS_SUICIDAL
	suicided                   // KERNFS_SUICIDED
)

// Attr are the attributes a node is created with.
type Attr struct {
	// Mode holds the permission bits; the file type is set by the call.
	Mode uint32
	UID  uint32
	GID  uint32
	// Size is a file's st_size (cgroup files: 0; sysfs attributes: 4096).
	Size int64
	// Priv is the node's private value (a cgroup directory keeps its
	// cgroup, a cgroup file its cftype).
	Priv any
}

// Node is a kernfs node (struct kernfs_node): a directory or a file. Its
// id is its inode number and is never reused within the root.
type Node struct {
	root   *Root
	parent *Node
	name   string
	hash   uint32
	id     uint64
	mode   uint32 // type and permission bits it was created with
	uid    uint32
	gid    uint32
	size   int64
	priv   any
	ops    *Ops
	inode  *vfs.Inode
	flags  nodeFlags // under Root.mu
	// suicide holds the remove-self flags, under Root.waitMu.
	suicide uint8

	active   atomic.Int32 // active references, biased when deactivated
	count    atomic.Int32 // plain references (kernfs_get/put)
	open     atomic.Pointer[openNode]
	slot     int32       // in its parent's children, under Root.mu; -1 when not linked
	children *childTable // directories: every linked child, active or not; nil for files
}

// newNode is __kernfs_new_node without the parent linkage: the node starts
// deactivated with one plain reference and holds one on its parent. It
// returns nil if the parent was already released (a kernel caller always
// holds a reference on the parent it passes; a Go caller may not). Caller
// holds r.mu (or owns r).
func (r *Root) newNode(parent *Node, name string, mode, uid, gid uint32, priv any) *Node {
	if parent != nil && !parent.tryGet() {
		return nil
	}
	n := &Node{root: r, parent: parent, name: name, hash: NameHash(name), mode: mode, uid: uid, gid: gid, priv: priv, slot: -1}
	if mode&vfs.S_IFMT == vfs.S_IFDIR {
		n.flags |= flagDir
		n.children = &childTable{}
	}
	n.active.Store(deactivatedBias)
	n.count.Store(1)
	n.id = r.allocID(n)
	return n
}

// ID is the node's id (kn->id), also its inode number and, for a cgroup
// directory, the cgroup id.
func (n *Node) ID() uint64 { return n.id }

// Root returns the root the node belongs to.
func (n *Node) Root() *Root { return n.root }

// IsDir reports whether the node is a directory.
//
// It reads the mode, which never changes, not the flags, which removal
// changes under Root.mu while callers of IsDir need not hold it.
func (n *Node) IsDir() bool { return n.mode&vfs.S_IFMT == vfs.S_IFDIR }

// Mode returns the type and permission bits the node was created with
// (kn->mode; chmod changes only the VFS inode's attributes).
func (n *Node) Mode() uint32 { return n.mode }

// UID returns the owner the node was created with (chown changes only the
// VFS inode's attributes).
func (n *Node) UID() uint32 { return n.uid }

// GID returns the group the node was created with.
func (n *Node) GID() uint32 { return n.gid }

// Priv returns the node's private value.
func (n *Node) Priv() any { return n.priv }

// Ops returns a file's operations (nil for directories).
func (n *Node) Ops() *Ops { return n.ops }

// Name returns the node's name ("" for the root node).
func (n *Node) Name() string {
	n.root.mu.RLock()
	defer n.root.mu.RUnlock()
	return n.name
}

// Parent returns the node's parent (nil for the root node).
func (n *Node) Parent() *Node {
	n.root.mu.RLock()
	defer n.root.mu.RUnlock()
	return n.parent
}

// Inode returns the VFS inode that currently shows the node.
func (n *Node) Inode() *vfs.Inode {
	n.root.mu.RLock()
	defer n.root.mu.RUnlock()
	return n.inode
}

// Path returns the node's path from the root node ("/" for the root).
func (n *Node) Path() string {
	n.root.mu.RLock()
	defer n.root.mu.RUnlock()
	return n.pathLocked()
}

func (n *Node) pathLocked() string {
	if n.parent == nil {
		return "/"
	}
	var parts []string
	for p := n; p.parent != nil; p = p.parent {
		parts = append(parts, p.name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// Child returns the active child called name, or nil.
func (n *Node) Child(name string) *Node {
	n.root.mu.RLock()
	defer n.root.mu.RUnlock()
	if c := n.children.get(name); c != nil && c.isActive() {
		return c
	}
	return nil
}

// Children returns a directory's active children in readdir order
// (kernfs_name_hash, then name).
func (n *Node) Children() []*Node {
	n.root.mu.RLock()
	defer n.root.mu.RUnlock()
	out := make([]*Node, 0, n.children.len())
	n.children.each(func(c *Node) {
		if c.isActive() {
			out = append(out, c)
		}
	})
	sortNodes(out)
	return out
}

func sortNodes(ns []*Node) {
	// Insertion sort: directories are small and this keeps the call
	// allocation-free beyond the slice.
	for i := 1; i < len(ns); i++ {
		for j := i; j > 0 && less(ns[j].hash, ns[j].name, ns[j-1].hash, ns[j-1].name); j-- {
			ns[j], ns[j-1] = ns[j-1], ns[j]
		}
	}
}

// Active reports whether the node is active: activated, not hidden and not
// being removed (kernfs_active).
func (n *Node) Active() bool { return n.isActive() }

func (n *Node) isActive() bool { return n.active.Load() >= 0 }

// Removed reports whether removal of the node has started.
func (n *Node) Removed() bool {
	n.root.mu.RLock()
	defer n.root.mu.RUnlock()
	return n.flags&flagRemoving != 0
}

// getActive is kernfs_get_active: atomic_inc_unless_negative.
func (n *Node) getActive() bool {
	for {
		v := n.active.Load()
		if v < 0 {
			return false
		}
		if n.active.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// putActive is kernfs_put_active: the last active reference of a
// deactivated node wakes the removers waiting for it.
func (n *Node) putActive() {
	if n.active.Add(-1) == deactivatedBias {
		n.root.waitMu.Lock()
		n.root.waitq.Broadcast()
		n.root.waitMu.Unlock()
	}
}

// GetActive takes an active reference (kernfs_get_active), as every file
// operation does; false if the node is not active. Removal of the node
// waits until it is dropped with [Node.PutActive], so never hold one while
// removing the node or starting a transaction that does.
func (n *Node) GetActive() bool { return n.getActive() }

// PutActive drops an active reference taken with [Node.GetActive].
func (n *Node) PutActive() { n.putActive() }

// Get takes a plain reference (kernfs_get): it keeps the node's id
// registered but does not keep it active or visible.
func (n *Node) Get() {
	if n.count.Add(1) <= 1 {
		panic("kernfs: Get on a released node")
	}
}

func (n *Node) tryGet() bool {
	for {
		v := n.count.Load()
		if v <= 0 {
			return false
		}
		if n.count.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// Put drops a plain reference (kernfs_put). When the last one goes the
// node's id leaves the root's id map and the node drops its reference on
// its parent.
func (n *Node) Put() {
	for n != nil {
		v := n.count.Add(-1)
		if v > 0 {
			return
		}
		if v < 0 {
			panic("kernfs: Put of a node without references")
		}
		r := n.root
		r.mu.Lock()
		r.release(n)
		parent := n.parent
		r.mu.Unlock()
		n = parent
	}
}

// putLocked is Put for a caller that holds r.mu.
func (r *Root) putLocked(n *Node) {
	for n != nil {
		v := n.count.Add(-1)
		if v > 0 {
			return
		}
		if v < 0 {
			panic("kernfs: Put of a node without references")
		}
		r.release(n)
		n = n.parent
	}
}

// release forgets a node whose last plain reference went: its id and its
// extended attributes (kernfs_put freeing kn->iattr). Caller holds r.mu.
func (r *Root) release(n *Node) {
	r.ids.remove(uint32(n.id), n)
	if n.flags&flagXattrs != 0 {
		delete(r.xattrs, n)
		n.flags &^= flagXattrs
	}
}

// CreateDir creates a directory in parent (kernfs_create_dir_ns). It is
// activated at once unless the root has CreateDeactivated. t is the
// caller's transaction, or nil to run one.
func (r *Root) CreateDir(t *vfs.Txn, parent *Node, name string, a Attr) (*Node, error) {
	return r.create(t, parent, name, vfs.S_IFDIR|a.Mode&vfs.S_IALLUGO, a, nil)
}

// CreateFile creates a file with ops in parent (__kernfs_create_file). It
// is activated at once unless the root has CreateDeactivated.
func (r *Root) CreateFile(t *vfs.Txn, parent *Node, name string, a Attr, ops *Ops) (*Node, error) {
	if ops == nil {
		ops = &Ops{}
	}
	return r.create(t, parent, name, vfs.S_IFREG|a.Mode&vfs.S_IALLUGO, a, ops)
}

func (r *Root) create(t *vfs.Txn, parent *Node, name string, mode uint32, a Attr, ops *Ops) (n *Node, err error) {
	if parent == nil || parent.root != r {
		return nil, unix.EINVAL
	}
	if !parent.IsDir() {
		return nil, unix.ENOTDIR
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	err = r.txn(t, func(t *vfs.Txn) error {
		r.mu.Lock()
		// The id is taken before the name is checked, as in the kernel: a
		// failed creation uses up an id.
		n = r.newNode(parent, name, mode, a.UID, a.GID, a.Priv)
		if n == nil {
			r.mu.Unlock()
			return unix.ENOENT
		}
		n.size = a.Size
		n.ops = ops
		n.inode = r.newInode(t, n)
		// kernfs_add_one.
		if parent.flags&flagRemoving != 0 || parent.flags&flagLinked == 0 {
			r.mu.Unlock()
			n.Put()
			n = nil
			return unix.ENOENT
		}
		if parent.children.get(name) != nil {
			r.mu.Unlock()
			n.Put()
			n = nil
			return unix.EEXIST
		}
		parent.children.add(n)
		n.flags |= flagLinked
		if r.flags&CreateDeactivated == 0 {
			r.activateLocked(t, n)
		}
		r.mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// newInode creates a VFS inode showing n. Caller holds r.mu inside t.
func (r *Root) newInode(t *vfs.Txn, n *Node) *vfs.Inode {
	a := vfs.InodeAttr{Ino: n.id, Mode: n.mode, UID: n.uid, GID: n.gid, Size: n.size, Private: n}
	if n.IsDir() {
		a.DirOps = dirOps{}
	} else {
		a.FileOps = n
	}
	return t.NewInode(r.sb, a)
}

// Activate makes n and every node below it that is not hidden or being
// removed active and visible at once (kernfs_activate).
func (r *Root) Activate(t *vfs.Txn, n *Node) {
	_ = r.txn(t, func(t *vfs.Txn) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.activateLocked(t, n)
		return nil
	})
}

func (r *Root) activateLocked(t *vfs.Txn, n *Node) {
	walkPost(n, func(pos *Node) { r.activateOne(t, pos) })
}

// activateOne is kernfs_activate_one plus linking the node's VFS inode into
// its parent's VFS directory.
func (r *Root) activateOne(t *vfs.Txn, n *Node) {
	n.flags |= flagActivated
	if n.isActive() || n.flags&(flagHidden|flagRemoving) != 0 || n.flags&flagLinked == 0 {
		return
	}
	n.active.Add(deactivatedBias) // adding INT_MIN again removes the bias (two's complement)
	if n.parent != nil && n.flags&flagInVFS == 0 {
		t.AddChild(n.parent.inode, n.name, n.inode)
		n.flags |= flagInVFS
	}
}

// walkPost visits n's subtree in post-order (kernfs_next_descendant_post).
// Caller holds r.mu.
func walkPost(n *Node, fn func(*Node)) {
	n.children.each(func(c *Node) { walkPost(c, fn) })
	fn(n)
}

// deactivate takes n out of service: new active references fail, lookups
// and readdir stop showing it. Caller holds r.mu inside t.
func (r *Root) deactivate(t *vfs.Txn, n *Node) {
	if n.isActive() {
		n.active.Add(deactivatedBias)
	}
	if n.flags&flagInVFS != 0 {
		t.DetachInode(n.parent.inode, n.name, n.inode)
		n.flags &^= flagInVFS
	}
}

// Remove removes n and everything below it (kernfs_remove): the whole
// subtree is deactivated and disappears from lookups and readdir at once;
// then, once the transaction's lock is released, each node waits for the
// operations in flight on it to finish (drain), still-open files get their
// Release call, and the nodes leave the tree. Open files then see ENODEV.
//
// With a nil t, Remove runs its own transaction and returns after the
// drain. With a caller's t, the drain runs in t.End. Either way the caller
// must not hold an active reference on a node of the subtree (use
// [OpenFile.RemoveSelf] from a file's own write handler). Removing a node
// that is already gone does nothing; a second remover racing with the
// first also waits for the drain.
func (r *Root) Remove(t *vfs.Txn, n *Node) {
	if n == nil {
		return
	}
	_ = r.txn(t, func(t *vfs.Txn) error {
		r.mu.Lock()
		r.batch = true
		nodes := r.removeLocked(t, n, nil)
		r.batch = false
		r.tidyLocked()
		r.mu.Unlock()
		if len(nodes) > 0 {
			t.Defer(func() { r.drainAndUnlink(nodes) })
		}
		return nil
	})
}

// RemoveNodes removes every node of ns as [Root.Remove] does, in one
// transaction: all of them disappear in the same step, and the drain of
// those with operations in flight or open files runs once for the whole
// batch. It is the batch form for callers that remove many unrelated
// nodes at once (the RFC's exposures of one unpinned bpffs inode). With
// put, it also drops one plain reference on each node of ns — one the
// caller holds — once that node is removed (a node already removed just
// loses it): Remove followed by Put, without a second pass over the
// batch. nil entries are skipped. t is the caller's transaction or nil,
// as for Remove.
func (r *Root) RemoveNodes(t *vfs.Txn, ns []*Node, put bool) {
	if len(ns) == 0 {
		return
	}
	_ = r.txn(t, func(t *vfs.Txn) error {
		// Each removed node queues a tree change and, its VFS inode
		// unreferenced, an eviction.
		t.Reserve(2*len(ns) + 1)
		var nodes, later []*Node
		r.mu.Lock()
		r.batch = true
		for i, n := range ns {
			if i%warmChunk == 0 {
				r.warm(ns[i:min(i+warmChunk, len(ns))])
			}
			if n == nil {
				continue
			}
			k := len(nodes)
			nodes = r.removeLocked(t, n, nodes)
			if !put {
				continue
			}
			if len(nodes) > k && nodes[len(nodes)-1] == n {
				later = append(later, n) // drained below: put after
			} else {
				r.putLocked(n) // removed at once, or already gone
			}
		}
		r.batch = false
		r.tidyLocked()
		r.mu.Unlock()
		if len(nodes) > 0 || len(later) > 0 {
			t.Defer(func() {
				r.drainAndUnlink(nodes)
				for _, n := range later {
					n.Put()
				}
			})
		}
		return nil
	})
}

// warmChunk is how many nodes of a batch [Root.warm] runs ahead: enough
// for many cache misses in flight, few enough that what it brings in is
// still cached when the nodes are removed.
const warmChunk = 256

// warm reads, in a tight loop, what removing the nodes of ns will touch
// at scattered places — each parent node, its child table's slot, its
// VFS inode (whose inode number sits next to the directory's table) — so
// that the cache misses of different nodes overlap instead of coming one
// after another inside the removal of each. With one exposure in each of
// 10k cgroups this cuts an unpin's time by some 40%. Caller
// holds r.mu.
func (r *Root) warm(ns []*Node) {
	var x uint64
	for _, n := range ns {
		if n == nil {
			continue
		}
		if p := n.parent; p != nil {
			if s := p.children.slots; uint(n.slot) < uint(len(s)) && s[n.slot] != nil { // p is a directory
				x++
			}
			x += p.inode.Ino()
		}
	}
	r.warmSink = x // keeps the loads
}

// removeLocked is the locked half of __kernfs_remove: it marks n's subtree
// removing and deactivates it (top first, so that the subtree vanishes in
// one step for anyone watching the tree). Nodes with nothing to drain — no
// operation in flight, never opened — leave the tree at once, in
// post-order, up to the first that has something; that one and the rest
// of the subtree get a reference each, held until they are drained, and
// are appended to nodes (post-order) for [Root.drainAndUnlink] to finish
// once the transaction's lock is released. A node that is not linked
// (already removed) or the root adds nothing. Caller holds r.mu inside t.
func (r *Root) removeLocked(t *vfs.Txn, n *Node, nodes []*Node) []*Node {
	if n.flags&flagLinked == 0 || n == r.node {
		return nodes
	}
	start := len(nodes)
	if n.children.len() == 0 {
		n.flags |= flagRemoving
		nodes = append(nodes, n)
	} else {
		walkPost(n, func(pos *Node) {
			pos.flags |= flagRemoving
			nodes = append(nodes, pos)
		})
	}
	for i := len(nodes) - 1; i >= start; i-- {
		r.deactivate(t, nodes[i])
	}
	// Deactivated, a node takes no new active reference and no new open
	// file, so one that has neither now has nothing to drain.
	i := start
	for ; i < len(nodes); i++ {
		pos := nodes[i]
		if pos.active.Load() != deactivatedBias || pos.open.Load() != nil {
			break
		}
		r.unlinkLocked(pos)
	}
	if i > start {
		nodes = append(nodes[:start], nodes[i:]...)
	}
	for _, pos := range nodes[start:] {
		pos.count.Add(1) // held until drained (kernfs_get(pos))
	}
	return nodes
}

// unlinkLocked takes a removed node out of its parent's children and drops
// its base reference; false if it was unlinked already. A parent table
// left sparse is tidied at once, or in a batch (r.batch) queued for
// tidyLocked at the batch's end. Caller holds r.mu.
func (r *Root) unlinkLocked(pos *Node) bool {
	if pos.flags&flagLinked == 0 {
		return false
	}
	pos.flags &^= flagLinked
	if p := pos.parent; p != nil && p.children.remove(pos) && !p.children.queued && p.children.sparse() {
		if r.batch {
			p.children.queued = true
			r.tidy = append(r.tidy, p)
		} else {
			p.children.tidy()
		}
	}
	r.putLocked(pos) // the base reference
	return true
}

// tidyLocked tidies the child tables a batch queued. Caller holds r.mu.
func (r *Root) tidyLocked() {
	for _, p := range r.tidy {
		p.children.queued = false
		p.children.tidy()
	}
	r.tidy = nil
}

// drainAndUnlink finishes a removal outside the VFS lock, node by node in
// post-order.
func (r *Root) drainAndUnlink(nodes []*Node) {
	for _, pos := range nodes {
		r.drain(pos)
		r.mu.Lock()
		r.unlinkLocked(pos)
		r.putLocked(pos) // the reference removeLocked took
		r.mu.Unlock()
	}
}

// drain is kernfs_drain: wait for the active references in flight, then
// release still-open files.
func (r *Root) drain(n *Node) {
	if n.active.Load() != deactivatedBias {
		r.waitMu.Lock()
		for n.active.Load() != deactivatedBias {
			r.waitq.Wait()
		}
		r.waitMu.Unlock()
	}
	r.drainOpenFiles(n)
}

// Show hides (show == false) or shows again a file (kernfs_show). A hidden
// file is deactivated and drained like a removed one but keeps its place,
// id and open files; showing it makes it active and visible again, and
// files opened before it was hidden work again.
func (r *Root) Show(t *vfs.Txn, n *Node, show bool) {
	if n == nil || n.IsDir() {
		return
	}
	_ = r.txn(t, func(t *vfs.Txn) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if show {
			if n.flags&flagHidden == 0 {
				return nil
			}
			n.flags &^= flagHidden
			if n.flags&flagActivated != 0 && n.flags&flagInVFS == 0 {
				// The old VFS inode was detached (and dies with its
				// last open file); a fresh one with the same inode
				// number takes its place, as an iget would.
				old := n.inode
				n.inode = r.newInode(t, n)
				t.SetMode(n.inode, old.Mode()&vfs.S_IALLUGO)
			}
			r.activateOne(t, n)
			return nil
		}
		if n.flags&flagHidden != 0 {
			return nil
		}
		n.flags |= flagHidden
		r.deactivate(t, n)
		n.count.Add(1)
		t.Defer(func() {
			r.drain(n)
			n.Put()
		})
		return nil
	})
}

// Rename moves n to newName in newParent (kernfs_rename_ns), for roots
// whose SyscallOps.Rename allows it.
func (r *Root) Rename(t *vfs.Txn, n, newParent *Node, newName string) error {
	if err := checkName(newName); err != nil {
		return err
	}
	var old *Node
	err := r.txn(t, func(t *vfs.Txn) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if n.parent == nil || n.flags&flagRemoving != 0 || newParent.flags&flagRemoving != 0 {
			return unix.ENOENT
		}
		if !newParent.IsDir() {
			return unix.ENOTDIR
		}
		if n.parent == newParent && n.name == newName {
			return nil
		}
		if newParent.children.get(newName) != nil {
			return unix.EEXIST
		}
		for p := newParent; p != nil; p = p.parent {
			if p == n {
				return unix.EINVAL
			}
		}
		if n.flags&flagInVFS != 0 {
			if err := vfs.SimpleRename(t, n.parent.inode, n.name, newParent.inode, newName, 0); err != nil {
				return err
			}
		}
		n.parent.children.remove(n)
		if n.parent.children.sparse() {
			n.parent.children.tidy()
		}
		if n.parent != newParent {
			newParent.count.Add(1)
			old = n.parent
			n.parent = newParent
		}
		n.name = newName
		n.hash = NameHash(newName)
		newParent.children.add(n)
		return nil
	})
	if old != nil {
		old.Put()
	}
	return err
}

// Notify is kernfs_notify: pollers of the file see an event, and watchers
// hear IN_MODIFY on the file (with its directory and name, as fsnotify's
// FS_EVENT_ON_CHILD). t is the caller's transaction or nil.
func (r *Root) Notify(t *vfs.Txn, n *Node) {
	if n == nil || n.IsDir() {
		return
	}
	if on := n.open.Load(); on != nil {
		on.event.Add(1)
	}
	_ = r.txn(t, func(t *vfs.Txn) error {
		r.mu.RLock()
		defer r.mu.RUnlock()
		if !n.isActive() || n.parent == nil {
			return nil
		}
		t.Notify(vfs.Event{Mask: unix.IN_MODIFY, Dir: n.parent.inode, Name: n.name, Inode: n.inode})
		return nil
	})
}
