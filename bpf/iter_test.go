package bpf

import (
	"bytes"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeTarget iterates objects 0..n-1; showing object i writes sizes[i]
// bytes (the object number repeated) the way a program's seq_write would,
// and the epilogue writes "END <seq_num>\n".
type fakeTarget struct {
	sizes    []int
	shows    []int // object ids shown, in order (retries included)
	seqNums  []uint64
	stops    int
	epilogue int
	skip     map[int]bool
}

func (f *fakeTarget) Start(s *IterSession, index int64) (any, error) {
	if index >= int64(len(f.sizes)) {
		return nil, nil
	}
	return int(index), nil
}

func (f *fakeTarget) Next(s *IterSession, obj any, index *int64) (any, error) {
	*index++
	if *index >= int64(len(f.sizes)) {
		return nil, nil
	}
	return int(*index), nil
}

func (f *fakeTarget) write(s *IterSession, p []byte) {
	if len(p) >= s.Buf.Room() {
		s.Buf.SetOverflow()
		return
	}
	s.Buf.Append(p)
}

func (f *fakeTarget) Show(s *IterSession, obj any) (int, error) {
	i := obj.(int)
	f.shows = append(f.shows, i)
	f.seqNums = append(f.seqNums, s.SeqNum())
	if f.skip[i] {
		return 1, nil
	}
	f.write(s, bytes.Repeat([]byte{byte('a' + i%26)}, f.sizes[i]))
	return 0, nil
}

func (f *fakeTarget) Stop(s *IterSession, obj any) {
	f.stops++
	if obj == nil && !s.DoneStop() {
		f.epilogue++
		f.write(s, []byte(fmt.Sprintf("END %d\n", s.SeqNum())))
	}
}

func (f *fakeTarget) Close(*IterSession) {}

func readAll(t *testing.T, s *IterSession, chunk int) ([]byte, []int) {
	var out []byte
	var sizes []int
	buf := make([]byte, chunk)
	for i := 0; i < 1000; i++ {
		n, err := s.Read(buf)
		require.NoError(t, err)
		if n == 0 {
			return out, sizes
		}
		sizes = append(sizes, n)
		out = append(out, buf[:n]...)
	}
	t.Fatal("no EOF")
	return nil, nil
}

func TestIterSessionSmallAndLargeReads(t *testing.T) {
	var ids atomic.Uint64
	want := []byte("aaabbbcccEND 2\n")
	for _, chunk := range []int{1, 4, 7, 4096} {
		f := &fakeTarget{sizes: []int{3, 3, 3}}
		s := NewIterSession(f, &ids, nil)
		got, _ := readAll(t, s, chunk)
		require.Equal(t, string(want), string(got), "chunk %d", chunk)
		require.Equal(t, 1, f.epilogue)
		// EOF stays EOF.
		n, err := s.Read(make([]byte, 10))
		require.NoError(t, err)
		require.Zero(t, n)
		require.Equal(t, 1, f.epilogue)
	}
	require.Equal(t, uint64(4), ids.Load(), "one session id per open")
}

func TestIterSessionObjectAtomicity(t *testing.T) {
	var ids atomic.Uint64
	// Two 20000-byte objects cannot share the 32 KiB buffer: the second is
	// discarded and shown again, with the same seq_num, in the next read.
	f := &fakeTarget{sizes: []int{20000, 20000}}
	s := NewIterSession(f, &ids, nil)
	out, sizes := readAll(t, s, 1<<20)
	require.Len(t, out, 40000+len("END 1\n"))
	require.Equal(t, []int{20000, 20000 + len("END 1\n")}, sizes)
	require.Equal(t, []int{0, 1, 1}, f.shows)
	require.Equal(t, []uint64{0, 1, 1}, f.seqNums)
}

func TestIterSessionTooBig(t *testing.T) {
	var ids atomic.Uint64
	f := &fakeTarget{sizes: []int{IterBufSize}} // count + len < size fails
	s := NewIterSession(f, &ids, nil)
	for i := 0; i < 2; i++ {
		_, err := s.Read(make([]byte, 100))
		require.ErrorIs(t, err, unix.E2BIG)
	}
	// The largest object that fits is size-1 bytes.
	f = &fakeTarget{sizes: []int{IterBufSize - 1}}
	s = NewIterSession(f, &ids, nil)
	out, _ := readAll(t, s, 1<<16)
	require.Len(t, out, IterBufSize-1+len("END 0\n"))
}

func TestIterSessionSkip(t *testing.T) {
	var ids atomic.Uint64
	f := &fakeTarget{sizes: []int{1, 1, 1}, skip: map[int]bool{1: true}}
	s := NewIterSession(f, &ids, nil)
	out, _ := readAll(t, s, 100)
	require.Equal(t, "acEND 1\n", string(out))
	require.Equal(t, []uint64{0, 1, 1}, f.seqNums, "a skipped object gives its seq_num to the next")
	var _ io.Reader = s
}
