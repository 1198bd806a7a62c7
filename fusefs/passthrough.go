package fusefs

import (
	"context"
	"sync"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Passthrough (Options.Passthrough). go-fuse's own support
// (fs.FilePassthroughFder) registers one backing file per node and hands
// it to every open of the node until the last of them is released; since
// RELEASE is asynchronous, an open that follows a close closely would get
// the previous open's snapshot. So the backing file is registered here,
// one per open, and rawFS puts its id into the OPEN reply, which the node
// API cannot do. The kernel attaches at most one backing file to an inode
// at a time; node.snapshots keeps a second concurrent open on ordinary
// reads instead of letting the kernel fail it with EIO.

// snapshot renders the whole output of h's file into a memfd and registers
// it with the kernel. It reports whether the open can be served by
// passthrough; otherwise whatever was read stays in h for Read.
func (s *Server) snapshot(ctx context.Context, h *fileHandle) bool {
	s.mu.Lock()
	busy := h.n.snapshots > 0
	if !busy {
		h.n.snapshots++
	}
	s.mu.Unlock()
	if busy {
		return false
	}
	ok := false
	defer func() {
		if !ok {
			s.mu.Lock()
			h.n.snapshots--
			s.mu.Unlock()
		}
	}()

	buf := make([]byte, 0, 4096)
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
	h.snap, h.snapErr = buf, err
	if err != nil || len(buf) > maxSnapshot {
		// Reads go on from the snapshot, then the file (or the error).
		return false
	}
	fd, err := unix.MemfdCreate("simfs", unix.MFD_CLOEXEC)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	for b := buf; len(b) > 0; {
		nw, err := unix.Write(fd, b)
		if err != nil {
			return false
		}
		b = b[nw:]
	}
	id, errno := s.fuse.RegisterBackingFd(&fuse.BackingMap{Fd: int32(fd)})
	if errno != 0 {
		// Not supported (kernel, or no CAP_SYS_ADMIN): stop trying.
		if s.noPassthrough.CompareAndSwap(false, true) {
			s.log.Printf("fusefs: %s: passthrough unavailable (%v); reads go through the server", s.dir, errno)
		}
		return false
	}
	h.backingID = id
	if fc, ok2 := ctx.(*fuse.Context); ok2 {
		s.pending.Store(fc.Cancel, id)
	}
	ok = true
	return true
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
}

func (r *rawFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	st := r.RawFileSystem.Open(cancel, in, out)
	if v, ok := r.pending.LoadAndDelete(cancel); ok && st.Ok() {
		out.BackingID = v.(int32)
		out.OpenFlags |= fuse.FOPEN_PASSTHROUGH
	} else if !st.Ok() {
		out.OpenFlags &^= fuse.FOPEN_PASSTHROUGH
	}
	return st
}
