package fsnotify

import (
	"context"
	"sync"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// DefaultMaxQueuedEvents is inotify's default max_queued_events.
const DefaultMaxQueuedEvents = 16384

// InotifyEvent is one event read from an inotify instance (struct
// inotify_event).
type InotifyEvent struct {
	Wd     int32
	Mask   uint32
	Cookie uint32
	Name   string
}

// InotifyOptions configure an inotify instance.
type InotifyOptions struct {
	// MaxQueuedEvents bounds the queue (0: DefaultMaxQueuedEvents); past it
	// one IN_Q_OVERFLOW event with wd -1 stands for everything dropped.
	MaxQueuedEvents int
}

// Inotify is an inotify instance (inotify_init1): watch descriptors on a
// group of its own and a queue of events, with inotify's rules — a
// directory watch hears its children, consecutive identical events are
// merged, IN_IGNORED follows the end of every watch, IN_ISDIR is never set
// on IN_DELETE_SELF or IN_MOVE_SELF.
type Inotify struct {
	r *Registry
	g *Group

	mu       sync.Mutex
	q        []InotifyEvent
	overflow bool // an IN_Q_OVERFLOW is queued
	max      int
	nextWd   int32
	wds      map[int32]*Mark
	closed   bool
	ready    chan struct{} // signalled when the queue becomes non-empty
}

type watch struct{ wd int32 }

// NewInotify creates an inotify instance.
func (r *Registry) NewInotify(opts InotifyOptions) *Inotify {
	n := &Inotify{
		r:     r,
		max:   opts.MaxQueuedEvents,
		wds:   make(map[int32]*Mark),
		ready: make(chan struct{}, 1),
	}
	if n.max <= 0 {
		n.max = DefaultMaxQueuedEvents
	}
	n.g = r.NewGroup(GroupOps{HandleEvent: n.handle, FreeingMark: n.freeing})
	return n
}

// inotifyUserMask is INOTIFY_USER_MASK: what a watch's mask may hold.
const inotifyUserMask = unix.IN_ALL_EVENTS | unix.IN_ONESHOT | unix.IN_EXCL_UNLINK

// AddWatch is inotify_add_watch(2) for path, resolved by c (IN_DONT_FOLLOW:
// a final symlink is watched itself; IN_ONLYDIR: ENOTDIR unless a
// directory). c must be allowed to read the inode (EACCES). It returns the
// watch descriptor, the existing one if the inode is already watched.
func (n *Inotify) AddWatch(c *vfs.Caller, path string, mask uint32) (int32, error) {
	if err := watchMaskOK(mask); err != nil {
		return -1, err
	}
	v := n.r.v
	in, err := v.Resolve(c, path, mask&unix.IN_DONT_FOLLOW == 0)
	if err != nil {
		return -1, vfs.Errno(err)
	}
	if mask&unix.IN_ONLYDIR != 0 && !in.IsDir() {
		return -1, unix.ENOTDIR
	}
	if err := v.Permission(c, in, vfs.MayRead); err != nil {
		return -1, err
	}
	// The path reference of inotify_find_inode: the inode cannot die
	// between the walk and the mark, and if it loses its last reference
	// when we drop ours, the new watch hears IN_DELETE_SELF.
	if !v.Get(in) {
		return -1, unix.ENOENT
	}
	defer v.Put(in)
	return n.AddWatchInode(in, mask)
}

func watchMaskOK(mask uint32) error {
	if mask&unix.IN_ALL_EVENTS == 0 {
		return unix.EINVAL
	}
	if mask&(unix.IN_MASK_ADD|unix.IN_MASK_CREATE) == unix.IN_MASK_ADD|unix.IN_MASK_CREATE {
		return unix.EINVAL
	}
	return nil
}

// AddWatchInode is AddWatch for an inode the caller already holds, with no
// permission check (the FUSE adapter, tests).
func (n *Inotify) AddWatchInode(in *vfs.Inode, mask uint32) (int32, error) {
	if err := watchMaskOK(mask); err != nil {
		return -1, err
	}
	if mask&unix.IN_ONLYDIR != 0 && !in.IsDir() {
		return -1, unix.ENOTDIR
	}
	// inotify_arg_to_mask: every watch hears IN_UNMOUNT, directory watches
	// hear their children.
	want := mask&inotifyUserMask | unix.IN_UNMOUNT
	if in.IsDir() {
		want |= EventOnChild
	}
	for {
		if m := n.g.FindMark(in); m != nil {
			// inotify_update_existing_watch.
			if mask&unix.IN_MASK_CREATE != 0 {
				return -1, unix.EEXIST
			}
			if mask&unix.IN_MASK_ADD != 0 {
				want |= m.Mask
			}
			m.SetMask(want)
			if m.Attached() {
				return m.Private.(*watch).wd, nil
			}
			continue // destroyed meanwhile: make a new one
		}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return -1, unix.EBADF
		}
		n.nextWd++
		w := &watch{wd: n.nextWd}
		m := &Mark{Mask: want, Private: w}
		n.wds[w.wd] = m
		n.mu.Unlock()
		switch err := n.g.AddInodeMark(in, m, false); err {
		case nil:
			return w.wd, nil
		case unix.EEXIST:
			// Another AddWatch raced us; update its watch instead.
			n.mu.Lock()
			delete(n.wds, w.wd)
			n.mu.Unlock()
			continue
		default:
			n.mu.Lock()
			delete(n.wds, w.wd)
			n.mu.Unlock()
			return -1, err
		}
	}
}

// RmWatch is inotify_rm_watch(2): EINVAL for an unknown descriptor. The
// watch ends with IN_IGNORED.
func (n *Inotify) RmWatch(wd int32) error {
	n.mu.Lock()
	m := n.wds[wd]
	n.mu.Unlock()
	if m == nil || !n.g.DestroyMark(m) {
		return unix.EINVAL
	}
	return nil
}

// Watches returns the number of live watches.
func (n *Inotify) Watches() int { return n.g.Len() }

// handle queues an event for a watch (inotify_handle_inode_event). The
// registry lock is held.
func (n *Inotify) handle(m *Mark, ev Event) {
	mask := ev.Mask &^ EventOnChild
	if mask&(unix.IN_MOVE_SELF|unix.IN_DELETE_SELF) != 0 {
		// inotify never reported IN_ISDIR with these.
		mask &^= unix.IN_ISDIR
	}
	n.queue(InotifyEvent{Wd: m.Private.(*watch).wd, Mask: mask, Cookie: ev.Cookie, Name: ev.Name})
}

// freeing queues IN_IGNORED and forgets the descriptor
// (inotify_ignored_and_remove_idr).
func (n *Inotify) freeing(m *Mark, why Reason) {
	w := m.Private.(*watch)
	n.queue(InotifyEvent{Wd: w.wd, Mask: unix.IN_IGNORED})
	n.mu.Lock()
	delete(n.wds, w.wd)
	n.mu.Unlock()
}

// queue is fsnotify_add_event with inotify_merge.
func (n *Inotify) queue(ev InotifyEvent) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	if len(n.q) > 0 {
		last := n.q[len(n.q)-1]
		if last.Mask&unix.IN_IGNORED == 0 && last == ev && ev.Mask&unix.IN_IGNORED == 0 {
			return
		}
	}
	if len(n.q) >= n.max {
		if n.overflow {
			return
		}
		n.overflow = true
		ev = InotifyEvent{Wd: -1, Mask: unix.IN_Q_OVERFLOW}
	}
	n.q = append(n.q, ev)
	select {
	case n.ready <- struct{}{}:
	default:
	}
}

// Read takes every queued event (a non-blocking read(2) that drains the
// queue); nil if there is none.
func (n *Inotify) Read() []InotifyEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	q := n.q
	n.q = nil
	n.overflow = false
	select {
	case <-n.ready:
	default:
	}
	return q
}

// Len returns the number of queued events.
func (n *Inotify) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.q)
}

// Wait blocks until an event is queued or ctx is done.
func (n *Inotify) Wait(ctx context.Context) error {
	for {
		if n.Len() > 0 {
			return nil
		}
		select {
		case <-n.ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close ends the instance (close(2) of the descriptor): every watch is
// destroyed and the queue discarded.
func (n *Inotify) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return unix.EBADF
	}
	n.mu.Unlock()
	n.g.Close()
	n.mu.Lock()
	n.closed = true
	n.q = nil
	n.mu.Unlock()
	return nil
}
