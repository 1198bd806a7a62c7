package fsnotify

import (
	"sync"
	"sync/atomic"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// Event bits beyond inotify's IN_* (which fsnotify shares).
const (
	// EventOnChild (FS_EVENT_ON_CHILD) in a mark's mask says that the mark,
	// on a directory, wants the events of the directory's children; in a
	// delivered event it says the event is about a child named Event.Name.
	EventOnChild uint32 = 0x08000000

	// AllEvents are the event bits a mark's mask may select.
	AllEvents uint32 = unix.IN_ALL_EVENTS | unix.IN_UNMOUNT

	// eventsOnChild are the events children report to their directory
	// (FS_EVENTS_POSS_ON_CHILD).
	eventsOnChild = unix.IN_ACCESS | unix.IN_MODIFY | unix.IN_ATTRIB |
		unix.IN_CLOSE_WRITE | unix.IN_CLOSE_NOWRITE | unix.IN_OPEN
)

// Reason says why a mark was destroyed.
type Reason uint8

const (
	// ReasonInodeRemoved: the inode lost its last link and reference
	// (fsnotify_inoderemove).
	ReasonInodeRemoved Reason = iota + 1
	// ReasonUnmounted: the inode's superblock was unmounted.
	ReasonUnmounted
	// ReasonDestroyed: Group.DestroyMark removed the mark.
	ReasonDestroyed
	// ReasonGroupClosed: the mark's group closed.
	ReasonGroupClosed
)

func (r Reason) String() string {
	switch r {
	case ReasonInodeRemoved:
		return "inode removed"
	case ReasonUnmounted:
		return "unmounted"
	case ReasonDestroyed:
		return "destroyed"
	case ReasonGroupClosed:
		return "group closed"
	}
	return "unknown"
}

// Event is one event as a mark receives it.
type Event struct {
	// Mask holds the IN_* bit of the event, IN_ISDIR when it is about a
	// directory, and EventOnChild when it reaches a directory's mark about
	// the child named Name.
	Mask uint32
	// Inode is what the event is about: the inode itself, or the entry's
	// inode for an event about a directory entry.
	Inode *vfs.Inode
	// Dir is the directory of an event about an entry or a child.
	Dir *vfs.Inode
	// Name is the entry or child's name when the event reaches a mark on
	// Dir; empty when it reaches a mark on Inode.
	Name string
	// Cookie pairs IN_MOVED_FROM with IN_MOVED_TO.
	Cookie uint32
}

// GroupOps are a group's callbacks (Linux's fsnotify_ops); nil fields do
// nothing.
type GroupOps struct {
	// HandleEvent receives an event for one mark of the group whose mask
	// selects it. It runs with the registry lock held (read side): it must
	// not block for long, call into this package or start VFS
	// transactions.
	HandleEvent func(m *Mark, ev Event)
	// FreeingMark runs once for every mark of the group when it is
	// destroyed, before the mark's own Freeing, with no lock of this
	// package held.
	FreeingMark func(m *Mark, why Reason)
}

// Mark joins a group to an inode. Mask, Freeing and Private are set before
// AddInodeMark and not changed afterwards (use SetMask for the mask).
type Mark struct {
	// Mask selects events: IN_* bits, EventOnChild to hear a directory's
	// children, and IN_ONESHOT to destroy the mark after its first event.
	// Zero hears nothing, as the RFC's bpf_watch_inode marks.
	Mask uint32
	// Freeing, if set, runs exactly once when the mark is destroyed, after
	// the group's FreeingMark, with no lock of this package held: the
	// inode was removed or unmounted, or the mark was destroyed or its
	// group closed (why says which).
	Freeing func(m *Mark, why Reason)
	// Private belongs to the mark's owner.
	Private any

	group *Group
	inode *vfs.Inode
	conn  *connector
	state markState
	fired atomic.Bool // IN_ONESHOT: the one event was delivered

	prev, next   *Mark // on the inode's list
	gprev, gnext *Mark // on the group's list
}

type markState uint8

const (
	markNew markState = iota
	markAttached
	markDead
)

// Inode returns the inode the mark was added to (nil before).
func (m *Mark) Inode() *vfs.Inode { return m.inode }

// Group returns the mark's group (nil before it was added).
func (m *Mark) Group() *Group { return m.group }

// Attached reports whether the mark is on its inode: added and not yet
// destroyed.
func (m *Mark) Attached() bool {
	if m.group == nil {
		return false
	}
	r := m.group.r
	r.mu.RLock()
	defer r.mu.RUnlock()
	return m.state == markAttached
}

// SetMask changes the mask of an attached mark (inotify_update_watch).
func (m *Mark) SetMask(mask uint32) {
	if m.group == nil {
		m.Mask = mask
		return
	}
	r := m.group.r
	r.mu.Lock()
	defer r.mu.Unlock()
	m.Mask = mask
	if m.state == markAttached {
		m.conn.recalc()
	}
}

// connector is the list of marks on one inode.
type connector struct {
	head, tail *Mark
	n          int
	mask       uint32 // union of the marks' masks
}

func (c *connector) recalc() {
	c.mask = 0
	for m := c.head; m != nil; m = m.next {
		c.mask |= m.Mask
	}
}

// Registry is the notification state of one VFS: every group, and the
// marks on each inode. It implements vfs.Notifier.
type Registry struct {
	v      *vfs.VFS
	unreg  func()
	nconns atomic.Int64 // inodes with marks: Notify's fast path

	mu     sync.RWMutex
	conns  map[*vfs.Inode]*connector
	groups map[*Group]struct{}
	closed bool
}

var _ vfs.Notifier = (*Registry)(nil)

// New creates the registry of v and registers it as a notifier.
func New(v *vfs.VFS) *Registry {
	r := &Registry{
		v:      v,
		conns:  make(map[*vfs.Inode]*connector),
		groups: make(map[*Group]struct{}),
	}
	r.unreg = v.AddNotifier(r)
	return r
}

// VFS returns the namespace the registry watches.
func (r *Registry) VFS() *vfs.VFS { return r.v }

// Close unregisters r from its VFS and closes every group (their marks are
// destroyed with ReasonGroupClosed).
func (r *Registry) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	groups := make([]*Group, 0, len(r.groups))
	for g := range r.groups {
		groups = append(groups, g)
	}
	r.mu.Unlock()
	r.unreg()
	for _, g := range groups {
		g.Close()
	}
}

// Marks returns the number of marks on in.
func (r *Registry) Marks(in *vfs.Inode) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if c := r.conns[in]; c != nil {
		return c.n
	}
	return 0
}

// Group is a set of marks with common callbacks (fsnotify_group).
type Group struct {
	r          *Registry
	ops        GroupOps
	head, tail *Mark
	n          int
	closed     bool
}

// NewGroup creates a group (fsnotify_alloc_group).
func (r *Registry) NewGroup(ops GroupOps) *Group {
	g := &Group{r: r, ops: ops}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		g.closed = true
		return g
	}
	r.groups[g] = struct{}{}
	return g
}

// Registry returns the group's registry.
func (g *Group) Registry() *Registry { return g.r }

// Len returns the number of the group's attached marks.
func (g *Group) Len() int {
	g.r.mu.RLock()
	defer g.r.mu.RUnlock()
	return g.n
}

// AddInodeMark attaches m to in (fsnotify_add_inode_mark). Without
// allowDups a second mark of the group on the same inode is EEXIST. An
// inode that was removed (vfs.Inode.Removed) or destroyed is ENOENT; a mark that was added before (even if since
// destroyed) or a closed group is EINVAL. It does not take the VFS lock.
func (g *Group) AddInodeMark(in *vfs.Inode, m *Mark, allowDups bool) error {
	r := g.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.group != nil || g.closed {
		return unix.EINVAL
	}
	// Checked under r.mu: the VFS marks an inode removed before it calls
	// InodeRemoved, which waits for r.mu, so either we see it removed or
	// InodeRemoved sees our mark. (Linux would attach a mark to an inode
	// whose last dentry is gone, and nothing would destroy it.) A
	// destroyed inode that was never removed is a kernfs-style orphan.
	if in.Removed() || in.Destroyed() {
		return unix.ENOENT
	}
	c := r.conns[in]
	if c == nil {
		c = &connector{}
		r.conns[in] = c
		r.nconns.Add(1)
	} else if !allowDups {
		for x := c.head; x != nil; x = x.next {
			if x.group == g {
				return unix.EEXIST
			}
		}
	}
	m.group, m.inode, m.conn, m.state = g, in, c, markAttached
	m.prev, m.next = c.tail, nil
	if c.tail != nil {
		c.tail.next = m
	} else {
		c.head = m
	}
	c.tail = m
	c.n++
	c.mask |= m.Mask
	m.gprev, m.gnext = g.tail, nil
	if g.tail != nil {
		g.tail.gnext = m
	} else {
		g.head = m
	}
	g.tail = m
	g.n++
	return nil
}

// FindMark returns the first attached mark of g on in, or nil
// (fsnotify_find_mark).
func (g *Group) FindMark(in *vfs.Inode) *Mark {
	r := g.r
	r.mu.RLock()
	defer r.mu.RUnlock()
	if c := r.conns[in]; c != nil {
		for m := c.head; m != nil; m = m.next {
			if m.group == g {
				return m
			}
		}
	}
	return nil
}

// DestroyMark destroys m (fsnotify_destroy_mark): it is detached and its
// callbacks run, with ReasonDestroyed, before DestroyMark returns. It
// reports false if m was not attached — never added, or already destroyed
// (its callbacks ran, or are running in the goroutine that destroyed it).
func (g *Group) DestroyMark(m *Mark) bool {
	r := g.r
	r.mu.Lock()
	if m.group != g || m.state != markAttached {
		r.mu.Unlock()
		return false
	}
	r.detach(m)
	r.mu.Unlock()
	freeMarks([]*Mark{m}, ReasonDestroyed)
	return true
}

// Close destroys every mark of the group with ReasonGroupClosed
// (fsnotify_destroy_group); marks added afterwards are refused.
func (g *Group) Close() {
	r := g.r
	r.mu.Lock()
	g.closed = true
	delete(r.groups, g)
	marks := make([]*Mark, 0, g.n)
	for m := g.head; m != nil; m = m.gnext {
		marks = append(marks, m)
	}
	for _, m := range marks {
		r.detach(m)
	}
	r.mu.Unlock()
	freeMarks(marks, ReasonGroupClosed)
}

// detach removes an attached mark from its inode's and its group's lists.
// r.mu is held.
func (r *Registry) detach(m *Mark) {
	c := m.conn
	if m.prev != nil {
		m.prev.next = m.next
	} else {
		c.head = m.next
	}
	if m.next != nil {
		m.next.prev = m.prev
	} else {
		c.tail = m.prev
	}
	m.prev, m.next = nil, nil
	c.n--
	if c.n == 0 {
		delete(r.conns, m.inode)
		r.nconns.Add(-1)
		c.mask = 0
	} else if m.Mask != 0 {
		c.recalc()
	}
	g := m.group
	if m.gprev != nil {
		m.gprev.gnext = m.gnext
	} else {
		g.head = m.gnext
	}
	if m.gnext != nil {
		m.gnext.gprev = m.gprev
	} else {
		g.tail = m.gprev
	}
	m.gprev, m.gnext = nil, nil
	g.n--
	m.state = markDead
}

// freeMarks runs the destruction callbacks of detached marks, with no lock
// held (fsnotify_free_mark → freeing_mark).
func freeMarks(marks []*Mark, why Reason) {
	for _, m := range marks {
		if f := m.group.ops.FreeingMark; f != nil {
			f(m, why)
		}
		if m.Freeing != nil {
			m.Freeing(m, why)
		}
	}
}

// destroyInode sends mask (if not zero) to the marks on in that want it,
// then destroys them all (fsnotify_inoderemove, fsnotify_unmount_inodes).
func (r *Registry) destroyInode(in *vfs.Inode, mask uint32, why Reason) {
	if r.nconns.Load() == 0 {
		return
	}
	r.mu.Lock()
	c := r.conns[in]
	if c == nil {
		r.mu.Unlock()
		return
	}
	if c.mask&mask != 0 {
		ev := Event{Mask: mask, Inode: in}
		if in.IsDir() {
			ev.Mask |= unix.IN_ISDIR
		}
		for m := c.head; m != nil; m = m.next {
			r.send(m, mask, ev)
		}
	}
	delete(r.conns, in)
	r.nconns.Add(-1)
	// One pass over the marks (each is a cache miss when there are many):
	// collect, detach from the inode and from the group.
	marks := make([]*Mark, 0, c.n)
	for m := c.head; m != nil; {
		next := m.next
		marks = append(marks, m)
		m.prev, m.next = nil, nil
		g := m.group
		if m.gprev != nil {
			m.gprev.gnext = m.gnext
		} else {
			g.head = m.gnext
		}
		if m.gnext != nil {
			m.gnext.gprev = m.gprev
		} else {
			g.tail = m.gprev
		}
		m.gprev, m.gnext = nil, nil
		g.n--
		m.state = markDead
		m = next
	}
	c.head, c.tail, c.n, c.mask = nil, nil, 0, 0
	r.mu.Unlock()
	freeMarks(marks, why)
}

// InodeRemoved is fsnotify_inoderemove: IN_DELETE_SELF to the marks that
// want it, then every mark on in is destroyed.
func (r *Registry) InodeRemoved(in *vfs.Inode) {
	r.destroyInode(in, unix.IN_DELETE_SELF, ReasonInodeRemoved)
}

// Unmounted is fsnotify_unmount_inodes for one inode: IN_UNMOUNT, then
// every mark on in is destroyed.
func (r *Registry) Unmounted(in *vfs.Inode) {
	r.destroyInode(in, unix.IN_UNMOUNT, ReasonUnmounted)
}

// Notify delivers a VFS event to the marks that want it (fsnotify and
// fsnotify_parent).
func (r *Registry) Notify(ev vfs.Event) {
	if r.nconns.Load() == 0 || ev.Inode == nil {
		return
	}
	var oneshots []*Mark
	r.mu.RLock()
	if ev.IsDirent() {
		if ev.Dir != nil {
			if c := r.conns[ev.Dir]; c != nil && c.mask&ev.Mask&AllEvents != 0 {
				out := Event{Mask: ev.Mask, Inode: ev.Inode, Dir: ev.Dir, Name: ev.Name, Cookie: ev.Cookie}
				oneshots = r.sendAll(c, ev.Mask, out, false, oneshots)
			}
		}
	} else {
		mask := ev.Mask
		if ev.Inode.IsDir() {
			mask |= unix.IN_ISDIR
		}
		if ev.Dir != nil && mask&eventsOnChild != 0 {
			if c := r.conns[ev.Dir]; c != nil && c.mask&EventOnChild != 0 && c.mask&mask&AllEvents != 0 {
				out := Event{Mask: mask | EventOnChild, Inode: ev.Inode, Dir: ev.Dir, Name: ev.Name, Cookie: ev.Cookie}
				oneshots = r.sendAll(c, mask, out, ev.Unlinked, oneshots)
			}
		}
		if c := r.conns[ev.Inode]; c != nil && c.mask&mask&AllEvents != 0 {
			out := Event{Mask: mask, Inode: ev.Inode, Dir: ev.Dir, Cookie: ev.Cookie}
			oneshots = r.sendAll(c, mask, out, ev.Unlinked, oneshots)
		}
	}
	r.mu.RUnlock()
	for _, m := range oneshots {
		m.group.DestroyMark(m)
	}
}

// sendAll sends ev to every mark of c that wants it; onChild marks must
// also watch children. It returns the IN_ONESHOT marks that fired.
func (r *Registry) sendAll(c *connector, mask uint32, ev Event, unlinked bool, oneshots []*Mark) []*Mark {
	onChild := ev.Mask&EventOnChild != 0
	for m := c.head; m != nil; m = m.next {
		if onChild && m.Mask&EventOnChild == 0 {
			continue
		}
		if unlinked && m.Mask&unix.IN_EXCL_UNLINK != 0 {
			continue
		}
		if r.send(m, mask, ev) && m.Mask&unix.IN_ONESHOT != 0 {
			oneshots = append(oneshots, m)
		}
	}
	return oneshots
}

// send hands ev to m if its mask selects mask's event bits; it reports
// whether it did. r.mu is held.
func (r *Registry) send(m *Mark, mask uint32, ev Event) bool {
	if m.Mask&mask&AllEvents == 0 {
		return false
	}
	if m.Mask&unix.IN_ONESHOT != 0 && !m.fired.CompareAndSwap(false, true) {
		return false
	}
	if h := m.group.ops.HandleEvent; h != nil {
		h(m, ev)
	}
	return true
}
