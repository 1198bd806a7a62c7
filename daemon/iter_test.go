package daemon

import (
	"fmt"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The cgroup_iter example through the protocol, without FUSE: what
// `simfs prog load`, `simfs link create PROG LINK --cgroup DIR --order ORDER`
// and `cat LINK` send.
func TestCgroupIterLinks(t *testing.T) {
	d := startDaemon(t)
	obj, err := os.ReadFile("../examples/cgroup_iter/cgroup_iter.bpf.o")
	require.NoError(t, err)
	c := d.dial(t)

	var res ProgLoadResult
	require.NoError(t, c.Call(OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/printer", Object: obj}, &res))
	assert.Equal(t, "iter/cgroup", res.Type)
	assert.Equal(t, "cgroup_id_print", res.Name)
	assert.Contains(t, res.Maps, ".bss")
	assert.Contains(t, res.Maps, ".rodata")

	ids := map[string]uint64{}
	for _, dir := range []string{"parent", "parent/child1", "parent/child2"} {
		p := "/sys/fs/cgroup/" + dir
		require.NoError(t, c.Call(OpMkdir, MkdirArgs{Path: p}, nil))
		var st StatResult
		require.NoError(t, c.Call(OpStat, PathArgs{Path: p}, &st))
		ids[dir] = st.Ino
	}
	lines := func(dirs ...string) string {
		s := "prologue\n"
		for _, d := range dirs {
			if d == "/" {
				s += fmt.Sprintf("%8d\n", 1)
				continue
			}
			s += fmt.Sprintf("%8d\n", ids[d])
		}
		return s + "epilogue\n"
	}
	for order, want := range map[string]string{
		"pre":  lines("parent", "parent/child1", "parent/child2"),
		"post": lines("parent/child1", "parent/child2", "parent"),
		"self": lines("parent"),
		"up":   lines("parent", "/"),
	} {
		link := "/sys/fs/bpf/" + order
		var lr ObjResult
		require.NoError(t, c.Call(OpLinkCreate, LinkCreateArgs{Prog: "/sys/fs/bpf/printer", Link: link, Cgroup: "/sys/fs/cgroup/parent", Order: order}, &lr), order)
		assert.Equal(t, "link", lr.ObjType)
		var out FileResult
		require.NoError(t, c.Call(OpReadFile, FileArgs{Path: link}, &out), order)
		assert.Equal(t, want, string(out.Data), order)
	}

	var show ShowResult
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "link"}, &show))
	require.Len(t, show.Objects, 4)
	for _, o := range show.Objects {
		assert.Equal(t, "iter", o.LinkType)
		assert.Equal(t, res.ID, o.ProgID)
		assert.Contains(t, o.Attrs, [2]string{"target_name", "cgroup"})
		assert.Contains(t, o.Attrs, [2]string{"cgroup_id", fmt.Sprint(ids["parent"])})
	}

	// No order is BPF_CGROUP_ITER_ORDER_UNSPEC, which the kernel refuses;
	// a start that is not a cgroup directory is EBADF.
	err = c.Call(OpLinkCreate, LinkCreateArgs{Prog: "/sys/fs/bpf/printer", Link: "/sys/fs/bpf/none", Cgroup: "/sys/fs/cgroup/parent"}, nil)
	assert.ErrorIs(t, err, unix.EINVAL)
	err = c.Call(OpLinkCreate, LinkCreateArgs{Prog: "/sys/fs/bpf/printer", Link: "/sys/fs/bpf/bad", Cgroup: "/sys/fs/bpf", Order: "pre"}, nil)
	assert.ErrorIs(t, err, unix.EBADF)
	// Without --cgroup the walk starts at the root.
	require.NoError(t, c.Call(OpLinkCreate, LinkCreateArgs{Prog: "/sys/fs/bpf/printer", Link: "/sys/fs/bpf/root", Order: "self"}, nil))
	var out FileResult
	require.NoError(t, c.Call(OpReadFile, FileArgs{Path: "/sys/fs/bpf/root"}, &out))
	assert.Equal(t, lines("/"), string(out.Data))

	// loadall pins the program and both global-data maps.
	var all ObjLoadResult
	require.NoError(t, c.Call(OpObjLoad, ObjLoadArgs{Object: obj, Dir: "/sys/fs/bpf/ci"}, &all))
	var pinned []string
	for _, p := range all.Pinned {
		pinned = append(pinned, p.Path)
	}
	assert.Equal(t, []string{"/sys/fs/bpf/ci/cgroup_id_printer", "/sys/fs/bpf/ci/_bss", "/sys/fs/bpf/ci/_rodata"}, pinned)
}

// An object with a program simfs has no type for fails as a whole, like
// libbpf's bpf_object__load, naming the program and its section.
func TestLoadallUnknownSection(t *testing.T) {
	d := startDaemon(t)
	obj, err := os.ReadFile("../loader/testdata/features.bpf.o")
	require.NoError(t, err)
	c := d.dial(t)
	err = c.Call(OpObjLoad, ObjLoadArgs{Object: obj, Dir: "/sys/fs/bpf/f"}, nil)
	assert.ErrorIs(t, err, unix.EINVAL)
	assert.ErrorContains(t, err, `on_exit: section "tracepoint/sched/sched_process_exit"`)
	var show ShowResult
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "map"}, &show))
	assert.Empty(t, show.Objects, "nothing was created")
	// One program of it loads.
	var res ProgLoadResult
	require.NoError(t, c.Call(OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/dump", Object: obj, Program: "dump_cgroup"}, &res))
	assert.Equal(t, "iter/cgroup", res.Type)
}
