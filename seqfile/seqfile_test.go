package seqfile_test

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/simfs/simfs/seqfile"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

func TestBufferWriteRules(t *testing.T) {
	b := seqfile.NewBuffer(8)
	require.Equal(t, 8, b.Size())
	require.Equal(t, 8, b.Room())
	// seq_write keeps data only if count+len < size: 7 bytes fit in 8.
	n, err := b.Write([]byte("1234567"))
	require.NoError(t, err)
	require.Equal(t, 7, n)
	require.Equal(t, "1234567", string(b.Bytes()))
	require.False(t, b.Overflowed())
	// One more byte would make count == size: overflow.
	_, err = b.Write([]byte("8"))
	require.ErrorIs(t, err, unix.EOVERFLOW)
	require.True(t, b.Overflowed())
	require.Equal(t, 8, b.Len(), "overflow sets count to size")
	require.Nil(t, b.Bytes())
	require.Equal(t, "", b.String())
	// Once overflowed, everything fails, even an empty write.
	_, err = b.Write(nil)
	require.ErrorIs(t, err, unix.EOVERFLOW)
	_, err = b.WriteString("")
	require.ErrorIs(t, err, unix.EOVERFLOW)
	b.Printf("")
	require.True(t, b.Overflowed())
	b.Reset()
	require.False(t, b.Overflowed())
	require.Equal(t, 0, b.Len())
}

func TestBufferWriteExactlySize(t *testing.T) {
	b := seqfile.NewBuffer(4)
	_, err := b.WriteString("abcd")
	require.ErrorIs(t, err, unix.EOVERFLOW, "a write of exactly size bytes overflows")
	b.Reset()
	b.Printf("%s", "abcd")
	require.True(t, b.Overflowed())
	b.Reset()
	b.Printf("%d-%s", 12, "x")
	require.True(t, b.Overflowed(), "4 bytes in a 4-byte buffer overflow")
	b.Reset()
	b.Printf("%d", 123)
	require.Equal(t, "123", b.String())
}

func TestBufferPutC(t *testing.T) {
	b := seqfile.NewBuffer(3)
	b.PutC('a')
	b.PutC('b')
	require.False(t, b.Overflowed())
	// seq_putc may use the last byte; the buffer then counts as full.
	b.PutC('c')
	require.True(t, b.Overflowed())
	b.PutC('d')
	require.Equal(t, 3, b.Len())
}

func TestBufferBPFMethodSet(t *testing.T) {
	// The method set bpf_seq_printf/bpf_seq_write use.
	var w interface {
		Room() int
		Append([]byte)
		SetOverflow()
	} = seqfile.NewBuffer(16)
	require.Equal(t, 16, w.Room())
	w.Append([]byte("hello"))
	require.Equal(t, 11, w.Room())
	w.SetOverflow()
	require.Equal(t, 0, w.Room())
	require.True(t, w.(*seqfile.Buffer).Overflowed())
}

func TestBufferTruncate(t *testing.T) {
	b := seqfile.NewBuffer(16)
	_, _ = b.WriteString("abcdef")
	b.Truncate(2)
	require.Equal(t, "ab", b.String())
	require.Panics(t, func() { b.Truncate(3) })
}

// readAll reads f through repeated reads of size n starting at pos 0, the
// way read(2) advances the file position.
func readAll(t *testing.T, f *seqfile.File, n int) (string, error) {
	t.Helper()
	var out strings.Builder
	var pos int64
	buf := make([]byte, n)
	for i := 0; i < 1_000_000; i++ {
		k, err := f.Read(buf, pos)
		if err != nil {
			return out.String(), err
		}
		if k == 0 {
			return out.String(), nil
		}
		out.Write(buf[:k])
		pos += int64(k)
	}
	t.Fatal("read did not reach EOF")
	return "", nil
}

func TestSingleSmallReads(t *testing.T) {
	calls := 0
	f := seqfile.New(seqfile.Single(func(m *seqfile.Buffer) error {
		calls++
		m.Printf("populated %d\nfrozen %d\n", 0, 0)
		return nil
	}))
	for _, n := range []int{1, 3, 5, 100, 4096} {
		calls = 0
		got, err := readAll(t, f, n)
		require.NoError(t, err)
		require.Equal(t, "populated 0\nfrozen 0\n", got, "read size %d", n)
		// Leftovers are served without running show again; the read
		// at EOF asks start, which ends at once (single_start).
		require.Equal(t, 1, calls, "read size %d", n)
	}
}

func TestSingleReadAtZeroRegenerates(t *testing.T) {
	v := 0
	f := seqfile.New(seqfile.Single(func(m *seqfile.Buffer) error {
		m.Printf("v=%d\n", v)
		return nil
	}))
	buf := make([]byte, 2)
	n, err := f.Read(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "v=", string(buf[:n]))
	v = 7
	// The leftover is from the first generation.
	n, err = f.Read(buf, 2)
	require.NoError(t, err)
	require.Equal(t, "0\n", string(buf[:n]))
	// pread at 0 (or lseek to 0 and read) regenerates.
	n, err = f.Read(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "v=", string(buf[:n]))
	n, err = f.Read(buf, 2)
	require.NoError(t, err)
	require.Equal(t, "7\n", string(buf[:n]))
}

func TestSingleReadAtOtherOffsetTraverses(t *testing.T) {
	f := seqfile.New(seqfile.Single(func(m *seqfile.Buffer) error {
		_, _ = m.WriteString("0123456789")
		return nil
	}))
	buf := make([]byte, 3)
	n, err := f.Read(buf, 4)
	require.NoError(t, err)
	require.Equal(t, "456", string(buf[:n]))
	n, err = f.Read(buf, 8)
	require.NoError(t, err, "a pread away from the last position re-runs the record")
	require.Equal(t, "89", string(buf[:n]))
	n, err = f.Read(buf, 10)
	require.NoError(t, err)
	require.Equal(t, 0, n)
	n, err = f.Read(buf, 100)
	require.NoError(t, err, "past the end is EOF")
	require.Equal(t, 0, n)
}

func TestSingleGrowsBufferWithoutDuplicating(t *testing.T) {
	want := strings.Repeat("0123456789abcdef", 1000) // 16000 bytes
	var sizes []int
	f := seqfile.New(seqfile.Single(func(m *seqfile.Buffer) error {
		sizes = append(sizes, m.Size())
		require.Equal(t, 0, m.Len(), "each run starts with an empty buffer")
		for i := 0; i < len(want); i += 16 {
			if _, err := m.WriteString(want[i : i+16]); err != nil {
				return nil // overflowed: the reader grows the buffer
			}
		}
		return nil
	}))
	got, err := readAll(t, f, 1<<20)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.Equal(t, []int{4096, 8192, 16384}, sizes)
}

func TestSingleSkipAndErrors(t *testing.T) {
	f := seqfile.New(seqfile.Single(func(m *seqfile.Buffer) error {
		_, _ = m.WriteString("discarded")
		return seqfile.ErrSkip
	}))
	got, err := readAll(t, f, 64)
	require.NoError(t, err)
	require.Equal(t, "", got, "a skipped record reads as an empty file")

	f = seqfile.New(seqfile.Single(func(m *seqfile.Buffer) error {
		_, _ = m.WriteString("partial")
		return unix.EINVAL
	}))
	_, err = f.Read(make([]byte, 64), 0)
	require.ErrorIs(t, err, unix.EINVAL)

	n, err := f.Read(nil, 0)
	require.NoError(t, err)
	require.Equal(t, 0, n, "a zero-length read does nothing")
}

// failingStart fails Start after the first record was produced, as kernfs
// does once its node is removed.
type failingStart struct {
	fail bool
	text string
}

func (s *failingStart) Start(index *int64) (any, error) {
	if s.fail {
		return nil, unix.ENODEV
	}
	if *index != 0 {
		return nil, nil
	}
	return s, nil
}
func (s *failingStart) Next(v any, index *int64) (any, error) { *index++; return nil, nil }
func (s *failingStart) Stop(v any)                            {}
func (s *failingStart) Show(m *seqfile.Buffer, v any) error {
	_, _ = m.WriteString(s.text)
	return nil
}

func TestLeftoverThenStartError(t *testing.T) {
	ops := &failingStart{text: "hello world\n"}
	f := seqfile.New(ops)
	buf := make([]byte, 5)
	n, err := f.Read(buf, 0)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:n]))
	ops.fail = true
	// The leftover is served; the read that would start again fails.
	big := make([]byte, 100)
	n, err = f.Read(big, 5)
	require.NoError(t, err)
	require.Equal(t, " world\n", string(big[:n]))
	require.Equal(t, 0, f.Buffered())
	_, err = f.Read(big, 12)
	require.ErrorIs(t, err, unix.ENODEV, "even at what would be EOF")
	_, err = f.Read(big, 0)
	require.ErrorIs(t, err, unix.ENODEV)
}

func TestLseek(t *testing.T) {
	f := seqfile.New(seqfile.Single(func(m *seqfile.Buffer) error {
		_, _ = m.WriteString("0123456789")
		return nil
	}))
	pos, err := f.Lseek(0, 3, io.SeekStart)
	require.NoError(t, err)
	require.Equal(t, int64(3), pos)
	buf := make([]byte, 4)
	n, err := f.Read(buf, pos)
	require.NoError(t, err)
	require.Equal(t, "3456", string(buf[:n]))
	pos += int64(n)
	pos, err = f.Lseek(pos, -2, io.SeekCurrent)
	require.NoError(t, err)
	require.Equal(t, int64(5), pos)
	n, err = f.Read(buf, pos)
	require.NoError(t, err)
	require.Equal(t, "5678", string(buf[:n]))
	_, err = f.Lseek(pos, 0, io.SeekEnd)
	require.ErrorIs(t, err, unix.EINVAL)
	_, err = f.Lseek(pos, 0, unix.SEEK_DATA)
	require.ErrorIs(t, err, unix.EINVAL)
	_, err = f.Lseek(pos, -1, io.SeekStart)
	require.ErrorIs(t, err, unix.EINVAL)
	_, err = f.Lseek(2, -3, io.SeekCurrent)
	require.ErrorIs(t, err, unix.EINVAL)
	pos, err = f.Lseek(pos, 100, io.SeekStart)
	require.NoError(t, err, "seeking past the end is allowed")
	n, err = f.Read(buf, pos)
	require.NoError(t, err)
	require.Equal(t, 0, n)
}

// records is a multi-record seq_operations over fixed strings; "" records
// are empty and "!" records are skipped.
type records struct {
	recs  []string
	stops int
	open  int
}

func (r *records) Start(index *int64) (any, error) {
	r.open++
	if *index >= int64(len(r.recs)) {
		return nil, nil
	}
	return *index, nil
}

func (r *records) Next(v any, index *int64) (any, error) {
	*index = v.(int64) + 1
	if *index >= int64(len(r.recs)) {
		return nil, nil
	}
	return *index, nil
}

func (r *records) Stop(v any) { r.stops++ }

func (r *records) Show(m *seqfile.Buffer, v any) error {
	s := r.recs[v.(int64)]
	if s == "!" {
		_, _ = m.WriteString("SKIPPED")
		return seqfile.ErrSkip
	}
	_, _ = m.WriteString(s)
	return nil
}

func (r *records) want() string {
	var b strings.Builder
	for _, s := range r.recs {
		if s != "!" {
			b.WriteString(s)
		}
	}
	return b.String()
}

func TestRecordsProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recGen := rapid.OneOf(
			rapid.Just("!"), rapid.Just(""),
			rapid.StringMatching(`[a-z]{1,12}\n`),
			rapid.Custom(func(t *rapid.T) string { return strings.Repeat("x", rapid.IntRange(4000, 9000).Draw(t, "big")) }),
		)
		r := &records{recs: rapid.SliceOfN(recGen, 0, 12).Draw(t, "records")}
		want := r.want()
		f := seqfile.New(r)
		var pos int64 // the file position of read(2)
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1: // read
				n := rapid.IntRange(1, 10000).Draw(t, "n")
				buf := make([]byte, n)
				k, err := f.Read(buf, pos)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				checkChunk(t, want, pos, buf[:k])
				pos += int64(k)
			case 2: // pread
				off := int64(rapid.IntRange(0, len(want)+3).Draw(t, "off"))
				n := rapid.IntRange(1, 10000).Draw(t, "n")
				buf := make([]byte, n)
				k, err := f.Read(buf, off)
				if err != nil {
					t.Fatalf("pread: %v", err)
				}
				checkChunk(t, want, off, buf[:k])
			case 3: // lseek
				off := int64(rapid.IntRange(0, len(want)+3).Draw(t, "seek"))
				p, err := f.Lseek(pos, off, io.SeekStart)
				if err != nil {
					t.Fatalf("lseek: %v", err)
				}
				pos = p
			}
		}
		if r.open != r.stops {
			t.Fatalf("%d starts, %d stops", r.open, r.stops)
		}
	})
}

// checkChunk: a read at off returns a prefix of what is there, and
// something unless it is at the end.
func checkChunk(t *rapid.T, want string, off int64, got []byte) {
	rest := ""
	if off < int64(len(want)) {
		rest = want[off:]
	}
	if !strings.HasPrefix(rest, string(got)) {
		t.Fatalf("read at %d: got %q, want a prefix of %q", off, got, rest)
	}
	if len(got) == 0 && rest != "" {
		t.Fatalf("read at %d: empty, %d bytes left", off, len(rest))
	}
}

func TestErrSkipIsDistinct(t *testing.T) {
	require.False(t, errors.Is(seqfile.ErrSkip, unix.EINVAL))
	require.Equal(t, "seqfile: skip this record", fmt.Sprint(seqfile.ErrSkip))
}

// TestPooledFilesRecycleBuffers: files released into a pool hand their
// buffers to later files, which read exactly their own records (nothing a
// released file left in its buffer shows), also for records that outgrow
// the first page; a released file can be released again, and a nil pool
// allocates.
func TestPooledFilesRecycleBuffers(t *testing.T) {
	var pool seqfile.Pool
	show := func(s string) seqfile.Operations {
		return seqfile.Single(func(m *seqfile.Buffer) error {
			_, _ = m.WriteString(s) // an overflow makes the file grow its buffer
			return nil
		})
	}
	readAll := func(f *seqfile.File) string {
		var out []byte
		buf := make([]byte, 3) // short reads leave data in the buffer
		for pos := int64(0); ; {
			n, err := f.Read(buf, pos)
			require.NoError(t, err)
			if n == 0 {
				return string(out)
			}
			out = append(out, buf[:n]...)
			pos += int64(n)
		}
	}
	big := strings.Repeat("y", 3*seqfile.PageSize)
	for i, want := range []string{"first record\n", "2\n", big, "after the big one\n", ""} {
		f := seqfile.NewPooled(show(want), &pool)
		require.Equal(t, want, readAll(f), "file %d", i)
		// Abandon one mid-read: its leftovers must not reach the next file.
		g := seqfile.NewPooled(show(fmt.Sprintf("left over %d\n", i)), &pool)
		n, err := g.Read(make([]byte, 2), 0)
		require.NoError(t, err)
		require.Equal(t, 2, n)
		g.Release()
		f.Release()
		f.Release()
	}
	f := seqfile.NewPooled(show("nil pool\n"), nil)
	require.Equal(t, "nil pool\n", readAll(f))
	f.Release()
}
