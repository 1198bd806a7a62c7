package vfs_test

import (
	"testing"

	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func newRam(t *testing.T) (*vfs.VFS, *vfs.Caller) {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	return v, vfs.RootCaller()
}

func TestSmoke(t *testing.T) {
	v, c := newRam(t)
	require.NoError(t, v.Mkdir(c, "/a", 0777))
	st, err := v.Stat(c, "/a")
	require.NoError(t, err)
	require.Equal(t, uint32(vfs.S_IFDIR|0755), st.Mode)
	require.Equal(t, uint32(2), st.Nlink)
	require.ErrorIs(t, v.Mkdir(c, "/a", 0777), unix.EEXIST)
	f, err := v.Open(c, "/a/f", unix.O_CREAT|unix.O_RDWR, 0666)
	require.NoError(t, err)
	_, err = f.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, v.Unlink(c, "/a/f"))
	require.Equal(t, uint32(0), f.Stat().Nlink)
	require.NoError(t, f.Close())
	require.ErrorIs(t, v.Rmdir(c, "/a/.."), unix.ENOTEMPTY)
	require.NoError(t, v.Symlink(c, "/a", "/l"))
	st, err = v.Stat(c, "/l/")
	require.NoError(t, err)
	require.True(t, st.Mode&vfs.S_IFDIR != 0)
	require.NoError(t, v.Rmdir(c, "/a"))
	_, err = v.Stat(c, "/l")
	require.ErrorIs(t, err, unix.ENOENT)
}
