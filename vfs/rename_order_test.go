package vfs_test

import (
	"sort"
	"testing"

	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// dcacheDirOps is RamFS's directory operations with bpffs's rename.
type dcacheDirOps struct{ vfs.DirOps }

func (d dcacheDirOps) Rename(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, oldName string, newDir *vfs.Inode, newName string, flags uint32) error {
	return vfs.SimpleRenameDcache(t, dir, oldName, newDir, newName, flags)
}

// TestExchangeOrder: after RENAME_EXCHANGE, SimpleRename leaves each name
// where it was in readdir order (tmpfs's offsets), and SimpleRenameDcache
// moves both entries to the head of the dentry list, the entry now at the
// new name newest (bpffs's dcache_readdir lists newest first).
func TestExchangeOrder(t *testing.T) {
	newestFirst := func(ents []vfs.Dirent) []string {
		sort.Slice(ents, func(i, j int) bool { return ents[i].Seq > ents[j].Seq })
		var names []string
		for _, e := range ents {
			names = append(names, e.Name)
		}
		return names
	}
	for _, tc := range []struct {
		name string
		ops  vfs.DirOps
		want []string
	}{
		{"offsets", vfs.RamDirOps(), []string{"d", "c", "b", "a"}},
		{"dcache", dcacheDirOps{vfs.RamDirOps()}, []string{"d", "b", "c", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vfs.New(&vfs.RamFS{}, tc.ops, 0755, vfs.Options{})
			c := vfs.RootCaller()
			for _, n := range []string{"/a", "/b", "/c", "/d"} {
				require.NoError(t, v.Mkdir(c, n, 0755))
			}
			require.NoError(t, v.Rename(c, "/b", "/d", unix.RENAME_EXCHANGE))
			ents, err := v.ReadDir(c, "/")
			require.NoError(t, err)
			require.Equal(t, tc.want, newestFirst(ents))
		})
	}
}
