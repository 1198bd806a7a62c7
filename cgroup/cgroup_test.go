package cgroup_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const (
	pressure    = "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	irqPressure = "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	cpuStat     = "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnice_usec 0\n"
)

// fileSpec is one interface file as Linux 6.18 shows it fresh.
type fileSpec struct {
	name    string
	mode    uint32
	content string // "" and readErr 0: empty
	readErr unix.Errno
}

// childFiles are a fresh child cgroup's files in creation (id) order, as
// on the reference machine (perf_event and hugetlb bound to v2).
func childFiles() []fileSpec {
	return []fileSpec{
		{"cgroup.type", 0644, "domain\n", 0},
		{"cgroup.procs", 0644, "", 0},
		{"cgroup.threads", 0644, "", 0},
		{"cgroup.controllers", 0444, "", 0},
		{"cgroup.subtree_control", 0644, "", 0},
		{"cgroup.events", 0444, "populated 0\nfrozen 0\n", 0},
		{"cgroup.max.descendants", 0644, "max\n", 0},
		{"cgroup.max.depth", 0644, "max\n", 0},
		{"cgroup.stat", 0444, "nr_descendants 0\nnr_subsys_perf_event 1\nnr_subsys_hugetlb 0\nnr_dying_descendants 0\nnr_dying_subsys_perf_event 0\nnr_dying_subsys_hugetlb 0\n", 0},
		{"cgroup.stat.local", 0444, "frozen_usec 0\n", 0},
		{"cgroup.freeze", 0644, "0\n", 0},
		{"cgroup.kill", 0200, "", unix.EINVAL},
		{"cpu.stat", 0444, cpuStat, 0},
		{"cpu.stat.local", 0444, "", 0},
		{"io.pressure", 0644, pressure, 0},
		{"memory.pressure", 0644, pressure, 0},
		{"cpu.pressure", 0644, pressure, 0},
		{"cgroup.pressure", 0644, "1\n", 0},
	}
}

func rootFiles() []fileSpec {
	return []fileSpec{
		{"cgroup.procs", 0644, "", 0},
		{"cgroup.threads", 0644, "", 0},
		{"cgroup.controllers", 0444, "hugetlb\n", 0},
		{"cgroup.subtree_control", 0644, "", 0},
		{"cgroup.max.descendants", 0644, "max\n", 0},
		{"cgroup.max.depth", 0644, "max\n", 0},
		{"cgroup.stat", 0444, "nr_descendants 0\nnr_subsys_perf_event 1\nnr_subsys_hugetlb 1\nnr_dying_descendants 0\nnr_dying_subsys_perf_event 0\nnr_dying_subsys_hugetlb 0\n", 0},
		{"cpu.stat", 0444, cpuStat, 0},
		{"cpu.stat.local", 0444, "", 0},
		{"io.pressure", 0644, pressure, 0},
		{"memory.pressure", 0644, pressure, 0},
		{"cpu.pressure", 0644, pressure, 0},
		{"cgroup.pressure", 0644, "1\n", 0},
	}
}

// lsOrder is `ls -f` of a fresh child cgroup on Linux 6.18.
func lsOrder() []string {
	return []string{"cgroup.events", "io.pressure", "cgroup.procs", "cgroup.max.descendants",
		"cgroup.stat.local", "cpu.stat", "memory.pressure", "cpu.pressure", "cgroup.type", "cgroup.stat",
		"cpu.stat.local", "cgroup.threads", "cgroup.kill", "cgroup.freeze", "cgroup.controllers",
		"cgroup.subtree_control", "cgroup.max.depth", "cgroup.pressure"}
}

func checkFiles(t *testing.T, e *env, dir string, dirIno uint64, uid, gid uint32, specs []fileSpec) {
	t.Helper()
	for i, f := range specs {
		rel := strings.TrimPrefix(dir+"/"+f.name, "/")
		st, err := e.v.Stat(e.c, e.p(rel))
		require.NoError(t, err, rel)
		require.Equal(t, dirIno+1+uint64(i), st.Ino, "%s: files take ids in creation order after the directory", rel)
		require.Equal(t, vfs.S_IFREG|f.mode, st.Mode, rel)
		require.Equal(t, uint32(1), st.Nlink, rel)
		require.Equal(t, int64(0), st.Size, rel)
		require.Equal(t, uid, st.UID, rel)
		require.Equal(t, gid, st.GID, rel)
		got, err := e.read(rel)
		if f.readErr != 0 {
			require.ErrorIs(t, err, f.readErr, rel)
			continue
		}
		require.NoError(t, err, rel)
		require.Equal(t, f.content, got, rel)
	}
	ents, err := e.v.ReadDir(e.c, e.p(dir))
	require.NoError(t, err)
	require.Len(t, ents, len(specs))
}

func TestFreshRoot(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	st, err := e.v.Stat(e.c, mnt)
	require.NoError(t, err)
	require.Equal(t, uint64(1), st.Ino, "the root cgroup is id 1")
	require.Equal(t, uint32(vfs.S_IFDIR|0555), st.Mode)
	require.Equal(t, uint32(2), st.Nlink)
	require.Equal(t, uint64(1), e.h.Root().ID())
	checkFiles(t, e, "", 1, 0, 0, rootFiles())
	sfs, err := e.v.Statfs(e.c, mnt)
	require.NoError(t, err)
	require.Equal(t, int64(cgroup.SuperMagic), sfs.Type)
	require.Equal(t, "/", e.h.Root().Path())
	require.Equal(t, 0, e.h.Root().Level())
	require.Nil(t, e.h.Root().Parent())
}

func TestFreshChild(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	require.NoError(t, e.v.Mkdir(e.c, e.p("a"), 0777))
	st, err := e.v.Stat(e.c, e.p("a"))
	require.NoError(t, err)
	require.Equal(t, uint64(15), st.Ino, "after the root (1) and its 13 files")
	require.Equal(t, uint32(vfs.S_IFDIR|0755), st.Mode, "mkdir mode with the umask applied")
	require.Equal(t, uint32(2), st.Nlink)
	checkFiles(t, e, "a", 15, 0, 0, childFiles())
	ents, err := e.v.ReadDir(e.c, e.p("a"))
	require.NoError(t, err)
	var names []string
	for _, de := range ents {
		names = append(names, de.Name)
	}
	require.Equal(t, lsOrder(), names, "readdir in kernfs_name_hash order")
	st, err = e.v.Stat(e.c, mnt)
	require.NoError(t, err)
	require.Equal(t, uint32(3), st.Nlink, "2 + subdirectories")

	// The next cgroup's id: one plus the 18 files after this one.
	b := e.mkdir(t, "b")
	require.Equal(t, uint64(15+19), b.ID())
	a, err := e.h.Lookup("a")
	require.NoError(t, err)
	require.Equal(t, uint64(15), a.ID())
	require.Equal(t, "a", a.Name())
	require.Equal(t, "/a", a.Path())
	require.Equal(t, 1, a.Level())
	require.Same(t, e.h.Root(), a.Parent())
	require.Same(t, a.Node(), kernfs.NodeOf(mustResolve(t, e, "a")))
}

func mustResolve(t *testing.T, e *env, rel string) *vfs.Inode {
	t.Helper()
	in, err := e.v.Resolve(e.c, e.p(rel), true)
	require.NoError(t, err)
	return in
}

func TestVariants(t *testing.T) {
	// No controllers at all, no PSI.
	e := newEnv(t, cgroup.Options{Subsystems: []cgroup.Subsys{}, NoPSI: true})
	require.Equal(t, "", e.mustRead(t, "cgroup.controllers"))
	require.Equal(t, "nr_descendants 0\nnr_dying_descendants 0\n", e.mustRead(t, "cgroup.stat"))
	_, err := e.read("cpu.pressure")
	require.ErrorIs(t, err, unix.ENOENT)
	cg := e.mkdir(t, "a")
	require.Equal(t, uint64(1+9+1), cg.ID(), "root with 9 files")

	// irq.pressure (CONFIG_IRQ_TIME_ACCOUNTING) has a "full" line only.
	e = newEnv(t, cgroup.Options{IRQPressure: true})
	require.Equal(t, irqPressure, e.mustRead(t, "irq.pressure"))
	e.mkdir(t, "a")
	require.Equal(t, irqPressure, e.mustRead(t, "a/irq.pressure"))
	st, err := e.v.Stat(e.c, e.p("a/cgroup.pressure"))
	require.NoError(t, err)
	ir, err := e.v.Stat(e.c, e.p("a/irq.pressure"))
	require.NoError(t, err)
	require.Equal(t, ir.Ino+1, st.Ino, "irq.pressure comes just before cgroup.pressure")

	_, err = cgroup.New(vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{}),
		cgroup.Options{Subsystems: []cgroup.Subsys{{Name: "a"}, {Name: "a"}}})
	require.ErrorIs(t, err, unix.EINVAL)
	_, err = cgroup.New(vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{}),
		cgroup.Options{Subsystems: make([]cgroup.Subsys, 17)})
	require.ErrorIs(t, err, unix.EINVAL)
}

func TestMkdirRmdirErrnos(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	c := e.c
	e.mkdir(t, "a")
	e.mkdir(t, "a/b")
	tk, err := e.h.Spawn(mustLookup(t, e, "a/b"))
	require.NoError(t, err)
	e.mkdir(t, "p")
	for _, tc := range []struct {
		name string
		op   func() error
		err  unix.Errno
	}{
		{"mkdir with newline", func() error { return e.v.Mkdir(c, e.p("x\ny"), 0755) }, unix.EINVAL},
		{"mkdir existing dir", func() error { return e.v.Mkdir(c, e.p("a"), 0755) }, unix.EEXIST},
		{"mkdir over a file", func() error { return e.v.Mkdir(c, e.p("a/cgroup.procs"), 0755) }, unix.EEXIST},
		{"mkdir in a file", func() error { return e.v.Mkdir(c, e.p("a/cgroup.procs/x"), 0755) }, unix.ENOTDIR},
		{"rmdir populated", func() error { return e.v.Rmdir(c, e.p("a/b")) }, unix.EBUSY},
		{"rmdir with a live child", func() error { return e.v.Rmdir(c, e.p("a")) }, unix.EBUSY},
		{"rmdir root", func() error { return e.v.Rmdir(c, mnt) }, unix.EBUSY},
		{"rmdir missing", func() error { return e.v.Rmdir(c, e.p("nope")) }, unix.ENOENT},
		{"rmdir a file", func() error { return e.v.Rmdir(c, e.p("a/cgroup.procs")) }, unix.ENOTDIR},
		{"rmdir .", func() error { return e.v.Rmdir(c, e.p("a/.")) }, unix.EINVAL},
		{"rmdir ..", func() error { return e.v.Rmdir(c, e.p("a/b/..")) }, unix.ENOTEMPTY},
		{"rename cgroup", func() error { return e.v.Rename(c, e.p("p"), e.p("q"), 0) }, unix.EPERM},
		{"rename across", func() error { return e.v.Rename(c, e.p("p"), e.p("a/q"), 0) }, unix.EPERM},
		{"rename file", func() error { return e.v.Rename(c, e.p("p/cgroup.procs"), e.p("p/x"), 0) }, unix.EPERM},
		{"rename dir over a file", func() error { return e.v.Rename(c, e.p("p"), e.p("a/cgroup.procs"), 0) }, unix.ENOTDIR},
		{"rename with flags", func() error { return e.v.Rename(c, e.p("p"), e.p("q"), unix.RENAME_NOREPLACE) }, unix.EINVAL},
		{"rename noreplace onto existing", func() error { return e.v.Rename(c, e.p("p"), e.p("a"), unix.RENAME_NOREPLACE) }, unix.EEXIST},
		{"rename to another fs", func() error { return e.v.Rename(c, e.p("p"), "/q", 0) }, unix.EXDEV},
		{"unlink a file", func() error { return e.v.Unlink(c, e.p("p/cgroup.procs")) }, unix.EPERM},
		{"unlink a cgroup", func() error { return e.v.Unlink(c, e.p("p")) }, unix.EISDIR},
		{"create a file", func() error {
			_, err := e.v.Open(c, e.p("p/new"), unix.O_CREAT|unix.O_WRONLY, 0644)
			return err
		}, unix.EACCES},
		{"mknod", func() error { return e.v.Mknod(c, e.p("p/n"), vfs.S_IFREG|0644, 0) }, unix.EACCES},
		{"mkfifo", func() error { return e.v.Mknod(c, e.p("p/n"), vfs.S_IFIFO|0644, 0) }, unix.EPERM},
		{"symlink", func() error { return e.v.Symlink(c, "x", e.p("p/l")) }, unix.EPERM},
		{"link", func() error { return e.v.Link(c, e.p("p/cgroup.procs"), e.p("p/l")) }, unix.EPERM},
		{"open dir for writing", func() error {
			_, err := e.v.Open(c, e.p("p"), unix.O_RDWR, 0)
			return err
		}, unix.EISDIR},
		{"open file O_DIRECTORY", func() error {
			_, err := e.v.Open(c, e.p("p/cgroup.procs"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
			return err
		}, unix.ENOTDIR},
		{"rename to itself", func() error { return e.v.Rename(c, e.p("p"), e.p("p"), 0) }, 0},
		{"chmod", func() error { return e.v.Chmod(c, e.p("p/cgroup.procs"), 0600) }, 0},
		{"chown", func() error { return e.v.Chown(c, e.p("p/cgroup.procs"), 1000, 1000) }, 0},
		{"truncate", func() error { return e.v.Truncate(c, e.p("p/cgroup.procs"), 100) }, 0},
	} {
		err := tc.op()
		require.Equal(t, tc.err, errnoOf(err), "%s: %v", tc.name, err)
	}
	st, err := e.v.Stat(c, e.p("p/cgroup.procs"))
	require.NoError(t, err)
	require.Equal(t, int64(0), st.Size)
	require.Equal(t, uint32(vfs.S_IFREG|0600), st.Mode)
	tk.Exit()
	require.NoError(t, e.v.Rmdir(c, e.p("a/b")))
	require.NoError(t, e.v.Rmdir(c, e.p("a")))
	// The name can be used again at once, with a new id.
	old := mustLookup(t, e, "p")
	require.NoError(t, e.v.Rmdir(c, e.p("p")))
	again := e.mkdir(t, "p")
	require.Greater(t, again.ID(), old.ID())
	require.True(t, old.Dead())
}

func mustLookup(t testing.TB, e *env, rel string) *cgroup.Cgroup {
	t.Helper()
	cg, err := e.h.Lookup(rel)
	require.NoError(t, err, rel)
	return cg
}

func TestMkdirOwnership(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	e.mkdir(t, "deleg")
	// Delegate: chown the directory and the files that matter.
	for _, f := range []string{"deleg", "deleg/cgroup.procs", "deleg/cgroup.threads", "deleg/cgroup.subtree_control"} {
		require.NoError(t, e.v.Chown(e.c, e.p(f), 1000, 1000))
	}
	user := &vfs.Caller{Cred: vfs.Cred{UID: 1000, GID: 1000}, Umask: 027}
	require.NoError(t, e.v.Mkdir(user, e.p("deleg/u"), 0777))
	st, err := e.v.Stat(e.c, e.p("deleg/u"))
	require.NoError(t, err)
	require.Equal(t, uint32(vfs.S_IFDIR|0750), st.Mode)
	require.Equal(t, uint32(1000), st.UID)
	require.Equal(t, uint32(1000), st.GID)
	u := mustLookup(t, e, "deleg/u")
	specs := childFiles()
	checkFiles(t, e, "deleg/u", u.ID(), 1000, 1000, specs)
	// Not delegated: mkdir in the root is EACCES for the user.
	require.ErrorIs(t, e.v.Mkdir(user, e.p("nope"), 0755), unix.EACCES)
	// The user may write its own cgroup's files but not root-owned ones.
	_, err = e.writeAs(user, "deleg/u/cgroup.max.depth", "3")
	require.NoError(t, err)
	_, err = e.writeAs(user, "deleg/cgroup.freeze", "1")
	require.ErrorIs(t, err, unix.EACCES)
	require.NoError(t, e.v.Rmdir(user, e.p("deleg/u")))
}

func TestHierarchyLimits(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	e.mkdir(t, "m")
	for _, tc := range []struct {
		file, data string
		n          int
		err        unix.Errno
		show       string
	}{
		{"cgroup.max.depth", "0", 1, 0, "0\n"},
		{"cgroup.max.depth", "max", 3, 0, "max\n"},
		{"cgroup.max.depth", " 6 \n", 4, 0, "6\n"},
		{"cgroup.max.depth", "0x10", 4, 0, "16\n"},
		{"cgroup.max.depth", "010", 3, 0, "8\n"},
		{"cgroup.max.depth", "+3", 2, 0, "3\n"},
		{"cgroup.max.depth", "-0", 2, 0, "0\n"},
		{"cgroup.max.depth", "5\x007", 3, 0, "5\n"},
		{"cgroup.max.depth", "2147483647", 10, 0, "max\n"},
		{"cgroup.max.depth", "2147483648", 0, unix.ERANGE, ""},
		{"cgroup.max.depth", "-1", 0, unix.ERANGE, ""},
		{"cgroup.max.depth", "99999999999999999999", 0, unix.ERANGE, ""},
		{"cgroup.max.depth", strings.Repeat("1", 4096), 0, unix.ERANGE, ""},
		{"cgroup.max.depth", strings.Repeat("1", 4097), 0, unix.E2BIG, ""},
		{"cgroup.max.depth", "maxx", 0, unix.EINVAL, ""},
		{"cgroup.max.depth", "\n", 0, unix.EINVAL, ""},
		{"cgroup.max.depth", "abc", 0, unix.EINVAL, ""},
		{"cgroup.max.depth", "5 6", 0, unix.EINVAL, ""},
		{"cgroup.max.depth", "08", 0, unix.EINVAL, ""},
		{"cgroup.max.depth", "0x", 0, unix.EINVAL, ""},
		{"cgroup.max.depth", "-+3", 0, unix.EINVAL, ""},
		{"cgroup.max.depth", "", 0, 0, ""},
		{"cgroup.max.descendants", "7", 1, 0, "7\n"},
		{"cgroup.max.descendants", "max\n", 4, 0, "max\n"},
		{"cgroup.max.descendants", "-5", 0, unix.ERANGE, ""},
		{"cgroup.max.descendants", "x", 0, unix.EINVAL, ""},
	} {
		n, err := e.write("m/"+tc.file, tc.data)
		require.Equal(t, tc.err, errnoOf(err), "%s %q", tc.file, tc.data)
		if tc.err == 0 {
			require.Equal(t, tc.n, n, "%s %q", tc.file, tc.data)
			if tc.show != "" {
				require.Equal(t, tc.show, e.mustRead(t, "m/"+tc.file), "%s %q", tc.file, tc.data)
			}
		}
	}
	_, err := e.write("m/cgroup.max.depth", "0")
	require.NoError(t, err)
	require.ErrorIs(t, e.v.Mkdir(e.c, e.p("m/c"), 0755), unix.EAGAIN)
	_, err = e.write("m/cgroup.max.depth", "1")
	require.NoError(t, err)
	e.mkdir(t, "m/c")
	require.ErrorIs(t, e.v.Mkdir(e.c, e.p("m/c/d"), 0755), unix.EAGAIN, "depth counts from each ancestor")
	_, err = e.write("m/cgroup.max.descendants", "1")
	require.NoError(t, err)
	require.ErrorIs(t, e.v.Mkdir(e.c, e.p("m/e"), 0755), unix.EAGAIN)
	// Lowering a limit below what exists is allowed.
	_, err = e.write("m/cgroup.max.descendants", "0")
	require.NoError(t, err)
	require.NoError(t, e.v.Rmdir(e.c, e.p("m/c")))
	require.ErrorIs(t, e.v.Mkdir(e.c, e.p("m/c"), 0755), unix.EAGAIN)
	_, err = e.write("m/cgroup.max.descendants", "1")
	require.NoError(t, err)
	// Dying descendants do not count.
	e.mkdir(t, "m/c")
	// The root's limits apply too.
	_, err = e.write("cgroup.max.depth", "1")
	require.NoError(t, err)
	require.ErrorIs(t, e.v.Mkdir(e.c, e.p("m/c/x"), 0755), unix.EAGAIN)
}

func TestReadOnlyFilesRejectWrites(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	e.mkdir(t, "a")
	for _, f := range []string{"cgroup.events", "cgroup.controllers", "cgroup.stat", "cgroup.stat.local", "cpu.stat", "cpu.stat.local"} {
		_, err := e.write("a/"+f, "1")
		require.ErrorIs(t, err, unix.EINVAL, f)
		n, err := e.write("a/"+f, "")
		require.NoError(t, err, "an empty write returns 0: %s", f)
		require.Equal(t, 0, n)
	}
}

func TestProcsWrites(t *testing.T) {
	e := newEnv(t, cgroup.Options{FirstPid: 500})
	a := e.mkdir(t, "a")
	b := e.mkdir(t, "a/b")
	tk, err := e.h.Spawn(nil)
	require.NoError(t, err)
	require.Equal(t, 500, tk.Pid())
	require.Same(t, e.h.Root(), tk.Cgroup())
	require.Equal(t, "500\n", e.mustRead(t, "cgroup.procs"))
	for _, tc := range []struct {
		data string
		err  unix.Errno
	}{
		{"abc", unix.EINVAL},
		{"\n", unix.EINVAL},
		{"-1", unix.EINVAL},
		{"99999999999", unix.EINVAL},
		{"500 500", unix.EINVAL},
		{"4000000", unix.ESRCH},
		{"0", unix.ESRCH}, // the opener is not a simulated task
		{"", 0},
	} {
		_, err := e.write("a/b/cgroup.procs", tc.data)
		require.Equal(t, tc.err, errnoOf(err), "%q", tc.data)
	}
	n, err := e.write("a/b/cgroup.procs", "500\n")
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Same(t, b, tk.Cgroup())
	require.Equal(t, "500\n", e.mustRead(t, "a/b/cgroup.procs"))
	require.Equal(t, "500\n", e.mustRead(t, "a/b/cgroup.threads"))
	require.Equal(t, "", e.mustRead(t, "cgroup.procs"))
	require.Equal(t, "populated 1\nfrozen 0\n", e.events(t, "a/b"))
	require.Equal(t, "populated 1\nfrozen 0\n", e.events(t, "a"), "populated counts descendants")
	require.True(t, a.Populated())
	// Moving to where it is already is fine.
	_, err = e.write("a/b/cgroup.procs", "500")
	require.NoError(t, err)
	// "0" is the opener's own task.
	me := &vfs.Caller{Task: tk}
	_, err = e.writeAs(me, "a/cgroup.procs", "0")
	require.NoError(t, err)
	require.Same(t, a, tk.Cgroup())
	require.Equal(t, "populated 0\nfrozen 0\n", e.events(t, "a/b"))
	require.Equal(t, "populated 1\nfrozen 0\n", e.events(t, "a"))
	// cgroup.threads moves a thread only within its threaded domain.
	_, err = e.write("a/b/cgroup.threads", "500")
	require.ErrorIs(t, err, unix.EOPNOTSUPP)
	_, err = e.write("a/cgroup.threads", "500")
	require.NoError(t, err)
	// Order of arrival.
	t2, err := e.h.Spawn(b)
	require.NoError(t, err)
	t3, err := e.h.Spawn(a)
	require.NoError(t, err)
	require.NoError(t, e.h.Move(t2, a))
	require.Equal(t, fmt.Sprintf("500\n%d\n%d\n", t3.Pid(), t2.Pid()), e.mustRead(t, "a/cgroup.procs"))
	require.Same(t, e.h.Task(500), tk)
	tk.Exit()
	tk.Exit()
	require.True(t, tk.Exited())
	require.Nil(t, e.h.Task(500))
	_, err = e.write("a/cgroup.procs", "500")
	require.ErrorIs(t, err, unix.ESRCH, "exited")
	require.ErrorIs(t, e.h.Move(tk, b), unix.ESRCH)
	t2.Exit()
	t3.Exit()
	require.Equal(t, "populated 0\nfrozen 0\n", e.events(t, "a"))
}

func TestProcsWritePermission(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	e.mkdir(t, "a")
	e.mkdir(t, "a/b")
	e.mkdir(t, "a/c")
	tk, err := e.h.Spawn(mustLookup(t, e, "a/b"))
	require.NoError(t, err)
	for _, f := range []string{"a", "a/cgroup.procs", "a/c", "a/c/cgroup.procs"} {
		require.NoError(t, e.v.Chown(e.c, e.p(f), 1000, 1000))
	}
	user := &vfs.Caller{Cred: vfs.Cred{UID: 1000, GID: 1000}, Umask: 022}
	pid := fmt.Sprint(tk.Pid())
	// b → c: the common ancestor a's cgroup.procs is writable by the user.
	_, err = e.writeAs(user, "a/c/cgroup.procs", pid)
	require.NoError(t, err)
	// c → b: the user cannot open b's cgroup.procs.
	_, err = e.writeAs(user, "a/b/cgroup.procs", pid)
	require.ErrorIs(t, err, unix.EACCES)
	require.NoError(t, e.v.Mkdir(user, e.p("a/u"), 0755))
	_, err = e.writeAs(user, "a/u/cgroup.procs", pid)
	require.NoError(t, err)
	// u → root: the root's cgroup.procs is not the user's.
	_, err = e.writeAs(user, "cgroup.procs", pid)
	require.ErrorIs(t, err, unix.EACCES)
	// A root-opened fd passed to the user carries root's credentials.
	f, err := e.v.Open(e.c, e.p("a/b/cgroup.procs"), unix.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte(pid))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	// u → b by a user-opened fd of a user-owned file: the common ancestor
	// is a (user-writable), so it is the open of b's file that stops it.
	require.NoError(t, e.v.Chmod(e.c, e.p("a/b/cgroup.procs"), 0666))
	_, err = e.writeAs(user, "a/u/cgroup.procs", pid)
	require.NoError(t, err)
	_, err = e.writeAs(user, "a/b/cgroup.procs", pid)
	require.NoError(t, err)
	// b → root via a world-writable root file: the common ancestor is the
	// root, whose cgroup.procs the user cannot write.
	require.NoError(t, e.v.Chmod(e.c, e.p("cgroup.procs"), 0666))
	require.NoError(t, e.v.Chmod(e.c, e.p("a/cgroup.procs"), 0644))
	require.NoError(t, e.v.Chown(e.c, e.p("a/cgroup.procs"), 0, 0))
	_, err = e.writeAs(user, "a/c/cgroup.procs", pid)
	require.ErrorIs(t, err, unix.EACCES, "common ancestor a is root's again")
	tk.Exit()
}

func TestFreeze(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	a := e.mkdir(t, "a")
	b := e.mkdir(t, "a/b")
	tk, err := e.h.Spawn(b)
	require.NoError(t, err)
	for _, tc := range []struct {
		data string
		err  unix.Errno
	}{
		{"2", unix.ERANGE}, {"-1", unix.ERANGE}, {"x", unix.EINVAL}, {"", 0}, {"0", 0},
	} {
		_, err := e.write("a/cgroup.freeze", tc.data)
		require.Equal(t, tc.err, errnoOf(err), "%q", tc.data)
	}
	_, err = e.write("a/cgroup.freeze", "1\n")
	require.NoError(t, err)
	require.Equal(t, "populated 1\nfrozen 1\n", e.events(t, "a"))
	require.Equal(t, "populated 1\nfrozen 1\n", e.events(t, "a/b"), "freezing propagates down")
	require.Equal(t, "1\n", e.mustRead(t, "a/cgroup.freeze"))
	require.Equal(t, "0\n", e.mustRead(t, "a/b/cgroup.freeze"), "the child's own setting is unchanged")
	require.True(t, b.Frozen())
	e.clk.Advance(1500 * time.Millisecond)
	require.Equal(t, "frozen_usec 1500000\n", e.mustRead(t, "a/cgroup.stat.local"))
	require.Equal(t, "frozen_usec 1500000\n", e.mustRead(t, "a/b/cgroup.stat.local"))
	// A new child of a frozen cgroup starts frozen.
	e.mkdir(t, "a/n")
	require.Equal(t, "populated 0\nfrozen 1\n", e.events(t, "a/n"))
	require.Equal(t, "0\n", e.mustRead(t, "a/n/cgroup.freeze"))
	// Freezing the child too, then thawing the parent: the child stays.
	_, err = e.write("a/b/cgroup.freeze", "1")
	require.NoError(t, err)
	e.clk.Advance(time.Second)
	_, err = e.write("a/cgroup.freeze", "0")
	require.NoError(t, err)
	require.Equal(t, "populated 1\nfrozen 0\n", e.events(t, "a"))
	require.Equal(t, "populated 1\nfrozen 1\n", e.events(t, "a/b"))
	require.Equal(t, "populated 0\nfrozen 0\n", e.events(t, "a/n"))
	e.clk.Advance(time.Second)
	require.Equal(t, "frozen_usec 2500000\n", e.mustRead(t, "a/cgroup.stat.local"), "stops counting when thawed")
	require.Equal(t, "frozen_usec 3500000\n", e.mustRead(t, "a/b/cgroup.stat.local"))
	require.NoError(t, b.Freeze(false))
	require.False(t, b.Frozen())
	require.False(t, a.Frozen())
	require.ErrorIs(t, e.h.Root().Freeze(true), unix.EINVAL)
	tk.Exit()
}

func TestKill(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	a := e.mkdir(t, "a")
	b := e.mkdir(t, "a/b")
	var tasks []*cgroup.Task
	for _, cg := range []*cgroup.Cgroup{a, b, b, e.h.Root()} {
		tk, err := e.h.Spawn(cg)
		require.NoError(t, err)
		tasks = append(tasks, tk)
	}
	for _, tc := range []struct {
		data string
		err  unix.Errno
	}{
		{"0", unix.ERANGE}, {"2", unix.ERANGE}, {"x", unix.EINVAL}, {"", 0},
	} {
		_, err := e.write("a/cgroup.kill", tc.data)
		require.Equal(t, tc.err, errnoOf(err), "%q", tc.data)
	}
	_, err := e.write("a/cgroup.kill", "1")
	require.NoError(t, err)
	for _, tk := range tasks[:3] {
		require.True(t, tk.Exited())
	}
	require.False(t, tasks[3].Exited(), "outside the subtree")
	require.Equal(t, "populated 0\nfrozen 0\n", e.events(t, "a"))
	require.Equal(t, "", e.mustRead(t, "a/b/cgroup.procs"))
	require.NoError(t, e.v.Rmdir(e.c, e.p("a/b")))
	require.ErrorIs(t, e.h.Root().Kill(), unix.EINVAL)
	tasks[3].Exit()
}

func TestThreaded(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	a := e.mkdir(t, "a")
	b := e.mkdir(t, "a/b")
	c := e.mkdir(t, "a/c")
	tk, err := e.h.Spawn(b)
	require.NoError(t, err)
	_, err = e.write("a/c/cgroup.type", "domain")
	require.ErrorIs(t, err, unix.EINVAL, "only threaded can be written")
	// a has a populated domain child: it cannot become a thread root.
	_, err = e.write("a/c/cgroup.type", "threaded")
	require.ErrorIs(t, err, unix.EOPNOTSUPP)
	// A populated cgroup cannot turn threaded.
	_, err = e.write("a/b/cgroup.type", "threaded")
	require.ErrorIs(t, err, unix.EOPNOTSUPP)
	require.NoError(t, e.h.Move(tk, e.h.Root()))
	_, err = e.write("a/c/cgroup.type", " threaded\n")
	require.NoError(t, err)
	_, err = e.write("a/c/cgroup.type", "threaded")
	require.NoError(t, err, "again is a no-op")
	require.Equal(t, "domain threaded\n", e.mustRead(t, "a/cgroup.type"))
	require.Equal(t, "threaded\n", e.mustRead(t, "a/c/cgroup.type"))
	require.Equal(t, "domain invalid\n", e.mustRead(t, "a/b/cgroup.type"), "a domain child of a thread root")
	// A new child of a threaded cgroup starts as an invalid domain.
	e.mkdir(t, "a/c/d")
	require.Equal(t, "domain invalid\n", e.mustRead(t, "a/c/d/cgroup.type"))
	_, err = e.write("a/c/d/cgroup.procs", fmt.Sprint(tk.Pid()))
	require.ErrorIs(t, err, unix.EOPNOTSUPP, "an invalid domain cannot host tasks")
	_, err = e.write("a/b/cgroup.procs", fmt.Sprint(tk.Pid()))
	require.ErrorIs(t, err, unix.EOPNOTSUPP)
	_, err = e.write("a/c/d/cgroup.type", "threaded")
	require.NoError(t, err)
	// Tasks move into the threaded subtree as processes.
	_, err = e.write("a/c/cgroup.procs", fmt.Sprint(tk.Pid()))
	require.NoError(t, err)
	_, err = e.read("a/c/cgroup.procs")
	require.ErrorIs(t, err, unix.EOPNOTSUPP, "threaded cgroups refuse cgroup.procs reads")
	require.Equal(t, fmt.Sprintf("%d\n", tk.Pid()), e.mustRead(t, "a/c/cgroup.threads"))
	require.Equal(t, fmt.Sprintf("%d\n", tk.Pid()), e.mustRead(t, "a/cgroup.procs"), "the thread root lists its subtree's processes")
	require.Equal(t, "", e.mustRead(t, "a/cgroup.threads"))
	// Threads move within the threaded domain.
	_, err = e.write("a/c/d/cgroup.threads", fmt.Sprint(tk.Pid()))
	require.NoError(t, err)
	_, err = e.write("cgroup.threads", fmt.Sprint(tk.Pid()))
	require.ErrorIs(t, err, unix.EOPNOTSUPP, "out of the threaded domain")
	_, err = e.write("a/c/cgroup.kill", "1")
	require.ErrorIs(t, err, unix.EOPNOTSUPP)
	require.ErrorIs(t, c.Kill(), unix.EOPNOTSUPP)
	require.Equal(t, "populated 1\nfrozen 0\n", e.events(t, "a"))
	require.NoError(t, a.Kill())
	require.True(t, tk.Exited())
	require.Equal(t, "populated 0\nfrozen 0\n", e.events(t, "a"))
	for _, d := range []string{"a/c/d", "a/c"} {
		require.NoError(t, e.v.Rmdir(e.c, e.p(d)))
	}
	require.Equal(t, "domain\n", e.mustRead(t, "a/cgroup.type"), "no threaded children left")
	require.Equal(t, "domain\n", e.mustRead(t, "a/b/cgroup.type"))
	_ = b
}

func TestSubtreeControl(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	a := e.mkdir(t, "a")
	for _, tc := range []struct {
		data string
		n    int
		err  unix.Errno
	}{
		{"memory", 0, unix.EINVAL},
		{"hugetlb", 0, unix.EINVAL},
		{"xhugetlb", 0, unix.EINVAL},
		{"+", 0, unix.EINVAL},
		{"+memory", 0, unix.ENOENT}, // known, but bound to a v1 hierarchy
		{"+io", 0, unix.ENOENT},
		{"+blkio", 0, unix.EINVAL}, // the v1 name
		{"+cpuacct", 0, unix.EINVAL},
		{"-memory", 7, 0},
		{"+foo", 0, unix.EINVAL},
		{"+hugetlb", 0, unix.ENOENT},
		{"+perf_event", 0, unix.ENOENT},
		{"-hugetlb", 8, 0},
		{"-perf_event", 11, 0},
		{"\n", 1, 0},
		{"  ", 2, 0},
		{"-hugetlb\t-hugetlb", 0, unix.EINVAL},
		{"-hugetlb  -hugetlb", 18, 0},
	} {
		n, err := e.write("a/cgroup.subtree_control", tc.data)
		require.Equal(t, tc.err, errnoOf(err), "%q", tc.data)
		require.Equal(t, tc.n, n, "%q", tc.data)
	}
	// Enabling hugetlb at the root gives every child a hugetlb css.
	_, err := e.write("cgroup.subtree_control", "+hugetlb")
	require.NoError(t, err)
	require.Equal(t, "hugetlb\n", e.mustRead(t, "cgroup.subtree_control"))
	require.Equal(t, "hugetlb\n", e.mustRead(t, "a/cgroup.controllers"))
	require.Contains(t, e.mustRead(t, "cgroup.stat"), "nr_subsys_hugetlb 2\n")
	require.Contains(t, e.mustRead(t, "a/cgroup.stat"), "nr_subsys_hugetlb 1\n")
	b := e.mkdir(t, "a/b")
	tk, err := e.h.Spawn(a)
	require.NoError(t, err)
	// No internal processes: a cgroup with tasks cannot enable domain
	// controllers for its children, and one with controllers enabled
	// cannot take tasks.
	_, err = e.write("a/cgroup.subtree_control", "+hugetlb")
	require.ErrorIs(t, err, unix.EBUSY)
	require.NoError(t, e.h.Move(tk, b))
	_, err = e.write("a/cgroup.subtree_control", "+hugetlb")
	require.NoError(t, err)
	require.Equal(t, "hugetlb\n", e.mustRead(t, "a/b/cgroup.controllers"))
	require.ErrorIs(t, e.h.Move(tk, a), unix.EBUSY)
	_, err = e.write("a/cgroup.procs", fmt.Sprint(tk.Pid()))
	require.ErrorIs(t, err, unix.EBUSY)
	_, err = e.h.Spawn(a)
	require.ErrorIs(t, err, unix.EBUSY)
	require.Contains(t, e.mustRead(t, "cgroup.stat"), "nr_subsys_hugetlb 3\n")
	// The root is exempt.
	require.NoError(t, e.h.Move(tk, e.h.Root()))
	// Disabling while a child has it enabled is EBUSY.
	_, err = e.write("cgroup.subtree_control", "-hugetlb")
	require.ErrorIs(t, err, unix.EBUSY)
	_, err = e.write("a/cgroup.subtree_control", "-hugetlb")
	require.NoError(t, err)
	require.Contains(t, e.mustRead(t, "cgroup.stat"), "nr_subsys_hugetlb 2\n")
	_, err = e.write("cgroup.subtree_control", "-hugetlb +hugetlb -hugetlb")
	require.NoError(t, err)
	require.Equal(t, "", e.mustRead(t, "cgroup.subtree_control"))
	require.Equal(t, "nr_descendants 2\nnr_subsys_perf_event 3\nnr_subsys_hugetlb 1\nnr_dying_descendants 0\nnr_dying_subsys_perf_event 0\nnr_dying_subsys_hugetlb 0\n",
		e.mustRead(t, "cgroup.stat"))
	tk.Exit()
}

func TestPressure(t *testing.T) {
	e := newEnv(t, cgroup.Options{CapSysResource: func(c *vfs.Caller) bool { return false }})
	e.mkdir(t, "a")
	for _, tc := range []struct {
		file, data string
		err        unix.Errno
	}{
		{"memory.pressure", "some 150000 1000000", unix.EINVAL}, // 1 s window needs CAP_SYS_RESOURCE
		{"memory.pressure", "some 150000 2000000", 0},
		{"memory.pressure", "some 1 2000000", 0},
		{"memory.pressure", "some 0 2000000", unix.EINVAL},
		{"memory.pressure", "some 2000001 2000000", unix.EINVAL},
		{"memory.pressure", "some 2000000 2000000", 0},
		{"memory.pressure", "some 1 12000000", unix.EINVAL},
		{"memory.pressure", "some 1 0", unix.EINVAL},
		{"memory.pressure", "some 1 2000000 junk", 0},
		{"memory.pressure", "some 1 2000000junk", 0},
		{"memory.pressure", " some 1 2000000", unix.EINVAL},
		{"memory.pressure", "some\t1\t2000000", 0},
		{"memory.pressure", "some 1\n2000000", 0},
		{"memory.pressure", "some +1 2000000", unix.EINVAL},
		{"memory.pressure", "some 0x10 2000000", unix.EINVAL},
		{"memory.pressure", "some -1 2000000", unix.EINVAL},
		{"memory.pressure", "some 4294967297 2000000", 0}, // %u wraps
		{"memory.pressure", "full 1 2000000", 0},
		{"memory.pressure", "somex 1 2000000", unix.EINVAL},
		{"memory.pressure", "some1 2000000", 0},
		{"memory.pressure", "SOME 1 2000000", unix.EINVAL},
		{"memory.pressure", "some 1", unix.EINVAL},
		{"memory.pressure", "some 01 2000000", 0},
		{"cpu.pressure", "full 1 2000000", 0},
		{"io.pressure", "full 1000 10000000", 0},
		{"cgroup.pressure", "2", unix.ERANGE},
		{"cgroup.pressure", "x", unix.EINVAL},
		{"cgroup.pressure", " 1 ", 0},
	} {
		n, err := e.write("a/"+tc.file, tc.data)
		require.Equal(t, tc.err, errnoOf(err), "%s %q", tc.file, tc.data)
		if tc.err == 0 {
			require.Equal(t, len(tc.data), n)
		}
	}
	// One trigger per open file; the next write is EBUSY even if bad.
	f, err := e.v.Open(e.c, e.p("a/cpu.pressure"), unix.O_RDWR, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte("some 150000 2000000"))
	require.NoError(t, err)
	_, err = f.Write([]byte("some 150000 2000000"))
	require.ErrorIs(t, err, unix.EBUSY)
	_, err = f.Write([]byte("xx"))
	require.ErrorIs(t, err, unix.EBUSY)
	buf := make([]byte, 200)
	n, err := f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, pressure, string(buf[:n]))

	// With CAP_SYS_RESOURCE (uid 0 by default) any window up to 10 s.
	e2 := newEnv(t, cgroup.Options{})
	_, err = e2.write("cpu.pressure", "some 150000 1000000")
	require.NoError(t, err)

	// cgroup.pressure 0 hides the pressure files; 1 brings them back with
	// their ids.
	st, err := e.v.Stat(e.c, e.p("a/cpu.pressure"))
	require.NoError(t, err)
	_, err = e.write("a/cgroup.pressure", "0")
	require.NoError(t, err)
	require.Equal(t, "0\n", e.mustRead(t, "a/cgroup.pressure"))
	for _, name := range []string{"io.pressure", "memory.pressure", "cpu.pressure"} {
		_, err := e.v.Stat(e.c, e.p("a/"+name))
		require.ErrorIs(t, err, unix.ENOENT, name)
	}
	_, err = f.ReadAt(buf, 0)
	require.ErrorIs(t, err, unix.ENODEV, "an fd of a hidden file")
	_, err = e.write("a/cgroup.pressure", "0")
	require.NoError(t, err)
	_, err = e.write("a/cgroup.pressure", "1")
	require.NoError(t, err)
	st2, err := e.v.Stat(e.c, e.p("a/cpu.pressure"))
	require.NoError(t, err)
	require.Equal(t, st.Ino, st2.Ino)
	n, err = f.ReadAt(buf, 0)
	require.NoError(t, err)
	require.Equal(t, pressure, string(buf[:n]))
	require.NoError(t, f.Close())
}

func TestRemovedCgroupFiles(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	a := e.mkdir(t, "a")
	ev, err := e.v.Open(e.c, e.p("a/cgroup.events"), unix.O_RDONLY, 0)
	require.NoError(t, err)
	depth, err := e.v.Open(e.c, e.p("a/cgroup.max.depth"), unix.O_RDWR, 0)
	require.NoError(t, err)
	dir, err := e.v.Open(e.c, e.p("a"), unix.O_RDONLY, 0)
	require.NoError(t, err)
	buf := make([]byte, 4)
	n, err := ev.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "popu", string(buf[:n]))
	require.NoError(t, e.v.Rmdir(e.c, e.p("a")))
	require.True(t, a.Dead())
	_, err = e.h.ByID(a.ID())
	require.ErrorIs(t, err, unix.ENOENT)
	_, err = e.h.Lookup("a")
	require.ErrorIs(t, err, unix.ENOENT)
	big := make([]byte, 100)
	n, err = ev.Read(big)
	require.NoError(t, err, "leftover")
	require.Equal(t, "lated 0\nfrozen 0\n", string(big[:n]))
	_, err = ev.Read(big)
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = ev.ReadAt(big, 0)
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = ev.Seek(0, 0)
	require.ErrorIs(t, err, unix.ENODEV)
	st := ev.Stat()
	require.Equal(t, uint32(vfs.S_IFREG|0444), st.Mode)
	require.Equal(t, uint32(1), st.Nlink)
	_, err = depth.Write([]byte("5"))
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = depth.Write(nil)
	require.ErrorIs(t, err, unix.ENODEV)
	_, err = depth.Write(make([]byte, 5000))
	require.ErrorIs(t, err, unix.E2BIG)
	require.Equal(t, uint32(vfs.S_IFDIR|0755), dir.Stat().Mode)
	require.Equal(t, uint32(2), dir.Stat().Nlink)
	_, err = e.v.MkdirChild(e.c, dir.Inode(), "x", 0755)
	require.ErrorIs(t, err, unix.ENOENT)
	_, err = e.v.ReadDirInode(e.c, dir.Inode())
	require.ErrorIs(t, err, unix.ENOENT, "getdents on a directory rmdir removed (IS_DEADDIR), as the differential test shows")
	for _, f := range []*vfs.File{ev, depth, dir} {
		require.NoError(t, f.Close())
	}
	// The Go API refuses a dead cgroup too.
	_, err = e.h.Spawn(a)
	require.ErrorIs(t, err, unix.ENODEV)
	require.ErrorIs(t, a.Freeze(true), unix.ENOENT)
	require.ErrorIs(t, a.Kill(), unix.ENOENT)
}

func TestDyingAndRefs(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	a := e.mkdir(t, "a")
	b := e.mkdir(t, "a/b")
	c := e.mkdir(t, "a/c")
	require.Equal(t, []*cgroup.Cgroup{b, c}, a.Children(), "creation order")
	b.Get() // a BPF link holds it
	require.NoError(t, e.v.Rmdir(e.c, e.p("a/b")))
	require.True(t, b.Dead())
	require.False(t, b.Released())
	require.Equal(t, "nr_descendants 1\nnr_subsys_perf_event 2\nnr_subsys_hugetlb 0\nnr_dying_descendants 1\nnr_dying_subsys_perf_event 1\nnr_dying_subsys_hugetlb 0\n",
		e.mustRead(t, "a/cgroup.stat"))
	require.Contains(t, e.mustRead(t, "cgroup.stat"), "nr_dying_descendants 1\n")
	require.Equal(t, []*cgroup.Cgroup{b, c}, a.Children(), "dying children are still listed")
	// A dying child does not keep the parent from being removed.
	require.NoError(t, e.v.Rmdir(e.c, e.p("a/c")))
	require.NoError(t, e.v.Rmdir(e.c, e.p("a")))
	require.Equal(t, 2, e.h.Root().NrDyingDescendants(), "a and b; c was released at once")
	b.Put()
	require.True(t, b.Released())
	require.Equal(t, 0, e.h.Root().NrDyingDescendants())
	require.Equal(t, 0, e.h.Root().NrDescendants())
	require.Equal(t, "nr_descendants 0\nnr_subsys_perf_event 1\nnr_subsys_hugetlb 1\nnr_dying_descendants 0\nnr_dying_subsys_perf_event 0\nnr_dying_subsys_hugetlb 0\n",
		e.mustRead(t, "cgroup.stat"))
	require.Panics(t, func() { b.Get() })
}

func TestLookupAndHooks(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	var got []string
	remove := e.h.AddHook(func(ch cgroup.Change) {
		s := fmt.Sprintf("%s %s %d", ch.Kind, ch.Path, ch.ID)
		if ch.Task != nil {
			s += fmt.Sprintf(" pid=%d", ch.Pid)
		}
		if ch.From != nil {
			s += " from=" + ch.From.Path()
		}
		// Hooks run without locks: calling back in is fine.
		_ = ch.Cgroup.Populated()
		_, _ = e.read("cgroup.procs")
		got = append(got, s)
	})
	a := e.mkdir(t, "a")
	tk, err := e.h.Spawn(a)
	require.NoError(t, err)
	b := e.mkdir(t, "a/b")
	require.NoError(t, e.h.Move(tk, b))
	tk.Exit()
	require.NoError(t, e.v.Rmdir(e.c, e.p("a/b")))
	remove()
	require.NoError(t, e.v.Rmdir(e.c, e.p("a")))
	require.Equal(t, []string{
		fmt.Sprintf("cgroup_mkdir /a %d", a.ID()),
		fmt.Sprintf("task_spawn /a %d pid=1000", a.ID()),
		fmt.Sprintf("cgroup_mkdir /a/b %d", b.ID()),
		fmt.Sprintf("task_move /a/b %d pid=1000 from=/a", b.ID()),
		fmt.Sprintf("task_exit /a/b %d pid=1000", b.ID()),
		fmt.Sprintf("cgroup_rmdir /a/b %d", b.ID()),
		fmt.Sprintf("cgroup_release /a/b %d", b.ID()),
	}, got)

	c := e.mkdir(t, "c")
	d := e.mkdir(t, "c/d")
	for _, tc := range []struct {
		path string
		want *cgroup.Cgroup
		err  unix.Errno
	}{
		{"/", e.h.Root(), 0}, {"", e.h.Root(), 0}, {"c", c, 0}, {"/c/d/", d, 0}, {"c/./d", d, 0},
		{"c/d/..", c, 0}, {"nope", nil, unix.ENOENT}, {"c/cgroup.procs", nil, unix.ENOTDIR},
		{"c/cgroup.procs/x", nil, unix.ENOTDIR},
	} {
		cg, err := e.h.Lookup(tc.path)
		require.Equal(t, tc.err, errnoOf(err), tc.path)
		require.Same(t, tc.want, cg, tc.path)
	}
	got2, err := e.h.ByID(d.ID())
	require.NoError(t, err)
	require.Same(t, d, got2)
	_, err = e.h.ByID(d.ID() + 1)
	require.ErrorIs(t, err, unix.ENOENT, "a file's id is not a cgroup")
	require.Same(t, d, e.h.CgroupOf(d.Node().Inode()))
	require.Nil(t, e.h.CgroupOf(mustResolve(t, e, "c/cgroup.procs")))
	require.Nil(t, e.h.CgroupOf(e.v.Root()))
	// The Go mkdir/rmdir go through the VFS.
	x, err := e.h.Mkdir(e.c, d, "x", 0700)
	require.NoError(t, err)
	require.Equal(t, "/c/d/x", x.Path())
	require.True(t, x.IsDescendantOf(c))
	require.False(t, c.IsDescendantOf(x))
	require.NoError(t, e.h.Rmdir(e.c, x))
	require.ErrorIs(t, e.h.Rmdir(e.c, e.h.Root()), unix.EBUSY)
	require.Len(t, e.h.Subsystems(), 7)
	require.Same(t, e.v, e.h.VFS())
	require.NotNil(t, e.h.Kernfs())
	require.Same(t, e.h, c.Hierarchy())
	require.Greater(t, d.Serial(), c.Serial())
}

// eventsRecorder hears IN_MODIFY events on cgroup.events files.
type eventsRecorder struct{ names []string }

func (r *eventsRecorder) Notify(ev vfs.Event) {
	if ev.Mask&unix.IN_MODIFY != 0 && ev.Name == "cgroup.events" {
		r.names = append(r.names, kernfs.NodeOf(ev.Dir).Path())
	}
}
func (r *eventsRecorder) InodeRemoved(*vfs.Inode) {}
func (r *eventsRecorder) Unmounted(*vfs.Inode)    {}

func TestEventsNotifications(t *testing.T) {
	e := newEnv(t, cgroup.Options{})
	a := e.mkdir(t, "a")
	b := e.mkdir(t, "a/b")
	c := e.mkdir(t, "a/c")
	rec := &eventsRecorder{}
	defer e.v.AddNotifier(rec)()
	tk, err := e.h.Spawn(b)
	require.NoError(t, err)
	require.Equal(t, []string{"/a/b", "/a"}, rec.names, "populated flips up to the first populated ancestor")
	rec.names = nil
	t2, err := e.h.Spawn(c)
	require.NoError(t, err)
	require.Equal(t, []string{"/a/c"}, rec.names, "a was populated already")
	rec.names = nil
	tk.Exit()
	require.Equal(t, []string{"/a/b"}, rec.names)
	rec.names = nil
	require.NoError(t, a.Freeze(true))
	require.Equal(t, []string{"/a", "/a/b", "/a/c"}, rec.names)
	rec.names = nil
	require.NoError(t, c.Freeze(true))
	require.Equal(t, []string{"/a/c"}, rec.names, "no change, but the writer hears about it")
	rec.names = nil
	t2.Exit()
	require.Equal(t, []string{"/a/c", "/a"}, rec.names)
}
