package vmlinux

import (
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func layouts() []*Layout { return []*Layout{Default(), Alternate()} }

// TestLayoutInvariants checks every struct of both layouts the way a C
// compiler would lay it out: members in increasing offset order, each at
// its natural alignment, none overlapping the previous one or running past
// the end, the size a multiple of the alignment, a flexible array member
// only last and at the (aligned) end.
func TestLayoutInvariants(t *testing.T) {
	for _, l := range layouts() {
		for _, s := range l.Structs() {
			t.Run(l.Name()+"/"+s.Name(), func(t *testing.T) {
				require.NotEmpty(t, s.Fields())
				require.NotZero(t, s.Size())
				assert.Zero(t, s.Size()%s.Align(), "size %d not a multiple of alignment %d", s.Size(), s.Align())
				var end uint32
				for i, f := range s.Fields() {
					a := alignof(f.Type)
					assert.Zero(t, f.Offset%a, "%s at %d not %d-aligned", f.Path, f.Offset, a)
					if s.IsUnion() {
						assert.Zero(t, f.Offset, "union member %s", f.Path)
						assert.LessOrEqual(t, f.Size, s.Size())
						continue
					}
					assert.GreaterOrEqual(t, f.Offset, end, "%s at %d overlaps the previous member ending at %d", f.Path, f.Offset, end)
					end = f.Offset + f.Size
					assert.LessOrEqual(t, end, s.Size(), "%s runs past the end", f.Path)
					if arr, ok := f.Type.(*btf.Array); ok && arr.Nelems == 0 {
						assert.Equal(t, len(s.Fields())-1, i, "flexible array %s is not last", f.Path)
						assert.Equal(t, roundUp(f.Offset, s.Align()), s.Size(), "flexible array %s is not at the end", f.Path)
					}
				}
				// Every nested path lies inside the struct too.
				for _, p := range s.Paths() {
					f, err := s.Field(p)
					require.NoError(t, err)
					assert.LessOrEqual(t, f.Offset+f.Size, s.Size(), p)
				}
			})
		}
	}
}

// TestKeyOffsets pins the offsets and sizes that programs and the bpf layer
// depend on, in both layouts.
func TestKeyOffsets(t *testing.T) {
	type want struct{ def, alt uint32 }
	offsets := []struct {
		strct, path string
		off         want
		size        uint32
	}{
		{"seq_file", "buf", want{0, 0}, 8},
		{"seq_file", "count", want{24, 24}, 8},
		{"seq_file", "op", want{56, 88}, 8},
		{"seq_file", "private", want{72, 112}, 8},
		{"seq_file", "poll_event", want{80, 96}, 4},
		{"kernfs_node", "id", want{0, 96}, 8},
		{"kernfs_node", "parent", want{8, 8}, 8},
		{"kernfs_node", "__parent", want{8, 8}, 8},
		{"kernfs_node", "name", want{16, 16}, 8},
		{"kernfs_node", "priv", want{24, 104}, 8},
		{"kernfs_node", "count", want{48, 0}, 4},
		{"kernfs_node", "count.counter", want{48, 0}, 4},
		{"kernfs_node", "active", want{52, 4}, 4},
		{"kernfs_node", "flags", want{60, 60}, 2},
		{"kernfs_node", "mode", want{62, 62}, 2},
		{"cgroup_subsys_state", "cgroup", want{0, 0}, 8},
		{"cgroup_subsys_state", "parent", want{8, 184}, 8},
		{"cgroup_subsys_state", "serial_nr", want{24, 80}, 8},
		{"cgroup_subsys_state", "id", want{32, 72}, 4},
		{"cgroup", "self", want{0, 0}, 48},
		{"cgroup", "self.cgroup", want{0, 0}, 8},
		{"cgroup", "self.parent", want{8, 184}, 8},
		{"cgroup", "self.serial_nr", want{24, 80}, 8},
		{"cgroup", "kn", want{48, 256}, 8},
		{"cgroup", "level", want{56, 216}, 4},
		{"cgroup", "max_depth", want{60, 220}, 4},
		{"cgroup", "nr_descendants", want{64, 224}, 4},
		{"cgroup", "nr_dying_descendants", want{68, 228}, 4},
		{"cgroup", "max_descendants", want{72, 232}, 4},
		{"cgroup", "nr_populated_csets", want{76, 236}, 4},
		{"cgroup", "flags", want{96, 208}, 8},
		{"cgroup", "subtree_control", want{104, 544}, 2},
		{"cgroup", "dom_cgrp", want{120, 912}, 8},
		{"cgroup", "subsys[0]", want{128, 552}, 8},
		{"cgroup", "subsys[2]", want{144, 568}, 8},
		{"cgroup", "ancestors", want{152, 2224}, 0},
		{"cgroup", "ancestors[0]", want{152, 2224}, 8},
		{"cgroup", "ancestors[5]", want{192, 2264}, 8},
		{"css_set", "dfl_cgrp", want{0, 112}, 8},
		{"css_set", "subsys[1]", want{24, 8}, 8},
		{"css_set", "refcount.refs.counter", want{40, 96}, 4},
		{"css_set", "dead", want{48, 520}, 1},
		{"task_group", "css", want{8, 0}, 48},
		{"task_group", "css.cgroup", want{8, 0}, 8},
		{"task_group", "parent", want{0, 408}, 8},
		{"task_struct", "pid", want{0, 1264}, 4},
		{"task_struct", "tgid", want{4, 1268}, 4},
		{"task_struct", "prio", want{16, 108}, 4},
		{"task_struct", "sched_task_group", want{56, 712}, 8},
		{"task_struct", "cgroups", want{64, 2376}, 8},
		{"task_struct", "real_parent", want{72, 1280}, 8},
		{"task_struct", "start_time", want{96, 1552}, 8},
		{"task_struct", "comm", want{120, 1752}, 16},
		{"task_struct", "comm[15]", want{135, 1767}, 1},
		{"bpf_iter_meta", "seq", want{0, 0}, 8},
		{"bpf_iter_meta", "session_id", want{8, 8}, 8},
		{"bpf_iter_meta", "seq_num", want{16, 16}, 8},
		{"bpf_iter__cgroup", "meta", want{0, 0}, 8},
		{"bpf_iter__cgroup", "cgroup", want{8, 8}, 8},
		{"bpf_view_cgroup_ctx", "seq", want{0, 0}, 8},
		{"bpf_view_cgroup_ctx", "cgroup", want{8, 8}, 8},
	}
	def, alt := Default(), Alternate()
	for _, c := range offsets {
		altSize := c.size
		if c.path == "self" || c.path == "css" { // sizeof(struct cgroup_subsys_state)
			altSize = 208
		}
		for _, x := range []struct {
			l         *Layout
			off, size uint32
		}{{def, c.off.def, c.size}, {alt, c.off.alt, altSize}} {
			f, err := x.l.Field(c.strct, c.path)
			if assert.NoError(t, err, "%s %s.%s", x.l.Name(), c.strct, c.path) {
				assert.Equal(t, x.off, f.Offset, "%s offsetof(%s, %s)", x.l.Name(), c.strct, c.path)
				assert.Equal(t, x.size, f.Size, "%s sizeof %s.%s", x.l.Name(), c.strct, c.path)
			}
			off, err := x.l.Offset(c.strct, c.path)
			assert.NoError(t, err)
			assert.Equal(t, x.off, off)
		}
	}

	sizes := map[string]want{
		"seq_file":            {88, 120},
		"kernfs_node":         {64, 136},
		"cgroup_subsys_state": {48, 208},
		"cgroup":              {152, 2224},
		"refcount_struct":     {4, 4},
		"css_set":             {56, 544},
		"task_group":          {72, 704},
		"task_struct":         {136, 3264},
		"bpf_iter_meta":       {24, 24},
		"bpf_iter__cgroup":    {16, 16},
		"bpf_view_cgroup_ctx": {16, 16},
	}
	for _, x := range []struct {
		l    *Layout
		size func(want) uint32
	}{{def, func(w want) uint32 { return w.def }}, {alt, func(w want) uint32 { return w.alt }}} {
		var names []string
		for _, s := range x.l.Structs() {
			names = append(names, s.Name())
			if w, ok := sizes[s.Name()]; assert.True(t, ok, "untested struct %s", s.Name()) {
				assert.Equal(t, x.size(w), s.Size(), "%s sizeof(struct %s)", x.l.Name(), s.Name())
			}
		}
		assert.Len(t, names, len(sizes))
	}
}

// TestLayoutsHaveTheSameFields: the layouts differ in placement only, so
// the bpf layer can build objects by field path in either.
func TestLayoutsHaveTheSameFields(t *testing.T) {
	def, alt := Default(), Alternate()
	for _, ds := range def.Structs() {
		as, err := alt.Struct(ds.Name())
		require.NoError(t, err)
		assert.Equal(t, ds.Paths(), as.Paths(), ds.Name())
		assert.Equal(t, ds.IsUnion(), as.IsUnion())
		for _, p := range ds.Paths() {
			df, _ := ds.Field(p)
			af, _ := as.Field(p)
			// The same C types, but for the subsys arrays' lengths
			// (CGROUP_SUBSYS_COUNT).
			dt, at := df.CType(), af.CType()
			if p == "subsys" {
				dt, at = strings.Replace(dt, "[3]", "[N]", 1), strings.Replace(at, "[12]", "[N]", 1)
			}
			assert.Equal(t, dt, at, "%s.%s", ds.Name(), p)
		}
	}
	// The context structs are kernel ABI: byte for byte the same.
	for _, name := range []string{"bpf_iter_meta", "bpf_iter__cgroup", "bpf_view_cgroup_ctx"} {
		ds, _ := def.Struct(name)
		as, _ := alt.Struct(name)
		assert.Equal(t, ds.Size(), as.Size(), name)
		for _, p := range ds.Paths() {
			do, _ := ds.Offset(p)
			ao, _ := as.Offset(p)
			assert.Equal(t, do, ao, "%s.%s", name, p)
		}
	}
	// And the field order really differs somewhere.
	order := func(l *Layout, name string) []string {
		s, _ := l.Struct(name)
		var out []string
		for _, f := range s.Fields() {
			out = append(out, f.Path)
		}
		return out
	}
	assert.NotEqual(t, order(def, "cgroup"), order(alt, "cgroup"))
	assert.NotEqual(t, order(def, "kernfs_node"), order(alt, "kernfs_node"))
}

func TestEnums(t *testing.T) {
	def, alt := Default(), Alternate()
	for _, l := range layouts() {
		for i, n := range []string{"BPF_CGROUP_ITER_ORDER_UNSPEC", "BPF_CGROUP_ITER_SELF_ONLY",
			"BPF_CGROUP_ITER_DESCENDANTS_PRE", "BPF_CGROUP_ITER_DESCENDANTS_POST", "BPF_CGROUP_ITER_ANCESTORS_UP"} {
			v, err := l.EnumValue("bpf_cgroup_iter_order", n)
			require.NoError(t, err)
			assert.Equal(t, uint64(i), v, n)
		}
		_, err := l.EnumValue("bpf_cgroup_iter_order", "BPF_CGROUP_ITER_CHILDREN")
		assert.ErrorIs(t, err, ErrUnknownField)
		v, err := l.EnumValue("bpf_map_type", "BPF_MAP_TYPE_HASH")
		require.NoError(t, err)
		assert.Equal(t, uint64(1), v)
		v, err = l.EnumValue("kernfs_node_type", "KERNFS_DIR")
		require.NoError(t, err)
		assert.Equal(t, uint64(1), v)
		_, err = l.EnumValue("no_such_enum", "X")
		assert.ErrorIs(t, err, ErrUnknownType)
	}
	for _, c := range []struct {
		l          *Layout
		cpu, count uint64
	}{{def, 0, 3}, {alt, 1, 12}} {
		v, err := c.l.EnumValue("cgroup_subsys_id", "cpu_cgrp_id")
		require.NoError(t, err)
		assert.Equal(t, c.cpu, v)
		v, err = c.l.EnumValue("cgroup_subsys_id", "CGROUP_SUBSYS_COUNT")
		require.NoError(t, err)
		assert.Equal(t, c.count, v)
		f, err := c.l.Field("cgroup", "subsys")
		require.NoError(t, err)
		assert.Equal(t, uint32(8*c.count), f.Size)
	}
}

func TestStructAccessors(t *testing.T) {
	l := Default()
	_, err := l.Struct("inode")
	assert.ErrorIs(t, err, ErrUnknownType)
	_, err = l.Offset("inode", "i_ino")
	assert.ErrorIs(t, err, ErrUnknownType)

	cg, err := l.Struct("cgroup")
	require.NoError(t, err)
	assert.Equal(t, "cgroup", cg.Name())
	assert.False(t, cg.IsUnion())
	assert.Equal(t, uint32(8), cg.Align())
	st, ok := cg.Type().(*btf.Struct)
	require.True(t, ok)
	assert.Equal(t, "cgroup", st.Name)
	flex, ok := cg.Flexible()
	require.True(t, ok)
	assert.Equal(t, "ancestors", flex.Path)
	assert.Equal(t, "struct cgroup *[]", flex.CType())
	tg, _ := l.Struct("task_group")
	_, ok = tg.Flexible()
	assert.False(t, ok)

	kn, _ := l.Struct("kernfs_node")
	var top []string
	for _, f := range kn.Fields() {
		top = append(top, f.Path)
	}
	assert.Equal(t, []string{"id", "", "name", "priv", "iattr", "ns", "count", "active", "hash", "flags", "mode"}, top)
	assert.True(t, sort.StringsAreSorted(kn.Paths()))
	assert.Contains(t, kn.Paths(), "__parent")
	assert.Contains(t, kn.Paths(), "active.counter")

	ctypes := map[string]string{
		"name":   "const char *",
		"ns":     "const void *",
		"id":     "u64",
		"mode":   "umode_t",
		"count":  "atomic_t",
		"parent": "struct kernfs_node *",
	}
	for p, want := range ctypes {
		f, err := kn.Field(p)
		require.NoError(t, err)
		assert.Equal(t, want, f.CType(), p)
	}
	task, _ := l.Struct("task_struct")
	f, _ := task.Field("comm")
	assert.Equal(t, "char [16]", f.CType())
	f, _ = task.Field("pid")
	assert.Equal(t, "pid_t", f.CType())

	// Structs() is a copy.
	ss := l.Structs()
	ss[0] = nil
	assert.NotNil(t, l.Structs()[0])
}

func TestAttachBTFName(t *testing.T) {
	for sec, want := range map[string]string{
		"view/cgroup":            ViewCgroupFunc,
		"iter/cgroup":            IterCgroupFunc,
		"iter.s/cgroup":          IterCgroupFunc,
		"tp_btf/sched_stat_wait": TraceSchedStatWait,
	} {
		got, ok := AttachBTFName(sec)
		assert.True(t, ok, sec)
		assert.Equal(t, want, got, sec)
	}
	for _, sec := range []string{"", "view/", "kprobe/foo", "raw_tp/sched_stat_wait", "tracepoint/sched/sched_stat_wait", "iter"} {
		_, ok := AttachBTFName(sec)
		assert.False(t, ok, sec)
	}
}

// Each call builds a new, independent layout.
func TestLayoutsAreIndependent(t *testing.T) {
	a, b := Default(), Default()
	sa, _ := a.Struct("cgroup")
	sb, _ := b.Struct("cgroup")
	assert.NotSame(t, sa, sb)
	assert.NotSame(t, sa.Type(), sb.Type())
	assert.Equal(t, "default", a.Name())
	assert.Equal(t, "alternate", Alternate().Name())
}

// build rejects inconsistent placements instead of producing a layout.
func TestBuildRejectsBadPlacements(t *testing.T) {
	good := linux618()
	_, err := build(config{name: "ok", subsys: []string{"a"}, placements: good})
	require.NoError(t, err)

	missing := linux618()
	p := missing["task_group"]
	p.at = p.at[:len(p.at)-1]
	missing["task_group"] = p
	_, err = build(config{name: "missing", subsys: []string{"a"}, placements: missing})
	assert.ErrorContains(t, err, `struct task_group: member "parent" has no placement`)

	unknown := linux618()
	p = unknown["task_group"]
	p.at = append(p.at, place{"no_such", 600})
	unknown["task_group"] = p
	_, err = build(config{name: "unknown", subsys: []string{"a"}, placements: unknown})
	assert.ErrorContains(t, err, `placement of unknown member "no_such"`)
}
