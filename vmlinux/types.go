package vmlinux

import (
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// Names of the BTF attach anchors every layout carries.
const (
	// ViewCgroupFunc is the RFC's attach anchor for SEC("view/cgroup"):
	// the FUNC that DEFINE_BPF_VIEW_FUNC(cgroup, struct seq_file *seq,
	// struct cgroup *cgroup) defines (patch 5/8), found by libbpf as
	// "bpf_view_" + "cgroup".
	ViewCgroupFunc = "bpf_view_cgroup"
	// IterCgroupFunc is cgroup_iter's anchor for SEC("iter/cgroup"):
	// DEFINE_BPF_ITER_FUNC(cgroup, struct bpf_iter_meta *meta, struct
	// cgroup *cgroup) (Linux 6.1).
	IterCgroupFunc = "bpf_iter_cgroup"
	// TraceSchedStatWait is the typedef SEC("tp_btf/sched_stat_wait")
	// resolves: "btf_trace_" + the tracepoint name, a pointer to
	// void (void *, struct task_struct *, u64).
	TraceSchedStatWait = "btf_trace_sched_stat_wait"
)

// AttachBTFName returns the name of the BTF type a program in ELF section
// sec attaches to, as libbpf's find_attach_btf_id and the kernel resolve
// it: "view/cgroup" → "bpf_view_cgroup" (a FUNC), "iter/cgroup" and
// "iter.s/cgroup" → "bpf_iter_cgroup" (a FUNC), "tp_btf/sched_stat_wait" →
// "btf_trace_sched_stat_wait" (a TYPEDEF). ok is false for sections that do
// not attach by BTF name.
func AttachBTFName(sec string) (name string, ok bool) {
	for _, p := range [...]struct{ sec, btf string }{
		{"view/", "bpf_view_"},
		{"iter/", "bpf_iter_"},
		{"iter.s/", "bpf_iter_"},
		{"tp_btf/", "btf_trace_"},
	} {
		if len(sec) > len(p.sec) && sec[:len(p.sec)] == p.sec {
			return p.btf + sec[len(p.sec):], true
		}
	}
	return "", false
}

// Default returns the simulator's own layout, the one `simfs btf dump`
// prints: every struct laid out compactly in the simulator's field order
// with natural C alignment and no fields the simulator does not model.
// Programs compiled against its Header need no relocation.
func Default() *Layout {
	return mustBuild(config{
		name:   "default",
		subsys: []string{"cpu_cgrp_id", "memory_cgrp_id", "pids_cgrp_id"},
	})
}

// Alternate returns a deliberately different layout, so tests can prove
// that CO-RE relocation works against two layouts: the kernel's field
// order, the offsets and struct sizes of Linux 6.18 on x86-64 for every
// field the simulator models (the holes stand for the fields it does not
// model), and 6.18's twelve cgroup subsystems, which makes the subsys
// arrays longer and renumbers enum cgroup_subsys_id. struct cgroup is 2224
// bytes rather than 6.18's 2240, whose tail padding comes from a 64-byte
// aligned member the simulator does not model. The context structs
// (bpf_iter_meta, bpf_iter__cgroup, bpf_view_cgroup_ctx) are kernel ABI
// and identical in both layouts.
func Alternate() *Layout {
	return mustBuild(config{
		name: "alternate",
		subsys: []string{"cpuset_cgrp_id", "cpu_cgrp_id", "cpuacct_cgrp_id", "io_cgrp_id",
			"memory_cgrp_id", "devices_cgrp_id", "freezer_cgrp_id", "net_cls_cgrp_id",
			"perf_event_cgrp_id", "net_prio_cgrp_id", "hugetlb_cgrp_id", "pids_cgrp_id"},
		placements: linux618(),
	})
}

// linux618 places every modelled field at its Linux 6.18 x86-64 offset,
// as read from /sys/kernel/btf/vmlinux of a 6.18.44 kernel.
func linux618() map[string]placement {
	return map[string]placement{
		"seq_file": {120, []place{
			{"buf", 0}, {"size", 8}, {"from", 16}, {"count", 24}, {"pad_until", 32},
			{"index", 40}, {"read_pos", 48}, {"op", 88}, {"poll_event", 96},
			{"file", 104}, {"private", 112},
		}},
		"kernfs_node": {136, []place{
			{"count", 0}, {"active", 4}, {"parent", 8}, {"name", 16}, {"ns", 48},
			{"hash", 56}, {"flags", 60}, {"mode", 62}, {"id", 96}, {"priv", 104},
			{"iattr", 112},
		}},
		"cgroup_subsys_state": {208, []place{
			{"cgroup", 0}, {"ss", 8}, {"id", 72}, {"flags", 76}, {"serial_nr", 80},
			{"online_cnt", 88}, {"parent", 184}, {"nr_descendants", 192},
		}},
		"cgroup": {2224, []place{
			{"self", 0}, {"flags", 208}, {"level", 216}, {"max_depth", 220},
			{"nr_descendants", 224}, {"nr_dying_descendants", 228},
			{"max_descendants", 232}, {"nr_populated_csets", 236},
			{"nr_populated_domain_children", 240}, {"nr_populated_threaded_children", 244},
			{"nr_threaded_children", 248}, {"kill_seq", 252}, {"kn", 256},
			{"subtree_control", 544}, {"subtree_ss_mask", 546}, {"subsys", 552},
			{"root", 696}, {"dom_cgrp", 912}, {"ancestors", 2224},
		}},
		"css_set": {544, []place{
			{"subsys", 0}, {"refcount", 96}, {"dom_cset", 104}, {"dfl_cgrp", 112},
			{"nr_tasks", 120}, {"dead", 520},
		}},
		"task_group": {704, []place{
			{"css", 0}, {"idle", 208}, {"shares", 232}, {"parent", 408},
		}},
		"task_struct": {3264, []place{
			{"__state", 24}, {"flags", 44}, {"on_cpu", 52}, {"prio", 108},
			{"static_prio", 112}, {"normal_prio", 116}, {"rt_priority", 120},
			{"sched_task_group", 712}, {"policy", 780}, {"nr_cpus_allowed", 792},
			{"exit_state", 1160}, {"exit_code", 1164}, {"exit_signal", 1168},
			{"pid", 1264}, {"tgid", 1268}, {"real_parent", 1280}, {"parent", 1288},
			{"group_leader", 1328}, {"nvcsw", 1536}, {"nivcsw", 1544},
			{"start_time", 1552}, {"comm", 1752}, {"cgroups", 2376},
		}},
	}
}

type config struct {
	name string
	// subsys lists enum cgroup_subsys_id's enumerators in order;
	// CGROUP_SUBSYS_COUNT follows them.
	subsys []string
	// placements gives explicit offsets and sizes per struct; a struct
	// without one gets the natural C layout of its declaration order.
	placements map[string]placement
}

// A placement puts every member of a struct, by key, at an offset, in
// increasing offset order, and gives the struct's size.
type placement struct {
	size uint32
	at   []place
}

type place struct {
	key string
	off uint32
}

// A member is one field of a declared struct. key is its name or, for an
// anonymous member, the name of its first field.
type member struct {
	key, name string
	typ       btf.Type
}

func m(name string, typ btf.Type) member { return member{name, name, typ} }

func anon(typ btf.Type) member {
	ms, _ := compositeMembers(typ)
	return member{ms[0].Name, "", typ}
}

func mustBuild(cfg config) *Layout {
	l, err := build(cfg)
	if err != nil {
		// The declarations below are constants of this package; the
		// tests build both layouts, so this cannot happen in a tested
		// build.
		panic(err)
	}
	return l
}

type builder struct {
	cfg config
	l   *Layout
	err error
}

func (b *builder) decl(t btf.Type) {
	b.l.decls = append(b.l.decls, t)
	if e, ok := t.(*btf.Enum); ok && e.Name != "" {
		b.l.enums[e.Name] = e
	}
}

func (b *builder) typedef(name string, t btf.Type) *btf.Typedef {
	td := &btf.Typedef{Name: name, Type: t}
	b.decl(td)
	return td
}

// define lays out a struct declared earlier (so that pointers to it could
// be made) and records it.
func (b *builder) define(s *btf.Struct, members ...member) {
	if b.err != nil {
		return
	}
	if p, ok := b.cfg.placements[s.Name]; ok {
		b.err = placeMembers(s, p, members)
	} else {
		naturalLayout(s, members)
	}
	if b.err != nil {
		b.err = fmt.Errorf("vmlinux: %s layout: struct %s: %w", b.cfg.name, s.Name, b.err)
		return
	}
	b.decl(s)
	st := newStruct(s)
	b.l.structs[s.Name] = st
	b.l.order = append(b.l.order, st)
}

// naturalLayout places members in declaration order at their natural
// alignment, as a C compiler does.
func naturalLayout(s *btf.Struct, members []member) {
	var off, align uint32 = 0, 1
	s.Members = s.Members[:0]
	for _, mb := range members {
		a := alignof(mb.typ)
		off = roundUp(off, a)
		align = max(align, a)
		s.Members = append(s.Members, btf.Member{Name: mb.name, Type: mb.typ, Offset: btf.Bits(off * 8)})
		off += sizeof(mb.typ)
	}
	s.Size = roundUp(off, align)
}

func placeMembers(s *btf.Struct, p placement, members []member) error {
	byKey := make(map[string]member, len(members))
	for _, mb := range members {
		byKey[mb.key] = mb
	}
	s.Members = s.Members[:0]
	for _, at := range p.at {
		mb, ok := byKey[at.key]
		if !ok {
			return fmt.Errorf("placement of unknown member %q", at.key)
		}
		delete(byKey, at.key)
		s.Members = append(s.Members, btf.Member{Name: mb.name, Type: mb.typ, Offset: btf.Bits(at.off * 8)})
	}
	for k := range byKey {
		return fmt.Errorf("member %q has no placement", k)
	}
	s.Size = p.size
	return nil
}

func build(cfg config) (*Layout, error) {
	b := &builder{cfg: cfg, l: &Layout{
		name:    cfg.name,
		structs: map[string]*Struct{},
		enums:   map[string]*btf.Enum{},
	}}

	// Base types, named as in the kernel's BTF (gcc's DWARF names).
	var (
		char     = &btf.Int{Name: "char", Size: 1}
		schar    = &btf.Int{Name: "signed char", Size: 1, Encoding: btf.Signed}
		uchar    = &btf.Int{Name: "unsigned char", Size: 1}
		short    = &btf.Int{Name: "short int", Size: 2, Encoding: btf.Signed}
		ushort   = &btf.Int{Name: "short unsigned int", Size: 2}
		sint     = &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
		unsigned = &btf.Int{Name: "unsigned int", Size: 4}
		long     = &btf.Int{Name: "long int", Size: 8, Encoding: btf.Signed}
		ulong    = &btf.Int{Name: "long unsigned int", Size: 8}
		llong    = &btf.Int{Name: "long long int", Size: 8, Encoding: btf.Signed}
		ullong   = &btf.Int{Name: "long long unsigned int", Size: 8}
		cbool    = &btf.Int{Name: "_Bool", Size: 1, Encoding: btf.Bool}
		void     = &btf.Void{}
	)
	for _, t := range []btf.Type{char, schar, uchar, short, ushort, sint, unsigned, long, ulong, llong, ullong, cbool} {
		b.decl(t)
	}
	ptr := func(t btf.Type) *btf.Pointer { return &btf.Pointer{Target: t} }

	// Typedefs of include/uapi/asm-generic/int-ll64.h, linux/types.h and
	// the uapi headers that bpf_helper_defs.h uses.
	s8 := b.typedef("__s8", schar)
	u8 := b.typedef("__u8", uchar)
	s16 := b.typedef("__s16", short)
	u16 := b.typedef("__u16", ushort)
	s32 := b.typedef("__s32", sint)
	u32 := b.typedef("__u32", unsigned)
	s64 := b.typedef("__s64", llong)
	u64 := b.typedef("__u64", ullong)
	b.typedef("s8", s8)
	b.typedef("u8", u8)
	b.typedef("s16", s16)
	ku16 := b.typedef("u16", u16)
	b.typedef("s32", s32)
	b.typedef("u32", u32)
	b.typedef("s64", s64)
	ku64 := b.typedef("u64", u64)
	b.typedef("__be16", u16)
	b.typedef("__be32", u32)
	b.typedef("__wsum", u32)
	klong := b.typedef("__kernel_long_t", long)
	kulong := b.typedef("__kernel_ulong_t", ulong)
	kpid := b.typedef("__kernel_pid_t", sint)
	ksize := b.typedef("__kernel_size_t", kulong)
	kssize := b.typedef("__kernel_ssize_t", klong)
	kloff := b.typedef("__kernel_loff_t", llong)
	umode := b.typedef("umode_t", ushort)
	pid := b.typedef("pid_t", kpid)
	cboolT := b.typedef("bool", cbool)
	size := b.typedef("size_t", ksize)
	b.typedef("ssize_t", kssize)
	loff := b.typedef("loff_t", kloff)
	atomic := b.typedef("atomic_t", &btf.Struct{Size: 4, Members: []btf.Member{{Name: "counter", Type: sint}}})
	b.typedef("atomic64_t", &btf.Struct{Size: 8, Members: []btf.Member{{Name: "counter", Type: s64}}})

	// Enums.
	enum := func(name string, names ...string) *btf.Enum {
		e := &btf.Enum{Name: name, Size: 4}
		for i, n := range names {
			e.Values = append(e.Values, btf.EnumValue{Name: n, Value: uint64(i)})
		}
		b.decl(e)
		return e
	}
	flags := func(name string, vals ...any) *btf.Enum {
		e := &btf.Enum{Name: name, Size: 4}
		for i := 0; i < len(vals); i += 2 {
			e.Values = append(e.Values, btf.EnumValue{Name: vals[i].(string), Value: uint64(vals[i+1].(int))})
		}
		b.decl(e)
		return e
	}
	flags("", "false", 0, "true", 1)
	flags("bpf_map_type",
		"BPF_MAP_TYPE_UNSPEC", 0, "BPF_MAP_TYPE_HASH", 1, "BPF_MAP_TYPE_ARRAY", 2,
		"BPF_MAP_TYPE_PROG_ARRAY", 3, "BPF_MAP_TYPE_PERF_EVENT_ARRAY", 4,
		"BPF_MAP_TYPE_PERCPU_HASH", 5, "BPF_MAP_TYPE_PERCPU_ARRAY", 6,
		"BPF_MAP_TYPE_STACK_TRACE", 7, "BPF_MAP_TYPE_CGROUP_ARRAY", 8,
		"BPF_MAP_TYPE_LRU_HASH", 9, "BPF_MAP_TYPE_LRU_PERCPU_HASH", 10,
		"BPF_MAP_TYPE_LPM_TRIE", 11, "BPF_MAP_TYPE_ARRAY_OF_MAPS", 12,
		"BPF_MAP_TYPE_HASH_OF_MAPS", 13, "BPF_MAP_TYPE_DEVMAP", 14,
		"BPF_MAP_TYPE_SOCKMAP", 15, "BPF_MAP_TYPE_CPUMAP", 16, "BPF_MAP_TYPE_XSKMAP", 17,
		"BPF_MAP_TYPE_SOCKHASH", 18, "BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED", 19,
		"BPF_MAP_TYPE_CGROUP_STORAGE", 19, "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY", 20,
		"BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED", 21,
		"BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE", 21, "BPF_MAP_TYPE_QUEUE", 22,
		"BPF_MAP_TYPE_STACK", 23, "BPF_MAP_TYPE_SK_STORAGE", 24,
		"BPF_MAP_TYPE_DEVMAP_HASH", 25, "BPF_MAP_TYPE_STRUCT_OPS", 26,
		"BPF_MAP_TYPE_RINGBUF", 27, "BPF_MAP_TYPE_INODE_STORAGE", 28,
		"BPF_MAP_TYPE_TASK_STORAGE", 29, "BPF_MAP_TYPE_BLOOM_FILTER", 30,
		"BPF_MAP_TYPE_USER_RINGBUF", 31, "BPF_MAP_TYPE_CGRP_STORAGE", 32,
		"BPF_MAP_TYPE_ARENA", 33, "__MAX_BPF_MAP_TYPE", 34)
	flags("", "BPF_ANY", 0, "BPF_NOEXIST", 1, "BPF_EXIST", 2, "BPF_F_LOCK", 4)
	flags("", "BPF_F_NO_PREALLOC", 1, "BPF_F_NO_COMMON_LRU", 2, "BPF_F_NUMA_NODE", 4,
		"BPF_F_RDONLY", 8, "BPF_F_WRONLY", 16, "BPF_F_STACK_BUILD_ID", 32,
		"BPF_F_ZERO_SEED", 64, "BPF_F_RDONLY_PROG", 128, "BPF_F_WRONLY_PROG", 256,
		"BPF_F_CLONE", 512, "BPF_F_MMAPABLE", 1024, "BPF_F_PRESERVE_ELEMS", 2048,
		"BPF_F_INNER_MAP", 4096)
	enum("bpf_cgroup_iter_order",
		"BPF_CGROUP_ITER_ORDER_UNSPEC", "BPF_CGROUP_ITER_SELF_ONLY",
		"BPF_CGROUP_ITER_DESCENDANTS_PRE", "BPF_CGROUP_ITER_DESCENDANTS_POST",
		"BPF_CGROUP_ITER_ANCESTORS_UP")
	subsysID := enum("cgroup_subsys_id", append(append([]string(nil), cfg.subsys...), "CGROUP_SUBSYS_COUNT")...)
	nsubsys := uint32(len(subsysID.Values) - 1)
	flags("kernfs_node_type", "KERNFS_DIR", 1, "KERNFS_FILE", 2, "KERNFS_LINK", 4)

	// Types only pointed to: forward declarations.
	fwd := func(name string) *btf.Fwd {
		f := &btf.Fwd{Name: name, Kind: btf.FwdStruct}
		b.decl(f)
		return f
	}
	seqOps := fwd("seq_operations")
	file := fwd("file")
	iattrs := fwd("kernfs_iattrs")
	subsys := fwd("cgroup_subsys")
	root := fwd("cgroup_root")

	// The modelled structs, allocated first so that they can point at
	// each other, then defined in by-value dependency order.
	var (
		seqFile  = &btf.Struct{Name: "seq_file"}
		kn       = &btf.Struct{Name: "kernfs_node"}
		css      = &btf.Struct{Name: "cgroup_subsys_state"}
		cgroup   = &btf.Struct{Name: "cgroup"}
		refcount = &btf.Struct{Name: "refcount_struct"}
		cset     = &btf.Struct{Name: "css_set"}
		tg       = &btf.Struct{Name: "task_group"}
		task     = &btf.Struct{Name: "task_struct"}
		meta     = &btf.Struct{Name: "bpf_iter_meta"}
		iterCtx  = &btf.Struct{Name: "bpf_iter__cgroup"}
		viewCtx  = &btf.Struct{Name: "bpf_view_cgroup_ctx"}
	)
	refcountT := b.typedef("refcount_t", refcount)
	constChar := &btf.Const{Type: char}
	cssArray := &btf.Array{Index: sint, Type: ptr(css), Nelems: nsubsys}
	// __bpf_md_ptr(type, name): union { type name; } aligned to 8.
	mdPtr := func(name string, target btf.Type) member {
		return anon(&btf.Union{Size: 8, Members: []btf.Member{{Name: name, Type: ptr(target)}}})
	}

	// include/linux/seq_file.h
	b.define(seqFile,
		m("buf", ptr(char)),
		m("size", size),
		m("from", size),
		m("count", size),
		m("pad_until", size),
		m("index", loff),
		m("read_pos", loff),
		m("op", ptr(&btf.Const{Type: seqOps})),
		m("file", ptr(file)),
		m("private", ptr(void)),
		m("poll_event", sint),
	)
	// include/linux/kernfs.h. Recent kernels (6.18 here) call parent
	// __parent since it became RCU-protected; the simulator has both names
	// on one pointer so that programs built against older and newer
	// kernels relocate.
	b.define(kn,
		m("id", ku64),
		anon(&btf.Union{Size: 8, Members: []btf.Member{
			{Name: "parent", Type: ptr(kn)},
			{Name: "__parent", Type: ptr(kn)},
		}}),
		m("name", ptr(constChar)),
		m("priv", ptr(void)),
		m("iattr", ptr(iattrs)),
		m("ns", ptr(&btf.Const{Type: void})),
		m("count", atomic),
		m("active", atomic),
		m("hash", unsigned),
		m("flags", ushort),
		m("mode", umode),
	)
	// include/linux/cgroup-defs.h
	b.define(css,
		m("cgroup", ptr(cgroup)),
		m("parent", ptr(css)),
		m("ss", ptr(subsys)),
		m("serial_nr", ku64),
		m("id", sint),
		m("flags", unsigned),
		m("online_cnt", atomic),
		m("nr_descendants", sint),
	)
	b.define(cgroup,
		m("self", css),
		m("kn", ptr(kn)),
		m("level", sint),
		m("max_depth", sint),
		m("nr_descendants", sint),
		m("nr_dying_descendants", sint),
		m("max_descendants", sint),
		m("nr_populated_csets", sint),
		m("nr_populated_domain_children", sint),
		m("nr_populated_threaded_children", sint),
		m("nr_threaded_children", sint),
		m("kill_seq", unsigned),
		m("flags", ulong),
		m("subtree_control", ku16),
		m("subtree_ss_mask", ku16),
		m("root", ptr(root)),
		m("dom_cgrp", ptr(cgroup)),
		m("subsys", cssArray),
		m("ancestors", &btf.Array{Index: sint, Type: ptr(cgroup)}),
	)
	// include/linux/refcount_types.h
	b.define(refcount, m("refs", atomic))
	b.define(cset,
		m("dfl_cgrp", ptr(cgroup)),
		m("dom_cset", ptr(cset)),
		m("subsys", cssArray),
		m("refcount", refcountT),
		m("nr_tasks", sint),
		m("dead", cboolT),
	)
	// kernel/sched/sched.h
	b.define(tg,
		m("parent", ptr(tg)),
		m("css", css),
		m("shares", ulong),
		m("idle", sint),
	)
	// include/linux/sched.h
	b.define(task,
		m("pid", pid),
		m("tgid", pid),
		m("__state", unsigned),
		m("flags", unsigned),
		m("prio", sint),
		m("static_prio", sint),
		m("normal_prio", sint),
		m("rt_priority", unsigned),
		m("policy", unsigned),
		m("nr_cpus_allowed", sint),
		m("on_cpu", sint),
		m("exit_state", sint),
		m("exit_code", sint),
		m("exit_signal", sint),
		m("sched_task_group", ptr(tg)),
		m("cgroups", ptr(cset)),
		m("real_parent", ptr(task)),
		m("parent", ptr(task)),
		m("group_leader", ptr(task)),
		m("start_time", ku64),
		m("nvcsw", ulong),
		m("nivcsw", ulong),
		m("comm", &btf.Array{Index: sint, Type: char, Nelems: 16}),
	)
	// include/linux/bpf.h, kernel/bpf/cgroup_iter.c, the RFC's
	// kernel/bpf/bpf_view.h: program contexts, kernel ABI.
	b.define(meta,
		mdPtr("seq", seqFile),
		m("session_id", ku64),
		m("seq_num", ku64),
	)
	b.define(iterCtx, mdPtr("meta", meta), mdPtr("cgroup", cgroup))
	b.define(viewCtx, mdPtr("seq", seqFile), mdPtr("cgroup", cgroup))
	if b.err != nil {
		return nil, b.err
	}

	// Attach anchors.
	b.l.anchors = []btf.Type{
		&btf.Func{Name: IterCgroupFunc, Linkage: btf.StaticFunc, Type: &btf.FuncProto{
			Return: sint,
			Params: []btf.FuncParam{{Name: "meta", Type: ptr(meta)}, {Name: "cgroup", Type: ptr(cgroup)}},
		}},
		&btf.Func{Name: ViewCgroupFunc, Linkage: btf.StaticFunc, Type: &btf.FuncProto{
			Return: sint,
			Params: []btf.FuncParam{{Name: "seq", Type: ptr(seqFile)}, {Name: "cgroup", Type: ptr(cgroup)}},
		}},
		&btf.Typedef{Name: TraceSchedStatWait, Type: ptr(&btf.FuncProto{
			Return: void,
			Params: []btf.FuncParam{{Type: ptr(void)}, {Type: ptr(task)}, {Type: ku64}},
		})},
	}
	return b.l, nil
}
