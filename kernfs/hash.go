package kernfs

import (
	"math"
	"sort"

	"github.com/simfs/simfs/vfs"
)

// goldenRatio64 is GOLDEN_RATIO_64 from <linux/hash.h>.
const goldenRatio64 = 0x61C8864680B583EB

// NameHash is kernfs_name_hash for a node without a namespace tag: the
// dcache string hash (init_name_hash(0), partial_name_hash over the bytes,
// end_name_hash = hash_long(hash, 32) on 64-bit) cut to 31 bits, with 0, 1
// and INT_MAX reserved for ".", ".." and the end of a directory.
// Directories list their entries in (hash, name) order. The bytes are
// unsigned: Linux builds with -funsigned-char since 6.2 (before that, x86's
// signed char hashed bytes >= 0x80 differently; the differential test in
// package cgroup checks names with such bytes against the running kernel).
func NameHash(name string) uint32 {
	var h uint64
	for i := 0; i < len(name); i++ {
		c := uint64(name[i])
		h = (h + (c << 4) + (c >> 4)) * 11
	}
	e := uint32((h * goldenRatio64) >> 32)
	e &= 0x7fffffff
	if e < 2 {
		e += 2
	}
	if e >= math.MaxInt32 {
		e = math.MaxInt32 - 1
	}
	return e
}

// less orders two names as kernfs_name_compare does for nodes without
// namespace tags.
func less(ha uint32, a string, hb uint32, b string) bool {
	if ha != hb {
		return ha < hb
	}
	return a < b
}

type direntSorter struct {
	ents   []vfs.Dirent
	hashes []uint32
}

func (s direntSorter) Len() int { return len(s.ents) }
func (s direntSorter) Less(i, j int) bool {
	return less(s.hashes[i], s.ents[i].Name, s.hashes[j], s.ents[j].Name)
}
func (s direntSorter) Swap(i, j int) {
	s.ents[i], s.ents[j] = s.ents[j], s.ents[i]
	s.hashes[i], s.hashes[j] = s.hashes[j], s.hashes[i]
}

// SortDirents implements vfs.DirOrder: readdir lists a kernfs directory in
// its rbtree order, (kernfs_name_hash, name), not in creation order.
func (r *Root) SortDirents(ents []vfs.Dirent) {
	hs := make([]uint32, len(ents))
	for i := range ents {
		hs[i] = NameHash(ents[i].Name)
	}
	sort.Sort(direntSorter{ents: ents, hashes: hs})
}
