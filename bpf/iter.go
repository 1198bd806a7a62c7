package bpf

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Iterator buffer and limits (kernel/bpf/bpf_iter.c).
const (
	// IterBufSize is the per-session seq buffer: PAGE_SIZE << 3.
	IterBufSize = 4096 << 3
	// MaxIterObjects is how many objects one read may visit
	// (MAX_ITER_OBJECTS).
	MaxIterObjects = 1_000_000
)

// IterTarget is a bpf_iter target's seq_operations for one session. The
// session calls them with its own lock held, never concurrently.
type IterTarget interface {
	// Start returns the object at index, nil at the end, or an error
	// (seq_start).
	Start(s *IterSession, index int64) (any, error)
	// Next returns the object after obj, nil at the end, or an error; it
	// advances *index (seq_next).
	Next(s *IterSession, obj any, index *int64) (any, error)
	// Show runs the program for obj (seq_show): a positive return skips the
	// object, a negative errno fails it; err, if not nil, is what the read
	// reports then (it wraps the errno and says why).
	Show(s *IterSession, obj any) (int, error)
	// Stop ends a read (seq_stop). With a nil obj after the last object the
	// target runs the program once more with a NULL object (the epilogue),
	// through s.InStop.
	Stop(s *IterSession, obj any)
	// Close releases the session's target state (fini_seq_private).
	Close(s *IterSession)
}

// IterBuffer is a session's seq_file buffer, what bpf_seq_printf writes to.
type IterBuffer struct {
	buf   []byte
	count int
	from  int
}

// Room implements SeqWriter.
func (b *IterBuffer) Room() int { return len(b.buf) - b.count }

// Append implements SeqWriter.
func (b *IterBuffer) Append(p []byte) { b.count += copy(b.buf[b.count:], p) }

// SetOverflow implements SeqWriter.
func (b *IterBuffer) SetOverflow() { b.count = len(b.buf) }

func (b *IterBuffer) overflowed() bool { return b.count == len(b.buf) }

// IterSession is one open iterator (a struct file with bpf_iter_fops):
// bpf_seq_read's state.
type IterSession struct {
	mu       sync.Mutex
	target   IterTarget
	Buf      IterBuffer
	index    int64
	sessID   uint64
	seqNum   uint64
	doneStop bool
	closed   bool
	// Task is who opened the session (current for the program).
	Task any
	// Private is the target's per-session state.
	Private any
}

// NewIterSession starts a session on target. sessionIDs is the machine's
// session counter (bpf_iter's global session_id).
func NewIterSession(target IterTarget, sessionIDs *atomic.Uint64, task any) *IterSession {
	return &IterSession{target: target, sessID: sessionIDs.Add(1), Task: task}
}

// SessionID is the bpf_iter_meta session_id.
func (s *IterSession) SessionID() uint64 { return s.sessID }

// SeqNum is the bpf_iter_meta seq_num of the object being shown.
func (s *IterSession) SeqNum() uint64 { return s.seqNum }

// DoneStop reports whether the epilogue already ran successfully; a target
// must not run the program for the NULL object again when it has
// (bpf_iter_get_info with in_stop).
func (s *IterSession) DoneStop() bool { return s.doneStop }

// Read is bpf_seq_read.
func (s *IterSession) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, unix.EBADF
	}
	if s.Buf.buf == nil {
		s.Buf.buf = make([]byte, IterBufSize)
	}
	b := &s.Buf
	// Leftover only.
	if b.count > 0 {
		n := copy(p, b.buf[b.from:b.from+b.count])
		b.count -= n
		b.from += n
		return n, nil
	}
	b.from = 0
	size := len(p)
	obj, err := s.target.Start(s, s.index)
	if err != nil {
		s.target.Stop(s, nil)
		return 0, err
	}
	if obj != nil {
		r, serr := s.target.Show(s, obj)
		switch {
		case r > 0:
			s.decSeq()
			b.count = 0
		case r < 0 || b.overflowed():
			s.target.Stop(s, obj)
			b.count = 0
			return 0, showErr(r, serr)
		}
		numObjs := 0
		for {
			numObjs++
			offs := b.count
			prev := s.index
			obj, err = s.target.Next(s, obj, &s.index)
			if s.index == prev {
				s.index++
			}
			if obj == nil || err != nil {
				break
			}
			s.seqNum++
			if b.count >= size {
				break
			}
			if numObjs >= MaxIterObjects {
				if offs == 0 {
					s.target.Stop(s, obj)
					return 0, unix.EAGAIN
				}
				break
			}
			r, serr = s.target.Show(s, obj)
			if r > 0 {
				s.decSeq()
				b.count = offs
			} else if r < 0 || b.overflowed() {
				b.count = offs
				if offs == 0 {
					s.target.Stop(s, obj)
					return 0, showErr(r, serr)
				}
				break
			}
		}
	}
	offs := b.count
	if err != nil {
		// Bytes already buffered stay for the next read.
		s.target.Stop(s, nil)
		return 0, err
	}
	s.target.Stop(s, obj)
	if obj == nil {
		if !b.overflowed() {
			s.doneStop = true
		} else {
			b.count = offs
			if offs == 0 {
				return 0, unix.E2BIG
			}
		}
	}
	n := copy(p, b.buf[:b.count])
	b.count -= n
	b.from = n
	return n, nil
}

// showErr is what a read reports for a failed show: the target's error,
// its errno, or E2BIG for an object that overflowed the buffer.
func showErr(r int, err error) error {
	switch {
	case err != nil:
		return err
	case r < 0:
		return unix.Errno(-r)
	}
	return unix.E2BIG
}

func (s *IterSession) decSeq() {
	if s.seqNum > 0 {
		s.seqNum--
	}
}

// Close ends the session (iter_release).
func (s *IterSession) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.target.Close(s)
}
