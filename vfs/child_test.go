package vfs_test

import (
	"testing"

	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The inode forms of the operations (the FUSE adapter's) give what the path
// forms give for the same entry.
func TestChildOperations(t *testing.T) {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	root := &vfs.Caller{}
	user := &vfs.Caller{Cred: vfs.Cred{UID: 1000, GID: 1000}}
	r := v.Root()

	d, err := v.MkdirChild(root, r, "d", 0777)
	require.NoError(t, err)
	require.EqualValues(t, 3, v.Nlink(r))
	_, err = v.MkdirChild(root, r, "d", 0777)
	require.ErrorIs(t, err, unix.EEXIST)
	_, err = v.MkdirChild(root, r, "a/b", 0777)
	require.ErrorIs(t, err, unix.EINVAL)
	_, err = v.MkdirChild(root, r, "", 0777)
	require.ErrorIs(t, err, unix.ENOENT)
	_, err = v.MkdirChild(user, r, "x", 0777)
	require.ErrorIs(t, err, unix.EACCES)

	f, err := v.CreateChild(root, d, "f", unix.O_RDWR|unix.O_EXCL, 0640)
	require.NoError(t, err)
	fin := f.Inode()
	_, err = v.CreateChild(root, d, "f", unix.O_RDWR|unix.O_EXCL, 0640)
	require.ErrorIs(t, err, unix.EEXIST)
	_, err = v.CreateChild(root, d, "g", unix.O_RDWR|unix.O_DIRECTORY, 0640)
	require.ErrorIs(t, err, unix.EINVAL)
	_, err = v.CreateChild(root, fin, "g", unix.O_RDWR, 0640)
	require.ErrorIs(t, err, unix.ENOTDIR)

	got, err := v.Lookup(root, d, "f")
	require.NoError(t, err)
	require.Same(t, fin, got)
	got, err = v.Lookup(root, d, "..")
	require.NoError(t, err)
	require.Same(t, r, got)
	_, err = v.Lookup(root, d, "nope")
	require.ErrorIs(t, err, unix.ENOENT)
	_, err = v.Lookup(root, fin, "x")
	require.ErrorIs(t, err, unix.ENOTDIR)
	require.NoError(t, v.Chmod(root, "/d", 0700))
	_, err = v.Lookup(user, d, "f")
	require.ErrorIs(t, err, unix.EACCES)
	require.NoError(t, v.Chmod(root, "/d", 0777))

	require.NoError(t, v.LinkChild(root, fin, r, "hard"))
	require.EqualValues(t, 2, v.Nlink(fin))
	require.ErrorIs(t, v.LinkChild(root, d, r, "dirlink"), unix.EPERM)
	require.ErrorIs(t, v.LinkChild(root, fin, r, "hard"), unix.EEXIST)

	s, err := v.SymlinkChild(root, d, "s", "f")
	require.NoError(t, err)
	tgt, err := v.ReadlinkInode(s)
	require.NoError(t, err)
	require.Equal(t, "f", tgt)
	_, err = v.ReadlinkInode(fin)
	require.ErrorIs(t, err, unix.EINVAL)
	_, err = v.SymlinkChild(root, d, "s2", "")
	require.ErrorIs(t, err, unix.ENOENT)

	p, err := v.MknodChild(root, d, "p", unix.S_IFIFO|0600, 0)
	require.NoError(t, err)
	require.Equal(t, uint32(unix.S_IFIFO), p.Type())

	require.NoError(t, v.RenameChild(root, d, "p", r, "p2", 0))
	require.ErrorIs(t, v.RenameChild(root, r, "p2", d, "f", unix.RENAME_NOREPLACE), unix.EEXIST)
	require.ErrorIs(t, v.RenameChild(root, r, "d", d, "x", 0), unix.EINVAL)
	require.ErrorIs(t, v.RenameChild(root, r, "p2", d, "x", unix.RENAME_EXCHANGE|unix.RENAME_NOREPLACE), unix.EINVAL)

	require.ErrorIs(t, v.UnlinkChild(root, r, "d"), unix.EISDIR)
	require.ErrorIs(t, v.RmdirChild(root, d, "f"), unix.ENOTDIR)
	require.ErrorIs(t, v.RmdirChild(root, r, "d"), unix.ENOTEMPTY)
	require.NoError(t, v.UnlinkChild(root, r, "hard"))
	require.NoError(t, v.UnlinkChild(root, d, "f"))
	require.EqualValues(t, 0, v.Nlink(fin))
	require.True(t, v.Alive(fin), "still open")
	require.ErrorIs(t, v.LinkChild(root, fin, r, "back"), unix.ENOENT)
	require.NoError(t, f.Close())
	require.False(t, v.Alive(fin))
	require.False(t, v.Get(fin))

	// OpenInode and Setattr check permissions like open(2) and chmod(2).
	g, err := v.CreateChild(root, d, "g", unix.O_WRONLY, 0600)
	require.NoError(t, err)
	require.NoError(t, g.Close())
	gin, err := v.Resolve(root, "/d/g", false)
	require.NoError(t, err)
	_, err = v.OpenInode(user, gin, unix.O_RDONLY)
	require.ErrorIs(t, err, unix.EACCES)
	mode := uint32(0644)
	require.ErrorIs(t, v.Setattr(user, gin, vfs.SetAttr{Mode: &mode}), unix.EPERM)
	require.NoError(t, v.Setattr(root, gin, vfs.SetAttr{Mode: &mode}))
	h, err := v.OpenInode(user, gin, unix.O_RDONLY)
	require.NoError(t, err)
	require.NoError(t, h.Close())
	size := int64(7)
	require.NoError(t, v.Setattr(root, gin, vfs.SetAttr{Size: &size}))
	require.EqualValues(t, 7, v.Getattr(gin).Size)
	require.ErrorIs(t, v.Setattr(root, d, vfs.SetAttr{Size: &size}), unix.EISDIR)

	// Get keeps an unlinked inode alive until Put.
	require.True(t, v.Get(gin))
	require.NoError(t, v.Unlink(root, "/d/g"))
	require.True(t, v.Alive(gin))
	v.Put(gin)
	require.False(t, v.Alive(gin))
}

// CreateAt is the creation path BPF_OBJ_PIN uses: filename_create's checks,
// then the caller's function inside the transaction.
func TestCreateAt(t *testing.T) {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	c := &vfs.Caller{}
	mk := func(tx *vfs.Txn, dir *vfs.Inode, name string) (*vfs.Inode, error) {
		if err := tx.CheckMayCreate(c, dir); err != nil {
			return nil, err
		}
		in := tx.NewInode(dir.Superblock(), vfs.InodeAttr{Mode: vfs.S_IFREG | 0600})
		tx.AddChild(dir, name, in)
		return in, nil
	}
	in, err := v.CreateAt(c, "/pin", mk)
	require.NoError(t, err)
	require.EqualValues(t, 1, v.Nlink(in))
	for path, want := range map[string]error{
		"/pin":                          unix.EEXIST,
		"/pin/x":                        unix.ENOTDIR,
		"/nope/x":                       unix.ENOENT,
		"/new/":                         unix.ENOENT,
		"/":                             unix.EEXIST,
		"/..":                           unix.EEXIST,
		"":                              unix.ENOENT,
		"/" + string(make([]byte, 300)): unix.ENAMETOOLONG,
	} {
		_, err := v.CreateAt(c, path, mk)
		require.ErrorIs(t, err, want, path)
	}
}

// Mount and umount need privilege; a superblock is mounted once.
func TestMountErrors(t *testing.T) {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	root := &vfs.Caller{}
	user := &vfs.Caller{Cred: vfs.Cred{UID: 1000, GID: 1000}}
	require.NoError(t, v.Mkdir(root, "/m", 0777))
	require.NoError(t, v.Mkdir(root, "/n", 0777))
	f, err := v.Open(root, "/f", unix.O_CREAT|unix.O_RDONLY, 0644)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	sb := vfs.NewRamFS(v, 0755)
	require.ErrorIs(t, v.Mount(user, "/m", sb), unix.EPERM)
	require.ErrorIs(t, v.Mount(root, "/nope", sb), unix.ENOENT)
	require.ErrorIs(t, v.Mount(root, "/f", sb), unix.ENOTDIR)
	require.NoError(t, v.Mount(root, "/m", sb))
	require.ErrorIs(t, v.Mount(root, "/n", sb), unix.EBUSY)
	require.ErrorIs(t, v.Unmount(user, "/m"), unix.EPERM)
	require.ErrorIs(t, v.Unmount(root, "/n"), unix.EINVAL)
	st, err := v.Statfs(root, "/m")
	require.NoError(t, err)
	require.EqualValues(t, vfs.RamfsMagic, st.Type)
	require.Equal(t, sb.Dev(), st.Fsid)
	require.NoError(t, v.Unmount(root, "/m"))
	require.ErrorIs(t, v.Mount(root, "/n", sb), unix.EINVAL, "unmounting killed the superblock")
}
