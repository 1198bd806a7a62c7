package events

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBusOrderAndDrop(t *testing.T) {
	now := time.Unix(100, 0)
	b := NewBus(func() time.Time { return now })
	rec := b.Record()
	s := b.Subscribe(2)
	b.Emit(Event{Kind: ProgLoaded, ObjID: 1})
	b.Emit(Event{Kind: Pinned, Path: "/sys/fs/bpf/p"})
	b.Emit(Event{Kind: Unpinned})
	require.Equal(t, []Kind{ProgLoaded, Pinned, Unpinned}, rec.Kinds())
	e1, e2 := <-s.C, <-s.C
	require.Equal(t, uint64(1), e1.Seq)
	require.Equal(t, uint64(2), e2.Seq)
	require.Equal(t, now, e2.Time)
	require.Equal(t, uint64(1), s.Dropped())
	s.Close()
	_, open := <-s.C
	require.False(t, open)
	s.Close() // idempotent
	var nilBus *Bus
	nilBus.Emit(Event{Kind: ProgLoaded}) // a nil bus is a valid "nobody listens"
}

func TestEmitAllIsEmitInOrder(t *testing.T) {
	now := time.Unix(100, 0)
	b := NewBus(func() time.Time { return now })
	rec := b.Record()
	s := b.Subscribe(3)
	b.Emit(Event{Kind: Pinned})
	b.EmitAll(nil)
	b.EmitAll([]Event{{Kind: ExposureRemoved, ObjID: 1}, {Kind: ExposureRemoved, ObjID: 2}, {Kind: ExposureRemoved, ObjID: 3}})
	b.Emit(Event{Kind: Unpinned})
	got := rec.Events()
	require.Len(t, got, 5)
	for i, e := range got {
		require.Equal(t, uint64(i+1), e.Seq)
		require.Equal(t, now, e.Time)
	}
	require.Equal(t, []Kind{Pinned, ExposureRemoved, ExposureRemoved, ExposureRemoved, Unpinned}, rec.Kinds())
	require.Equal(t, uint32(2), got[2].ObjID)
	for i := 1; i <= 3; i++ {
		e := <-s.C
		require.Equal(t, uint64(i), e.Seq)
	}
	require.Equal(t, uint64(2), s.Dropped())
	var nilBus *Bus
	nilBus.EmitAll([]Event{{Kind: ProgLoaded}})
}
