package seqfile

import (
	"errors"
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// Operations are a seq file's seq_operations: a cursor over records.
// Start and Next return nil (and no error) past the last record. Next must
// advance *index (the kernel advances it for a Next that forgets to). Stop
// is called once after every Start, with whatever Start or the last Next
// returned (nil after an error). Show writes one record into m; it returns
// ErrSkip to discard it, or an error to fail the read.
type Operations interface {
	Start(index *int64) (any, error)
	Next(v any, index *int64) (any, error)
	Stop(v any)
	Show(m *Buffer, v any) error
}

// single is single_open's seq_operations: one record at index 0.
type single struct {
	show func(m *Buffer) error
}

// startToken is SEQ_START_TOKEN.
type startToken struct{}

// Single returns the Operations of a file with a single record produced by
// show (single_open).
func Single(show func(m *Buffer) error) Operations { return single{show: show} }

func (s single) Start(index *int64) (any, error) {
	if *index != 0 {
		return nil, nil
	}
	return startToken{}, nil
}

func (s single) Next(v any, index *int64) (any, error) {
	*index++
	return nil, nil
}

func (s single) Stop(v any) {}

func (s single) Show(m *Buffer, v any) error { return s.show(m) }

// File is the read state of one open seq file (struct seq_file).
type File struct {
	mu      sync.Mutex
	ops     Operations
	pool    *Pool
	buf     *Buffer
	from    int
	index   int64
	readPos int64
}

// New returns the read state of a newly opened seq file (seq_open).
func New(ops Operations) *File { return &File{ops: ops} }

// NewPooled is New with the first buffer taken from pool, to which Release
// gives it back.
func NewPooled(ops Operations, pool *Pool) *File { return &File{ops: ops, pool: pool} }

// Release ends the file's reads (seq_release): a page-sized buffer goes
// back to the pool the file was made with. The file must not be read
// afterwards.
func (f *File) Release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pool.put(f.buf)
	f.buf = nil
}

// page returns a new first buffer.
func (f *File) page() *Buffer { return f.pool.get() }

// Pool recycles the page-sized buffers of released seq files: the kernel
// allocates and frees a page per open file (seq_buf_alloc, kvfree); here a
// page per open would be work for the garbage collector on every read of
// a view or a cgroup file. The zero Pool is ready to use; a nil *Pool
// allocates every time.
type Pool struct{ p sync.Pool }

func (p *Pool) get() *Buffer {
	if p != nil {
		if b, ok := p.p.Get().(*Buffer); ok {
			b.count = 0
			return b
		}
	}
	return NewBuffer(PageSize)
}

func (p *Pool) put(b *Buffer) {
	if p != nil && b != nil && len(b.buf) == PageSize {
		p.p.Put(b)
	}
}

// Ops returns the file's record source.
func (f *File) Ops() Operations { return f.ops }

// Buffered reports how many bytes of the last record wait to be read.
func (f *File) Buffered() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.buf == nil {
		return 0
	}
	return f.buf.count
}

func allocBuffer(size int) (*Buffer, error) {
	if size > maxRWCount {
		return nil, unix.ENOMEM
	}
	return NewBuffer(size), nil
}

// next calls ops.Next and applies seq_read_iter's rule for a Next that did
// not move the index.
func (f *File) next(v any) (any, error) {
	pos := f.index
	p, err := f.ops.Next(v, &f.index)
	if pos == f.index {
		f.index++
	}
	return p, err
}

// Read is seq_read_iter: it fills p from the record stream at position pos
// (the file position for read(2), the offset for pread(2)) and returns how
// many bytes it copied. The caller advances its file position by that
// much. At the end of the records it returns 0 and no error.
func (f *File) Read(p []byte, pos int64) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()

	copied := 0
	var err error
	done := func() (int, error) {
		if copied == 0 {
			return 0, err
		}
		f.readPos += int64(copied)
		return copied, nil
	}

	// A read from offset 0 restarts from the first record.
	if pos == 0 {
		f.index = 0
		if f.buf != nil {
			f.buf.count = 0
		}
	}
	// Don't assume pos is where the last read left off.
	if pos != f.readPos {
		for {
			err = f.traverse(pos)
			if !errors.Is(err, errAgain) {
				break
			}
		}
		if err != nil {
			f.readPos, f.index = 0, 0
			if f.buf != nil {
				f.buf.count = 0
			}
			return done()
		}
		f.readPos = pos
	}
	if f.buf == nil {
		f.buf = f.page()
	}
	m := f.buf
	// Something left in the buffer: copy it out first.
	if m.count > 0 {
		n := copy(p, m.buf[f.from:f.from+m.count])
		m.count -= n
		f.from += n
		copied += n
		if m.count > 0 {
			return done()
		}
	}
	// Get a non-empty record or run out of them.
	f.from = 0
	v, serr := f.ops.Start(&f.index)
	for {
		err = serr
		if v == nil || serr != nil {
			break
		}
		serr = f.ops.Show(m, v)
		if serr != nil && !errors.Is(serr, ErrSkip) {
			err = serr
			break
		}
		if serr != nil { // skip it
			m.count = 0
		}
		if m.count == 0 { // empty record
			v, serr = f.next(v)
			continue
		}
		if !m.Overflowed() {
			return f.fill(p, v, &copied, done)
		}
		// Need a bigger buffer.
		f.ops.Stop(v)
		nb, aerr := allocBuffer(m.Size() << 1)
		f.pool.put(m)
		if aerr != nil {
			f.buf = f.page()
			err = aerr
			return done()
		}
		f.buf, m = nb, nb
		v, serr = f.ops.Start(&f.index)
	}
	// End of records or an error.
	f.ops.Stop(v)
	m.count = 0
	return done()
}

// fill is seq_read_iter's Fill: one non-empty record is in the buffer; add
// more while the reader wants more, advancing the index once per record.
func (f *File) fill(p []byte, v any, copied *int, done func() (int, error)) (int, error) {
	m := f.buf
	for {
		offs := m.count
		var err error
		v, err = f.next(v)
		if v == nil || err != nil {
			break
		}
		if m.count >= len(p)-*copied {
			break
		}
		serr := f.ops.Show(m, v)
		if errors.Is(serr, ErrSkip) {
			m.count = offs
		} else if serr != nil || m.Overflowed() {
			m.count = offs
			break
		}
	}
	f.ops.Stop(v)
	n := copy(p[*copied:], m.buf[:m.count])
	*copied += n
	m.count -= n
	f.from = n
	return done()
}

// errAgain is traverse's -EAGAIN: the buffer grew, try again.
const errAgain = sentinel("seqfile: traverse again")

// traverse re-runs records from the start up to offset, leaving the rest of
// the record that contains offset in the buffer.
func (f *File) traverse(offset int64) error {
	var pos int64
	f.index = 0
	f.from = 0
	if f.buf != nil {
		f.buf.count = 0
	}
	if offset == 0 {
		return nil
	}
	if f.buf == nil {
		f.buf = f.page()
	}
	m := f.buf
	var err error
	v, serr := f.ops.Start(&f.index)
	for v != nil || serr != nil {
		if serr != nil {
			err = serr
			break
		}
		serr = f.ops.Show(m, v)
		if serr != nil && !errors.Is(serr, ErrSkip) {
			err = serr
			break
		}
		if serr != nil {
			m.count = 0
		}
		if m.Overflowed() {
			f.ops.Stop(v)
			nb, aerr := allocBuffer(m.Size() << 1)
			f.pool.put(m)
			if aerr != nil {
				f.buf = nil
				return aerr
			}
			f.buf = nb
			return errAgain
		}
		v, serr = f.ops.Next(v, &f.index)
		if pos+int64(m.count) > offset {
			f.from = int(offset - pos)
			m.count -= f.from
			break
		}
		pos += int64(m.count)
		m.count = 0
		if pos == offset {
			break
		}
	}
	f.ops.Stop(v)
	return err
}

// Lseek is seq_lseek: fpos is the file position, and the result is the new
// one. SEEK_SET and SEEK_CUR only; a position other than where the last
// read ended re-runs the records up to it.
func (f *File) Lseek(fpos, offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch whence {
	case io.SeekCurrent:
		offset += fpos
	case io.SeekStart:
	default:
		return fpos, unix.EINVAL
	}
	if offset < 0 {
		return fpos, unix.EINVAL
	}
	if offset == f.readPos {
		return offset, nil
	}
	var err error
	for {
		err = f.traverse(offset)
		if !errors.Is(err, errAgain) {
			break
		}
	}
	if err != nil {
		// With extreme prejudice: the kernel also resets f_pos to 0.
		f.readPos, f.index = 0, 0
		if f.buf != nil {
			f.buf.count = 0
		}
		return 0, err
	}
	f.readPos = offset
	return offset, nil
}
