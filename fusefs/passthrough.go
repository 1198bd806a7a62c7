package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Passthrough (Options.Passthrough).
//
// The kernel attaches at most one backing file to an inode, and while one
// is attached it refuses (EIO) every open of the inode that does not use
// that same backing file (fs/fuse/iomode.c). So two opens that overlap
// share one snapshot, and a write open cannot be served while a snapshot
// is open. The kernel detaches the backing file at the last close(2), but
// RELEASE reaches the server asynchronously; an open that follows a close
// closely therefore waits (up to snapshotLag) for the RELEASE, so that
// `cat f; cat f` sees two fresh snapshots — unless its output is the same
// as the open snapshot's, which it then shares at once. go-fuse's own support
// (fs.FilePassthroughFder) shares the backing file without that wait, so
// the backing file is registered here and rawFS puts its id into the OPEN
// reply, which the node API cannot do.

// snapshotLag bounds the wait for the RELEASE of a closed snapshot;
// uringSnapshotLag when requests come over io_uring.
const (
	snapshotLag      = 20 * time.Millisecond
	uringSnapshotLag = time.Millisecond
)

// snapState is a node's passthrough backing file.
type snapState struct {
	mu        sync.Mutex
	cond      sync.Cond
	users     int   // open handles using backingID
	backingID int32 // 0: none
	// keptID is the backing file of the last snapshot once its last user
	// is gone: it stays registered, and memfd (the file, still open) is
	// rewritten for the next snapshot, since making and registering a new
	// memfd and unregistering the old one cost more than the two READ
	// round trips passthrough saves. Both go when the kernel forgets the
	// node (or at once when the server keeps maxKeptSnapshots already).
	keptID  int32
	memfd   int    // 0 when there is none (0 is never a memfd here)
	mem     []byte // memfd mapped (maxSnapshot bytes), nil if that failed
	size    int    // memfd's length
	scratch []byte // where snapshots are rendered
}

// truncate sets the memfd's length to n, if it is not n already.
func (st *snapState) truncate(n int) error {
	if n == st.size {
		return nil
	}
	if err := unix.Ftruncate(st.memfd, int64(n)); err != nil {
		return err
	}
	st.size = n
	return nil
}

// rewrite makes the memfd hold b: copied into the mapping (no system call
// when the length stays), with pwrite(2) if there is no mapping.
func (st *snapState) rewrite(b []byte) error {
	if st.mem == nil {
		if err := writeAll(st.memfd, b); err != nil {
			return err
		}
		return st.truncate(len(b))
	}
	if len(b) > st.size { // the pages must exist before they are written
		if err := st.truncate(len(b)); err != nil {
			return err
		}
	}
	copy(st.mem, b)
	return st.truncate(len(b))
}

// closeMemfd unmaps and closes the memfd.
func (st *snapState) closeMemfd() {
	if st.mem != nil {
		_ = unix.Munmap(st.mem)
	}
	_ = unix.Close(st.memfd)
	st.keptID, st.memfd, st.mem, st.size = 0, 0, nil, 0
}

// maxKeptSnapshots bounds the memfds kept open for reuse (one per node).
const maxKeptSnapshots = 1024

// lock takes st.mu (and readies the condition that waits on it).
func (st *snapState) lock() {
	st.mu.Lock()
	if st.cond.L == nil {
		st.cond.L = &st.mu
	}
}

// waitIdle waits up to lag for lagging releases with st.mu held and
// reports whether a backing file is still in use.
func (st *snapState) waitIdle(lag time.Duration) bool {
	if st.users == 0 {
		return false
	}
	deadline := time.Now().Add(lag)
	t := time.AfterFunc(lag, func() {
		st.mu.Lock()
		st.cond.Broadcast()
		st.mu.Unlock()
	})
	for st.users > 0 && time.Now().Before(deadline) {
		st.cond.Wait()
	}
	t.Stop()
	return st.users > 0
}

// holds reports whether the node's memfd holds exactly b. st.mu is held.
func (st *snapState) holds(b []byte) bool {
	return st.mem != nil && st.size == len(b) && bytes.Equal(st.mem[:st.size], b)
}

// openSnapshot decides how h is served when Options.Passthrough is set.
// A write open while a snapshot is open is refused with EBUSY (the kernel
// would answer EIO).
func (s *Server) openSnapshot(ctx context.Context, h *fileHandle, readOnly bool) syscall.Errno {
	fc, ok := ctx.(*fuse.Context)
	if !ok {
		return 0 // not a FUSE request: nothing to reply to
	}
	st := &h.n.snap
	st.lock()
	defer st.mu.Unlock()
	rendered := readOnly && s.render(h, st)
	if rendered && st.users > 0 && st.holds(h.snap) {
		// The open snapshot is this open's output too: share it, there
		// is nothing to wait for.
		s.share(fc, h, st)
		return 0
	}
	lag := snapshotLag
	if s.uring != nil {
		// A queue thread that waits holds up its CPU's requests, the
		// awaited RELEASE among them when it came from the same CPU
		// after this OPEN (then the opens overlap and sharing is right).
		// A RELEASE from another CPU's queue takes microseconds.
		lag = uringSnapshotLag
	}
	busy := st.waitIdle(lag)
	switch {
	case busy && !readOnly:
		return unix.EBUSY
	case busy:
		// Overlapping opens share the first one's snapshot.
		s.share(fc, h, st)
		return 0
	case !rendered:
		return 0
	}
	if id, ok := s.attach(h.snap, st); ok {
		st.users = 1
		st.backingID = id
		h.backingID = id
		s.pending.Store(fc.Cancel, id)
	}
	return 0
}

// share makes h use the node's open snapshot. st.mu is held.
func (s *Server) share(fc *fuse.Context, h *fileHandle, st *snapState) {
	st.users++
	h.backingID = st.backingID
	s.pending.Store(fc.Cancel, st.backingID)
}

// dropKept unregisters the kept backing file and closes its memfd, if
// any. st.mu is held.
func (s *Server) dropKept(st *snapState) {
	if st.keptID == 0 {
		return
	}
	if errno := s.fuse.UnregisterBackingFd(st.keptID); errno != 0 {
		s.log.Printf("fusefs: unregister backing file %d: %v", st.keptID, errno)
	}
	st.closeMemfd()
	s.keptSnapshots.Add(-1)
}

// closeSnapshots closes the kept memfds once the connection has ended
// (the kernel dropped the backing files with it).
func (s *Server) closeSnapshots() {
	s.mu.Lock()
	nodes := make([]*node, 0, len(s.nodes))
	for _, n := range s.nodes {
		nodes = append(nodes, n)
	}
	s.mu.Unlock()
	for _, n := range nodes {
		st := &n.snap
		st.mu.Lock()
		if st.memfd > 0 {
			st.closeMemfd()
			s.keptSnapshots.Add(-1)
		}
		st.mu.Unlock()
	}
}

// forgetSnapshot lets go of a forgotten node's kept backing file.
func (s *Server) forgetSnapshot(st *snapState) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.dropKept(st)
}

// releaseSnapshot drops h's use of the node's backing file.
func (s *Server) releaseSnapshot(h *fileHandle) {
	st := &h.n.snap
	st.mu.Lock()
	defer st.mu.Unlock()
	st.users--
	if st.users > 0 {
		return
	}
	st.keptID, st.backingID = st.backingID, 0
	s.mu.Lock()
	forgotten := h.n.forgotten || s.nodes[h.n.in] != h.n // FORGET may overtake RELEASE
	s.mu.Unlock()
	if forgotten || s.keptSnapshots.Load() > maxKeptSnapshots {
		s.dropKept(st)
	}
	st.cond.Broadcast()
}

// render reads the whole output of h's file into h.snap (through the
// node's buffer), or as much as there is up to the error that stopped it
// (h.snapErr), and reports whether it can be served from a snapshot.
// st.mu is held.
func (s *Server) render(h *fileHandle, st *snapState) bool {
	buf := st.scratch[:0]
	if buf == nil {
		buf = make([]byte, 0, 4096)
	}
	defer func() {
		if cap(buf) <= 64<<10 {
			st.scratch = buf
		}
	}()
	var err error
	for len(buf) <= maxSnapshot {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		var nr int
		nr, err = h.f.ReadAt(buf[len(buf):cap(buf)], int64(len(buf)))
		buf = buf[:len(buf)+nr]
		if err != nil || nr == 0 {
			break
		}
	}
	// The handle keeps an exact copy, for reads that reach the server
	// anyway; reads go on from it, then from the file (or the error).
	h.snap, h.snapErr = append([]byte(nil), buf...), err
	return err == nil && len(buf) <= maxSnapshot
}

// attach puts b into the node's memfd — the kept one, rewritten, or a new
// one registered with the kernel — and returns its backing id. No open
// uses the node's memfd. st.mu is held.
func (s *Server) attach(b []byte, st *snapState) (int32, bool) {
	if st.keptID != 0 {
		if st.holds(b) || st.rewrite(b) == nil {
			id := st.keptID
			st.keptID = 0
			return id, true
		}
		s.dropKept(st)
	}
	fd, err := unix.MemfdCreate("simfs", unix.MFD_CLOEXEC)
	if err != nil {
		return 0, false
	}
	if writeAll(fd, b) != nil {
		_ = unix.Close(fd)
		return 0, false
	}
	id, errno := s.fuse.RegisterBackingFd(&fuse.BackingMap{Fd: int32(fd)})
	if errno != 0 {
		_ = unix.Close(fd)
		// Not supported (kernel, or no CAP_SYS_ADMIN): stop trying.
		if s.noPassthrough.CompareAndSwap(false, true) {
			s.log.Printf("fusefs: %s: passthrough unavailable (%v); reads go through the server", s.dir, errno)
		}
		return 0, false
	}
	st.memfd, st.size = fd, len(b)
	if mem, err := unix.Mmap(fd, 0, maxSnapshot, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err == nil {
		st.mem = mem
	}
	s.keptSnapshots.Add(1)
	s.snapshotFiles.Add(1)
	return id, true
}

// writeAll writes b at the start of fd.
func writeAll(fd int, b []byte) error {
	for off := 0; off < len(b); {
		nw, err := unix.Pwrite(fd, b[off:], int64(off))
		if err != nil {
			return err
		}
		off += nw
	}
	return nil
}

// readSnapshot serves a read from what was rendered at open, then from the
// file where the snapshot stopped (it was too big) or with the error that
// stopped it.
func (h *fileHandle) readSnapshot(dest []byte, off int64) (int, error) {
	if off < int64(len(h.snap)) {
		return copy(dest, h.snap[off:]), nil
	}
	if h.snapErr != nil {
		return 0, h.snapErr
	}
	if len(h.snap) > maxSnapshot {
		return h.f.ReadAt(dest, off)
	}
	return 0, nil
}

// rawFS puts the backing id of a passthrough open into the OPEN reply.
type rawFS struct {
	fuse.RawFileSystem
	pending *sync.Map // request's cancel channel -> backing id
	counts  *opCounts // for the benchmark; nil otherwise
}

// opCounts counts the requests of an open+read+close (the benchmark
// checks that a cached path costs no LOOKUP or GETATTR).
type opCounts struct {
	lookup, getattr, open, read, flush, release atomic.Int64
}

func (c *opCounts) String() string {
	return fmt.Sprintf("LOOKUP %d GETATTR %d OPEN %d READ %d FLUSH %d RELEASE %d",
		c.lookup.Load(), c.getattr.Load(), c.open.Load(), c.read.Load(), c.flush.Load(), c.release.Load())
}

func (r *rawFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	if r.counts != nil {
		r.counts.lookup.Add(1)
	}
	return r.RawFileSystem.Lookup(cancel, h, name, out)
}

func (r *rawFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	if r.counts != nil {
		r.counts.getattr.Add(1)
	}
	return r.RawFileSystem.GetAttr(cancel, in, out)
}

func (r *rawFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	if r.counts != nil {
		r.counts.read.Add(1)
	}
	return r.RawFileSystem.Read(cancel, in, buf)
}

func (r *rawFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	if r.counts != nil {
		r.counts.flush.Add(1)
	}
	return r.RawFileSystem.Flush(cancel, in)
}

func (r *rawFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	if r.counts != nil {
		r.counts.release.Add(1)
	}
	r.RawFileSystem.Release(cancel, in)
}

func (r *rawFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	if r.counts != nil {
		r.counts.open.Add(1)
	}
	st := r.RawFileSystem.Open(cancel, in, out)
	if v, ok := r.pending.LoadAndDelete(cancel); ok && st.Ok() {
		out.BackingID = v.(int32)
		// DIRECT_IO would override passthrough (fuse_file_read_iter).
		out.OpenFlags = out.OpenFlags&^fuse.FOPEN_DIRECT_IO | fuse.FOPEN_PASSTHROUGH
	}
	return st
}
