// Package vmlinux is the simulator's kernel type information: the parts of
// the kernel's struct definitions and of its vmlinux BTF
// (/sys/kernel/btf/vmlinux) that simulated BPF programs read. It stands for
// include/linux/seq_file.h (struct seq_file), include/linux/kernfs.h
// (struct kernfs_node, enum kernfs_node_type), include/linux/cgroup-defs.h
// (struct cgroup_subsys_state, struct cgroup, struct css_set, enum
// cgroup_subsys_id), kernel/sched/sched.h (struct task_group),
// include/linux/sched.h (struct task_struct), include/linux/bpf.h and
// kernel/bpf/cgroup_iter.c (struct bpf_iter_meta, struct bpf_iter__cgroup,
// enum bpf_cgroup_iter_order), the RFC's kernel/bpf/bpf_view.h (struct
// bpf_view_cgroup_ctx), the uapi typedefs and map enums that libbpf's
// bpf_helpers.h needs, and the BTF attach anchors the kernel and libbpf
// resolve program sections by: FUNC bpf_view_cgroup (the RFC's
// DEFINE_BPF_VIEW_FUNC, for SEC("view/cgroup")), FUNC bpf_iter_cgroup
// (DEFINE_BPF_ITER_FUNC, for SEC("iter/cgroup")) and TYPEDEF
// btf_trace_sched_stat_wait (for SEC("tp_btf/sched_stat_wait")).
//
// A Layout describes every simulated type: each struct's size and each
// field's offset, size and C type. The layouts are the simulator's own, not
// the running kernel's. Default is compact and is what `simfs btf dump`
// prints (Header); Alternate has the kernel's field order and Linux 6.18's
// offsets (cgroup.level at 216, cgroup.kn at 256, kernfs_node.id at 96), so
// that tests can run the same program against two different layouts.
// Programs compiled against Default's header run unrelocated; programs
// compiled against a real kernel's vmlinux.h are CO-RE-relocated against
// Spec by field name (btf.CORERelocate), as libbpf relocates them against a
// kernel. A field the simulator does not model has no BTF member, so a
// relocation that needs it is poisoned (or makes the load fail) naming the
// field, never a silent wrong read. Field names follow the kernel, with one
// liberty: kernfs_node has both parent (older kernels) and __parent (what
// recent kernels, 6.18 among them, call it since parent became RCU-protected)
// on one pointer, in an anonymous union.
//
// The encoding helpers (Struct.New, PutU64, Field, Offset, ...) let the bpf
// layer build the little-endian bytes of simulated kernel objects by field
// name and path ("kn", "self.serial_nr", "ancestors[2]"); the bpf layer
// decides where objects live in the interpreter's memory and what their
// pointers hold. This package depends on no other simfs package.
//
// Left out: every field and type the simulated programs and helpers do not
// need (locks, rb-trees, work items, the scheduler's entities, file and
// inode structures, which are forward declarations only); bit-fields;
// architecture-specific types (struct pt_regs) and per-CPU data; ENUM64;
// type and decl tags; enum bpf_prog_type, enum bpf_attach_type and the
// rest of uapi/linux/bpf.h beyond map types and map flags; the newer
// BPF_CGROUP_ITER_CHILDREN order, which Linux 6.18 does not have either
// (the simulator's iter/cgroup offers Linux 6.1's four orders). Struct
// sizes and field offsets are x86-64's (LP64); 32-bit kernels are not
// modelled.
package vmlinux
