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
