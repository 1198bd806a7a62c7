// Package bpf is the simulated kernel's BPF object layer: programs, maps and
// links with the kernel's reference counting, object ids, program types and
// their helpers, and the one simulated CPU programs run on. It stands for
// kernel/bpf/syscall.c (object lifetime, BPF_PROG_LOAD, BPF_MAP_*,
// BPF_LINK_CREATE, BPF_PROG_TEST_RUN), kernel/bpf/arraymap.c and hashtab.c,
// kernel/bpf/helpers.c and the helper parts of kernel/trace/bpf_trace.c.
//
// # Reference model
//
// Every [Object] (a [Prog], a [Map], a [Link]) has one reference count. An
// fd holds one, a bpffs pin inode holds one, a link holds one on its
// program, a program holds one on every map it uses. The RFC's kernfs
// exposures hold none. When the count reaches zero the object is freed at
// once (the kernel defers the free through RCU and a workqueue; nothing in
// the simulator can observe the difference): its id disappears, it drops
// what it holds, and an [events.ObjectFreed] event is emitted.
//
// # Running programs
//
// Programs run in the interpreter (package interp) against one
// [interp.AddressSpace] per machine holding map values and kernel objects.
// The machine has one CPU: a run holds [Subsystem]'s CPU lock, and so do
// system calls that copy map values, so program memory is never touched
// concurrently (per-CPU maps hold one value). Program types are registered
// by the packages that implement them (the RFC's view/cgroup in bpfview,
// iter/cgroup and tracing in this package's siblings); each says which
// helpers it may call, what its context is, what it may return and how it
// is linked.
//
// # Lock order
//
// Subsystem.typesMu and handlesMu are leaves. The CPU lock is taken with no
// other simfs lock held except kernfs active references (a view read) and
// never while waiting for the VFS lock.
//
// # Left out
//
// The verifier's abstract interpretation (the interp package does the
// structural checks; return-value ranges and helper argument types are
// checked at run time), JIT, tail calls, BTF-typed map values beyond
// printing, bpf_spin_lock, map-in-map, ring buffers, per-CPU maps with more
// than one CPU, BPF tokens. bpf_seq_printf_btf is in package btfshow, with
// what it leaves out of the kernel's btf_show.
package bpf
