package cgroup_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fresh is hugetlb's limit before any write: PAGE_COUNTER_MAX pages.
const fresh = "9223372036854771712\n"

// hugetlbSpecs are one hstate's files in creation order, fresh.
func hugetlbSpecs(size string) []fileSpec {
	p := "hugetlb." + size + "."
	return []fileSpec{
		{p + "max", 0644, fresh, 0},
		{p + "rsvd.max", 0644, fresh, 0},
		{p + "current", 0444, "0\n", 0},
		{p + "rsvd.current", 0444, "0\n", 0},
		{p + "events", 0444, "max 0\n", 0},
		{p + "events.local", 0444, "max 0\n", 0},
		{p + "numa_stat", 0444, "total=0 N0=0\n", 0},
	}
}

func hugetlbNames(t *testing.T, e *env, rel string) []string {
	t.Helper()
	ents, err := e.v.ReadDir(e.c, e.p(rel))
	require.NoError(t, err)
	var ns []string
	for _, de := range ents {
		if strings.HasPrefix(de.Name, "hugetlb.") {
			ns = append(ns, de.Name)
		}
	}
	sort.Strings(ns)
	return ns
}

// checkHugetlb checks a child's hugetlb files, the first with id first,
// and that it has no other files than them and the base ones.
func checkHugetlb(t *testing.T, e *env, dir string, first uint64, uid, gid uint32, specs []fileSpec) {
	t.Helper()
	for i, f := range specs {
		rel := dir + "/" + f.name
		st, err := e.v.Stat(e.c, e.p(rel))
		require.NoError(t, err, rel)
		require.Equal(t, first+uint64(i), st.Ino, "%s: ids in creation order", rel)
		require.Equal(t, vfs.S_IFREG|f.mode, st.Mode, rel)
		require.Equal(t, uint32(1), st.Nlink, rel)
		require.Equal(t, int64(0), st.Size, rel)
		require.Equal(t, uid, st.UID, rel)
		require.Equal(t, gid, st.GID, rel)
		require.Equal(t, f.content, e.mustRead(t, rel), rel)
	}
	ents, err := e.v.ReadDir(e.c, e.p(dir))
	require.NoError(t, err)
	require.Len(t, ents, len(childFiles())+len(specs))
}

func TestHugetlbFiles(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	a := e.mkdir(t, "a")
	require.Empty(t, hugetlbNames(t, e, ""), "the root has none (CFTYPE_NOT_ON_ROOT)")
	require.Empty(t, hugetlbNames(t, e, "a"), "a controller the parent does not enable has no files")

	// Enabling creates the files in the existing child, after every id
	// taken so far, 1GB first (the hstate order), owned by the writer.
	st, err := e.v.Stat(e.c, e.p("a/cgroup.pressure"))
	require.NoError(t, err)
	user := &vfs.Caller{Cred: vfs.Cred{UID: 1000, GID: 1001}}
	require.NoError(t, e.v.Chown(e.c, e.p("cgroup.subtree_control"), 1000, 1001))
	_, err = e.writeAs(user, "cgroup.subtree_control", "+hugetlb")
	require.NoError(t, err)
	specs := append(hugetlbSpecs("1GB"), hugetlbSpecs("2MB")...)
	checkHugetlb(t, e, "a", st.Ino+1, 1000, 1001, specs)
	require.Empty(t, hugetlbNames(t, e, ""))

	// A cgroup made afterwards has them right after its base files,
	// owned by its creator.
	b := e.mkdir(t, "b")
	checkHugetlb(t, e, "b", b.ID()+uint64(len(childFiles()))+1, 0, 0, specs)
	require.Equal(t, a.ID()+uint64(len(childFiles())+1), b.ID()-uint64(len(specs)),
		"a's hugetlb files took the ids between a's files and b")
}

func TestHugetlbWrites(t *testing.T) {
	for _, tc := range []struct {
		file, value string
		err         unix.Errno
		want        string // read back; "" means unchanged (fresh)
	}{
		{"2MB.max", "0", 0, "0\n"},
		{"2MB.max", "max", 0, "max\n"},
		{"2MB.max", "max\n", 0, "max\n"},
		{"2MB.max", "max ", 0, "max\n"},
		{"2MB.max", " \tmax\n", 0, "max\n"},
		{"2MB.max", "MAX", unix.EINVAL, ""},
		{"2MB.max", "maxx", unix.EINVAL, ""},
		{"2MB.max", "2097152", 0, "2097152\n"},
		{"2MB.max", "2097151", 0, "0\n"}, // rounded down to the huge page
		{"2MB.max", "4194304", 0, "4194304\n"},
		{"2MB.max", "6291455", 0, "4194304\n"},
		{"2MB.max", " 4096 ", 0, "0\n"},
		{"2MB.max", "1k", 0, "0\n"},
		{"2MB.max", "4096k", 0, "4194304\n"},
		{"2MB.max", "2M", 0, "2097152\n"},
		{"2MB.max", "2m", 0, "2097152\n"},
		{"2MB.max", "3M", 0, "2097152\n"},
		{"2MB.max", "1G", 0, "1073741824\n"},
		{"2MB.max", "1g", 0, "1073741824\n"},
		{"2MB.max", "1T", 0, "1099511627776\n"},
		{"2MB.max", "1P", 0, "1125899906842624\n"},
		{"2MB.max", "1E", 0, "1152921504606846976\n"},
		{"2MB.max", "16E", 0, "0\n"},                   // the shift wraps
		{"2MB.max", "17E", 0, "1152921504606846976\n"}, // to 1E
		{"2MB.max", "k", 0, "0\n"},
		{"2MB.max", "E", 0, "0\n"},
		{"2MB.max", "0x200000", 0, "2097152\n"},
		{"2MB.max", "0X200000", 0, "2097152\n"},
		{"2MB.max", "0x1g", 0, "1073741824\n"},
		{"2MB.max", "010000000", 0, "2097152\n"},
		{"2MB.max", "\n", 0, "0\n"}, // nothing at all is 0
		{"2MB.max", " ", 0, "0\n"},
		{"2MB.max", "2M\x005", 0, "2097152\n"},
		{"2MB.max", "2MB", unix.EINVAL, ""},
		{"2MB.max", "1G1", unix.EINVAL, ""},
		{"2MB.max", "1.5G", unix.EINVAL, ""},
		{"2MB.max", "08", unix.EINVAL, ""},
		{"2MB.max", "0x", unix.EINVAL, ""},
		{"2MB.max", "-1", unix.EINVAL, ""},
		{"2MB.max", "+1", unix.EINVAL, ""},
		{"2MB.max", "abc", unix.EINVAL, ""},
		{"2MB.max", "1 2", unix.EINVAL, ""},
		// At most PAGE_COUNTER_MAX pages, rounded down: the largest
		// settable limit reads "max".
		{"2MB.max", "9223372036854775807", 0, "max\n"},
		{"2MB.max", "9223372036854771712", 0, "max\n"},
		{"2MB.max", "9223372036852678656", 0, "max\n"},
		{"2MB.max", "9223372036852678655", 0, "9223372036850581504\n"},
		{"2MB.max", "18446744073709551615", 0, "max\n"},
		{"2MB.max", "18446744073709551616", 0, "0\n"},                     // wraps to 0
		{"2MB.max", "99999999999999999999999", 0, "200376420518592512\n"}, // wraps
		{"2MB.rsvd.max", "3M", 0, "2097152\n"},
		{"2MB.rsvd.max", "max", 0, "max\n"},
		{"2MB.rsvd.max", "x", unix.EINVAL, ""},
		{"1GB.max", "1G", 0, "1073741824\n"},
		{"1GB.max", "3G", 0, "3221225472\n"},
		{"1GB.max", "1073741823", 0, "0\n"},
		{"1GB.max", "2M", 0, "0\n"},
		{"1GB.max", "9223372035781033984", 0, "max\n"},
		{"1GB.max", "9223372035781033983", 0, "9223372034707292160\n"},
		{"1GB.rsvd.max", "2G", 0, "2147483648\n"},
		{"2MB.current", "0", unix.EINVAL, "0\n"},
		{"2MB.rsvd.current", "0", unix.EINVAL, "0\n"},
		{"2MB.events", "0", unix.EINVAL, "max 0\n"},
		{"2MB.events.local", "0", unix.EINVAL, "max 0\n"},
		{"2MB.numa_stat", "0", unix.EINVAL, "total=0 N0=0\n"},
	} {
		t.Run(fmt.Sprintf("%s=%q", tc.file, tc.value), func(t *testing.T) {
			e := newEnv(t, cgroup.Options{})
			e.mkdir(t, "a")
			_, err := e.write("cgroup.subtree_control", "+hugetlb")
			require.NoError(t, err)
			rel := "a/hugetlb." + tc.file
			n, err := e.write(rel, tc.value)
			if tc.err != 0 {
				require.ErrorIs(t, err, tc.err)
			} else {
				require.NoError(t, err)
				require.Equal(t, len(tc.value), n)
			}
			want := tc.want
			if want == "" {
				want = fresh
			}
			require.Equal(t, want, e.mustRead(t, rel))
			// The other limits are untouched.
			for _, f := range []string{"2MB.max", "2MB.rsvd.max", "1GB.max", "1GB.rsvd.max"} {
				if f != tc.file {
					require.Equal(t, fresh, e.mustRead(t, "a/hugetlb."+f), f)
				}
			}
		})
	}
}

func TestHugetlbLifecycle(t *testing.T) {
	all := []string{"hugetlb.1GB.current", "hugetlb.1GB.events", "hugetlb.1GB.events.local", "hugetlb.1GB.max",
		"hugetlb.1GB.numa_stat", "hugetlb.1GB.rsvd.current", "hugetlb.1GB.rsvd.max", "hugetlb.2MB.current",
		"hugetlb.2MB.events", "hugetlb.2MB.events.local", "hugetlb.2MB.max", "hugetlb.2MB.numa_stat",
		"hugetlb.2MB.rsvd.current", "hugetlb.2MB.rsvd.max"}
	ctl := func(t *testing.T, e *env, rel, v string, want unix.Errno) {
		t.Helper()
		_, err := e.write(strings.TrimPrefix(rel+"/cgroup.subtree_control", "/"), v)
		if want == 0 {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, want)
		}
	}
	t.Run("disable removes and enable renews", func(t *testing.T) {
		e := newEnv(t, cgroup.Options{})
		e.mkdir(t, "a")
		ctl(t, e, "", "+hugetlb", 0)
		_, err := e.write("a/hugetlb.2MB.max", "4M")
		require.NoError(t, err)
		f, err := e.v.Open(e.c, e.p("a/hugetlb.2MB.max"), unix.O_RDWR, 0)
		require.NoError(t, err)
		defer f.Close()
		ctl(t, e, "", "-hugetlb", 0)
		require.Empty(t, hugetlbNames(t, e, "a"))
		_, err = f.ReadAt(make([]byte, 10), 0)
		require.ErrorIs(t, err, unix.ENODEV, "an open file of a killed css")
		_, err = f.Write([]byte("1G"))
		require.ErrorIs(t, err, unix.ENODEV)
		require.Contains(t, e.mustRead(t, "a/cgroup.stat"), "nr_subsys_hugetlb 0\n")
		ctl(t, e, "", "+hugetlb", 0)
		require.Equal(t, all, hugetlbNames(t, e, "a"))
		require.Equal(t, fresh, e.mustRead(t, "a/hugetlb.2MB.max"), "a new css")
	})
	t.Run("grandchild", func(t *testing.T) {
		e := newEnv(t, cgroup.Options{})
		e.mkdir(t, "a")
		e.mkdir(t, "a/b")
		ctl(t, e, "", "+hugetlb", 0)
		require.Equal(t, all, hugetlbNames(t, e, "a"))
		require.Empty(t, hugetlbNames(t, e, "a/b"), "only where the parent enables it")
		ctl(t, e, "a", "+hugetlb", 0)
		require.Equal(t, all, hugetlbNames(t, e, "a/b"))
		e.mkdir(t, "a/b/c")
		require.Empty(t, hugetlbNames(t, e, "a/b/c"))
		ctl(t, e, "", "-hugetlb", unix.EBUSY)
		ctl(t, e, "a", "-hugetlb", 0)
		require.Empty(t, hugetlbNames(t, e, "a/b"))
		require.Equal(t, all, hugetlbNames(t, e, "a"))
	})
	t.Run("threaded", func(t *testing.T) {
		e := newEnv(t, cgroup.Options{})
		e.mkdir(t, "a")
		e.mkdir(t, "a/t")
		_, err := e.write("a/t/cgroup.type", "threaded")
		require.NoError(t, err)
		ctl(t, e, "a", "+hugetlb", unix.ENOENT) // the root does not enable it
		ctl(t, e, "", "+hugetlb", 0)
		ctl(t, e, "a", "+hugetlb", unix.EOPNOTSUPP) // a thread root
		ctl(t, e, "a/t", "+hugetlb", unix.ENOENT)
		require.Empty(t, hugetlbNames(t, e, "a/t"))
		// Only the root can enable it and have a threaded child: becoming
		// threaded kills the child's css.
		e.mkdir(t, "r")
		require.Equal(t, all, hugetlbNames(t, e, "r"))
		_, err = e.write("r/cgroup.type", "threaded")
		require.NoError(t, err)
		require.Empty(t, hugetlbNames(t, e, "r"))
		require.Equal(t, "", e.mustRead(t, "r/cgroup.controllers"))
		// Under a cgroup that enables it, no child can become threaded.
		e.mkdir(t, "h")
		ctl(t, e, "h", "+hugetlb", 0)
		e.mkdir(t, "h/x")
		_, err = e.write("h/x/cgroup.type", "threaded")
		require.ErrorIs(t, err, unix.EOPNOTSUPP)
		require.Equal(t, all, hugetlbNames(t, e, "h/x"))
	})
	t.Run("rmdir", func(t *testing.T) {
		e := newEnv(t, cgroup.Options{})
		a := e.mkdir(t, "a")
		ctl(t, e, "", "+hugetlb", 0)
		require.NoError(t, e.h.Rmdir(e.c, a))
		require.Contains(t, e.mustRead(t, "cgroup.stat"), "nr_subsys_hugetlb 1\n")
		e.mkdir(t, "a")
		require.Equal(t, all, hugetlbNames(t, e, "a"))
	})
}

func TestHugetlbOptions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes []uint64
		nodes []int
		err   bool
		files []string // of a child, in creation order
		numa  string
	}{
		{name: "none", sizes: []uint64{}},
		{name: "2MB only", sizes: []uint64{2 << 20}, files: []string{"hugetlb.2MB.max", "hugetlb.2MB.rsvd.max",
			"hugetlb.2MB.current", "hugetlb.2MB.rsvd.current", "hugetlb.2MB.events", "hugetlb.2MB.events.local",
			"hugetlb.2MB.numa_stat"}, numa: "total=0 N0=0\n"},
		{name: "64KB and 16GB on two nodes", sizes: []uint64{64 << 10, 16 << 30}, nodes: []int{0, 2},
			files: []string{"hugetlb.64KB.max", "hugetlb.64KB.rsvd.max", "hugetlb.64KB.current",
				"hugetlb.64KB.rsvd.current", "hugetlb.64KB.events", "hugetlb.64KB.events.local",
				"hugetlb.64KB.numa_stat", "hugetlb.16GB.max", "hugetlb.16GB.rsvd.max", "hugetlb.16GB.current",
				"hugetlb.16GB.rsvd.current", "hugetlb.16GB.events", "hugetlb.16GB.events.local",
				"hugetlb.16GB.numa_stat"}, numa: "total=0 N0=0 N2=0\n"},
		{name: "not a power of two", sizes: []uint64{3 << 20}, err: true},
		{name: "too small", sizes: []uint64{8 << 10}, err: true},
		{name: "twice", sizes: []uint64{2 << 20, 2 << 20}, err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
			_, err := cgroup.New(v, cgroup.Options{HugePageSizes: tc.sizes, MemoryNodes: tc.nodes})
			if tc.err {
				require.ErrorIs(t, err, unix.EINVAL)
				return
			}
			require.NoError(t, err)
			e := newEnv(t, cgroup.Options{HugePageSizes: tc.sizes, MemoryNodes: tc.nodes})
			a := e.mkdir(t, "a")
			_, err = e.write("cgroup.subtree_control", "+hugetlb")
			require.NoError(t, err)
			var got []string
			ents, err := e.v.ReadDir(e.c, e.p("a"))
			require.NoError(t, err)
			byIno := map[uint64]string{}
			for _, de := range ents {
				if strings.HasPrefix(de.Name, "hugetlb.") {
					st, err := e.v.Stat(e.c, e.p("a/"+de.Name))
					require.NoError(t, err)
					byIno[st.Ino] = de.Name
				}
			}
			for id := a.ID(); len(got) < len(byIno); id++ {
				if n, ok := byIno[id]; ok {
					got = append(got, n)
				}
			}
			require.Equal(t, tc.files, got)
			for _, f := range tc.files {
				if strings.HasSuffix(f, ".numa_stat") {
					require.Equal(t, tc.numa, e.mustRead(t, "a/"+f))
				}
			}
			if len(tc.sizes) > 0 {
				// The largest settable limit is "max" for every size.
				f := tc.files[0]
				_, err := e.write("a/"+f, "max")
				require.NoError(t, err)
				require.Equal(t, "max\n", e.mustRead(t, "a/"+f))
			}
		})
	}
}
