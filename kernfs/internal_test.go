package kernfs

import (
	"testing"

	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
)

// TestIDWrap lowers INT_MAX to see idr_alloc_cyclic wrap: freed low ids are
// reused only with the high bits bumped, so 64-bit ids stay unique.
func TestIDWrap(t *testing.T) {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	r := NewRoot(v, RootOptions{})
	r.maxLow = 6
	var ns []*Node
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		n, err := r.CreateFile(nil, r.Node(), name, Attr{Mode: 0644}, nil)
		require.NoError(t, err)
		ns = append(ns, n)
	}
	require.Equal(t, uint64(6), ns[4].ID())
	r.Remove(nil, ns[1]) // id 3
	r.Remove(nil, ns[3]) // id 5
	f, err := r.CreateFile(nil, r.Node(), "f", Attr{Mode: 0644}, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(1<<32|3), f.ID())
	g, err := r.CreateFile(nil, r.Node(), "g", Attr{Mode: 0644}, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(1<<32|5), g.ID())
	found := r.FindByID(1<<32 | 3)
	require.Same(t, f, found)
	found.Put()
	require.Nil(t, r.FindByID(3), "the old id is not the new one")
	st := v.Getattr(f.Inode())
	require.Equal(t, uint64(1<<32|3), st.Ino)
	// A plain reference keeps a removed node's low id taken.
	g.Get()
	r.Remove(nil, g)
	r.Remove(nil, f)
	h, err := r.CreateFile(nil, r.Node(), "h", Attr{Mode: 0644}, nil)
	require.NoError(t, err)
	require.Equal(t, uint64(2<<32|3), h.ID(), "5 is still held by g")
	g.Put()
	require.Panics(t, func() {
		for _, name := range []string{"i", "j", "k"} {
			_, _ = r.CreateFile(nil, r.Node(), name, Attr{Mode: 0644}, nil)
		}
	}, "id space exhausted")
}

// TestXattrsReleasedWithTheNode: a node's extended attributes go when its
// last reference does, and a released node takes no new ones.
func TestXattrsReleasedWithTheNode(t *testing.T) {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	r := NewRoot(v, RootOptions{Flags: SupportUserXattr})
	n, err := r.CreateFile(nil, r.Node(), "f", Attr{Mode: 0644}, nil)
	require.NoError(t, err)
	in := n.Inode()
	c := vfs.RootCaller()
	require.NoError(t, r.Setxattr(c, in, "user.a", []byte("1"), 0))
	require.Len(t, r.xattrs, 1)
	n.Get() // a reference that outlives the removal
	r.Remove(nil, n)
	require.Len(t, r.xattrs, 1, "still referenced")
	n.Put()
	require.Empty(t, r.xattrs)
	require.Nil(t, n.xattrsOf(true), "released")
}
