package seqfile

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// PageSize is PAGE_SIZE, the size of a seq file's first buffer.
const PageSize = 4096

// maxRWCount is MAX_RW_COUNT (INT_MAX & PAGE_MASK): seq_buf_alloc refuses
// anything larger.
const maxRWCount = (1<<31 - 1) &^ (PageSize - 1)

type sentinel string

func (s sentinel) Error() string { return string(s) }

// ErrSkip is what a show function returns to discard the record it was
// asked for (a positive return from ->show() in C): the record produces no
// output and the read goes on with the next one.
const ErrSkip = sentinel("seqfile: skip this record")

// Buffer is a seq_file's output buffer. Writes follow seq_write,
// seq_printf, seq_puts and seq_putc exactly: a write that does not fit
// (count + len must stay below the size) marks the buffer overflowed by
// setting count to the size, and from then on every write fails.
//
// The zero Buffer has size 0 and is always overflowed; use [NewBuffer].
type Buffer struct {
	buf   []byte
	count int
}

// NewBuffer returns an empty buffer of size bytes.
func NewBuffer(size int) *Buffer { return &Buffer{buf: make([]byte, size)} }

// Size is the buffer's capacity (m->size).
func (b *Buffer) Size() int { return len(b.buf) }

// Len is m->count: the bytes written so far, or Size once the buffer has
// overflowed.
func (b *Buffer) Len() int { return b.count }

// Overflowed is seq_has_overflowed: count == size.
func (b *Buffer) Overflowed() bool { return b.count == len(b.buf) }

// Bytes returns the bytes written, or nil once the buffer has overflowed
// (its contents are then meaningless). The slice aliases the buffer.
func (b *Buffer) Bytes() []byte {
	if b.Overflowed() {
		return nil
	}
	return b.buf[:b.count]
}

// String returns the bytes written as a string ("" once overflowed).
func (b *Buffer) String() string { return string(b.Bytes()) }

// Reset empties the buffer, clearing an overflow.
func (b *Buffer) Reset() { b.count = 0 }

// Truncate sets the count back to n, dropping what was written after it
// (seq_read_iter does this to discard a record); n must not exceed Len.
func (b *Buffer) Truncate(n int) {
	if n < 0 || n > b.count {
		panic("seqfile: Truncate out of range")
	}
	b.count = n
}

// Room is m->size - m->count: how much is left, 0 once overflowed. Note
// that a write of exactly Room bytes still overflows (seq_write needs
// count + len < size).
func (b *Buffer) Room() int { return len(b.buf) - b.count }

// Append copies p into the buffer without the overflow rule, for a caller
// that has checked it fits (len(p) < Room()), as the BPF printf helper does
// after formatting into a bounded scratch buffer. A p of Room or more bytes
// fills the buffer, which then counts as overflowed.
func (b *Buffer) Append(p []byte) { b.count += copy(b.buf[b.count:], p) }

// SetOverflow is seq_set_overflow: count = size.
func (b *Buffer) SetOverflow() { b.count = len(b.buf) }

// Write is seq_write: it copies p if count+len(p) < size and otherwise
// marks the buffer overflowed and fails with EOVERFLOW (the errno
// bpf_seq_write returns). It makes Buffer an io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	if b.count+len(p) < len(b.buf) {
		b.count += copy(b.buf[b.count:], p)
		return len(p), nil
	}
	b.SetOverflow()
	return 0, unix.EOVERFLOW
}

// WriteString is seq_puts.
func (b *Buffer) WriteString(s string) (int, error) {
	if b.count+len(s) < len(b.buf) {
		b.count += copy(b.buf[b.count:], s)
		return len(s), nil
	}
	b.SetOverflow()
	return 0, unix.EOVERFLOW
}

// PutC is seq_putc: unlike the other writes it may fill the buffer to the
// last byte, which then counts as an overflow.
func (b *Buffer) PutC(c byte) {
	if b.count >= len(b.buf) {
		return
	}
	b.buf[b.count] = c
	b.count++
}

// Printf is seq_printf with Go's fmt verbs: the formatted text is kept only
// if count + its length < size; otherwise the buffer overflows.
func (b *Buffer) Printf(format string, args ...any) {
	if b.count < len(b.buf) {
		// Format in place; Appendf only reallocates when the text does
		// not fit, and then it is discarded below.
		out := fmt.Appendf(b.buf[b.count:b.count], format, args...)
		if b.count+len(out) < len(b.buf) {
			b.count += len(out)
			return
		}
	}
	b.SetOverflow()
}
