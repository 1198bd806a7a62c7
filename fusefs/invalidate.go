package fusefs

import (
	"sync"
	"syscall"
	"time"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// invalidator tells the kernel about changes of the simulated tree. The
// vfs calls its watcher synchronously, after releasing its lock, in the
// goroutine that made the change — often a FUSE request handler, and the
// kernel holds the directory's lock while that request is pending. A
// notification about that directory would wait for the lock, which waits
// for the handler: a deadlock. So the watcher only queues, and one worker
// goroutine sends; nothing waits for the worker except Settle and stop,
// which must not be called from a handler.
type invalidator struct {
	s *Server

	mu     sync.Mutex
	cond   sync.Cond
	q      []invalItem
	queued uint64 // items ever queued
	sent   uint64 // items ever processed
	closed bool

	unwatch  []func()
	finished chan struct{}
}

type invalKind uint8

const (
	invalEntry   invalKind = iota // dir/name changed (TreeChange)
	invalAttr                     // attributes of child changed (an event)
	invalUnmount                  // child's superblock was unmounted in the vfs
)

type invalItem struct {
	kind    invalKind
	dir     *vfs.Inode
	name    string
	child   *vfs.Inode
	removed bool
}

func (inv *invalidator) start(s *Server) {
	inv.s = s
	inv.cond.L = &inv.mu
	inv.finished = make(chan struct{})
	w := watcher{inv}
	inv.unwatch = append(inv.unwatch, s.v.AddTreeWatcher(w), s.v.AddNotifier(w))
	go inv.run()
}

// stop unregisters the watcher and ends the worker once the queue is
// empty.
func (inv *invalidator) stop() {
	for _, f := range inv.unwatch {
		f()
	}
	inv.mu.Lock()
	inv.closed = true
	inv.cond.Broadcast()
	inv.mu.Unlock()
	<-inv.finished
}

func (inv *invalidator) push(it invalItem) {
	inv.mu.Lock()
	if !inv.closed {
		inv.q = append(inv.q, it)
		inv.queued++
		inv.cond.Broadcast()
	}
	inv.mu.Unlock()
}

func (inv *invalidator) settle() {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	target := inv.queued
	for inv.sent < target && !inv.closed {
		inv.cond.Wait()
	}
}

func (inv *invalidator) run() {
	defer close(inv.finished)
	for {
		inv.mu.Lock()
		for len(inv.q) == 0 && !inv.closed {
			inv.cond.Wait()
		}
		batch := inv.q
		inv.q = nil
		if len(batch) == 0 {
			inv.mu.Unlock()
			return
		}
		inv.mu.Unlock()
		inv.process(batch)
		inv.mu.Lock()
		inv.sent += uint64(len(batch))
		inv.cond.Broadcast()
		inv.mu.Unlock()
	}
}

// process sends what a batch of changes needs. The go-fuse tree of a node
// records the names the kernel has looked up in it: go-fuse adds an entry
// before it answers a LOOKUP (or a create) and drops it when the kernel
// drops the dentry (unlink, rmdir, rename, forget). A name that maps to
// the very node an addition installed is already right in the kernel and
// is skipped. Everything else is announced, even a name the tree does not
// have: a LOOKUP that read the simulator before the change may still be on
// its way, and go-fuse adds its entry only after this check. The kernel
// holds the directory's lock during that LOOKUP and a notification takes
// it, so announcing after the check always lands after the stale reply.
// A removal gets NOTIFY_DELETE when the kernel's node is known (it also
// tells inotify watchers on the mount), otherwise NOTIFY_INVAL_ENTRY.
func (inv *invalidator) process(batch []invalItem) {
	s := inv.s
	attrs := make(map[*node]struct{})
	for _, it := range batch {
		switch it.kind {
		case invalAttr:
			if n := s.lookupNode(it.child); n != nil {
				attrs[n] = struct{}{}
			}
		case invalUnmount:
			if n := s.lookupNode(it.child); n != nil {
				if name, parent := n.Parent(); parent != nil {
					inv.check(parent.NotifyEntry(name))
				}
			}
		case invalEntry:
			dn, cn := s.lookupNode(it.dir), s.lookupNode(it.child)
			if s.attrTimeout > 0 {
				// The directory's nlink and mtime, the child's nlink
				// and ctime.
				if dn != nil {
					attrs[dn] = struct{}{}
				}
				if cn != nil {
					attrs[cn] = struct{}{}
				}
			}
			if dn == nil {
				continue // the kernel has never seen the directory
			}
			cur := dn.GetChild(it.name)
			mine := cn != nil && cur == cn.EmbeddedInode()
			switch {
			case !it.removed && mine:
				continue
			case it.removed && mine:
				// ENOTEMPTY: a directory whose children the kernel
				// still caches; NOTIFY_INVAL_ENTRY drops the subtree.
				if errno := dn.NotifyDelete(it.name, cur); errno != 0 && errno != syscall.ENOENT {
					inv.check(dn.NotifyEntry(it.name))
				}
				// Keep go-fuse's tree in step (it only hears of removals
				// the kernel asks for). Should a LOOKUP re-add the name in
				// between, the entry goes missing from the tree, which
				// costs at most a needless notification later.
				if dn.GetChild(it.name) == cur {
					dn.RmChild(it.name)
				}
			default:
				inv.check(dn.NotifyEntry(it.name))
			}
		}
	}
	for n := range attrs {
		// Offset -1: attributes only (direct-I/O files have no pages).
		errno := n.NotifyContent(-1, 0)
		if errno == syscall.ENOENT && time.Since(time.Unix(0, n.born.Load())) < freshNode {
			// The kernel does not know the inode yet: the reply that
			// introduces it, with attributes read before this change,
			// may still be on its way, and the kernel would cache them
			// for the whole timeout. Try again once it has landed.
			time.AfterFunc(freshRetry, func() { inv.push(invalItem{kind: invalAttr, child: n.in}) })
			continue
		}
		inv.check(errno)
	}
}

// A node is fresh for freshNode after it was made; attribute
// invalidations the kernel cannot apply yet are retried every freshRetry
// meanwhile.
const (
	freshNode  = 100 * time.Millisecond
	freshRetry = time.Millisecond
)

// check logs a refused notification. ENOENT (the kernel no longer has the
// entry or inode) is normal, and so are the errors of a connection that
// is going away.
func (inv *invalidator) check(errno syscall.Errno) {
	switch errno {
	case 0, syscall.ENOENT, syscall.ENOTCONN, syscall.ENODEV, syscall.EBADF, syscall.ENOSYS:
		return
	}
	if inv.s.opts.Debug {
		inv.s.log.Printf("fusefs: %s: notification refused: %v", inv.s.dir, errno)
	}
}

// watcher receives the vfs callbacks. It never blocks.
type watcher struct{ inv *invalidator }

var (
	_ vfs.TreeWatcher = watcher{}
	_ vfs.Notifier    = watcher{}
)

func (w watcher) mine(in *vfs.Inode) bool { return in != nil && in.Superblock() == w.inv.s.sb }

// TreeChanged queues a change of a directory's entries, including the
// removals a file system makes on its own (kernfs) that no event reports.
func (w watcher) TreeChanged(c vfs.TreeChange) {
	if w.mine(c.Dir) {
		w.inv.push(invalItem{kind: invalEntry, dir: c.Dir, name: c.Name, child: c.Child, removed: c.Removed})
	}
}

// attrEvents change an inode's attributes; open and close do not.
const attrEvents = unix.IN_ATTRIB | unix.IN_MODIFY | unix.IN_CREATE | unix.IN_DELETE |
	unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF

// Notify queues the attribute invalidation of the inodes an event is
// about, when the kernel caches attributes at all.
func (w watcher) Notify(ev vfs.Event) {
	if ev.Mask&attrEvents == 0 || w.inv.s.attrTimeout == 0 {
		return
	}
	if w.mine(ev.Inode) {
		w.inv.push(invalItem{kind: invalAttr, child: ev.Inode})
	}
	if w.mine(ev.Dir) {
		w.inv.push(invalItem{kind: invalAttr, child: ev.Dir})
	}
}

// InodeRemoved needs nothing: the entries that led to the inode are gone
// already (and were invalidated then).
func (w watcher) InodeRemoved(in *vfs.Inode) {}

// Unmounted: unmounting a superblock in the vfs drops its entries without
// tree changes.
func (w watcher) Unmounted(in *vfs.Inode) {
	if w.mine(in) {
		w.inv.push(invalItem{kind: invalUnmount, child: in})
	}
}
