// Package loader turns clang-built BPF ELF objects into programs and maps
// that the simulator instantiates, with no kernel and no bpf() calls.
//
// # What it stands for
//
// libbpf's bpf_object__open and the kernel-independent half of
// bpf_object__load (tools/lib/bpf/libbpf.c): ELF parsing, program sections
// and their types, BTF-defined maps in ".maps", legacy SEC("maps") struct
// bpf_map_def maps, global data (".rodata", ".data", ".bss",
// ".rodata.str1.1", custom ".data.*" and ".rodata.*") as one-entry array
// maps, static and global bpf-to-bpf calls linked into each program, and
// CO-RE relocation (bpf_core_apply_relo_insn) against a target BTF that
// stands for vmlinux. Parsing is github.com/cilium/ebpf's
// LoadCollectionSpecFromReader; CO-RE is its btf.CORERelocate.
//
// # Section names
//
// Programs are recognised by section name as libbpf does: "view/<target>"
// (the 2022 bpf_view RFC; cilium/ebpf and libbpf 1.x do not know it, cilium
// types it UnspecifiedProgram), "iter/<target>" and the sleepable
// "iter.s/<target>", "tp_btf/<tracepoint>", "raw_tp/<tp>" (or
// "raw_tracepoint/"), "tracepoint/<category>/<name>" (or "tp/"). Any other
// section gives KindOther with cilium's interpretation in Program.Type; the
// caller decides whether it can load it.
//
// # Map references
//
// Map and global-data references stay symbolic, as in libbpf before
// bpf_object__relocate_data has map fds to write. Every lddw with a map
// pseudo source is listed in Program.MapRefs:
//
//   - src 1 (BPF_PSEUDO_MAP_FD): the map itself; ins.Reference() is the map's
//     name (the ELF symbol, e.g. "wait_map"), ins.Constant is 0.
//   - src 2 (BPF_PSEUDO_MAP_VALUE): an address inside the value of entry 0 of
//     a global-data map; ins.Reference() is the map's name, which for global
//     data is the ELF section name (".rodata", ".bss", ...), not the
//     variable's, and the byte offset is the upper 32 bits of ins.Constant
//     (MapRef.Offset).
//
// A caller either resolves them itself (interp's Options.ResolveImm64 gets
// the slot and the instruction, whose Reference() names the map), or calls
// Program.Resolve with a function that returns the 64-bit value for each
// reference and gets the instructions back with plain constant loads.
//
// # CO-RE
//
// Every program is relocated against the target BTF before Load returns,
// exactly once, and the applied fixups are listed in Program.CORE. A
// relocation the target cannot satisfy is poisoned as libbpf does (the
// instruction becomes "call 0xbad2310", an lddw becomes
// "lddw r10, 0xbad2310"), and Program.Poisoned records, per instruction
// (by raw slot), a message naming the relocation's kind, struct and field
// path and why the target lacks it. The kernel verifier refuses a program
// whose poisoned instruction is reachable ("invalid func
// unknown#195896080", measured on 6.18) and accepts it in code a constant
// branch skips (after a bpf_core_field_exists that came out 0), which is
// why libbpf poisons rather than fails; interp traps when it reaches one.
// With Options.Strict any such relocation fails the load instead, with the
// same message. Objects with CO-RE relocations need a target; local type
// ids (bpf_core_type_id_local) are ids in the object's own BTF (Object.BTF).
//
// # Errors
//
// Errors are *Error values that match a syscall.Errno with errors.Is, the
// errno the kernel or libbpf would have returned: EINVAL for malformed or
// inconsistent objects and for strict CO-RE failures, E2BIG for a global data
// section larger than the kernel allows a map value to be, EOPNOTSUPP for
// features the simulator has no counterpart for. Malformed input never panics.
//
// # What it leaves out
//
// Everything that needs a kernel or that simfs does not simulate: map and
// program creation (the simulator's bpf layer does that from these specs),
// kernel feature probing and sanitisation of BTF for old kernels, extern
// variables (".kconfig" is refused; ".ksyms" and kfunc calls are left in the
// instructions for the caller to refuse), struct_ops, map-in-map and program
// array initial contents, BTF-defined map pinning by path (the pinning
// attribute is only reported), kernel module BTF as extra CO-RE targets,
// libbpf's generated map names ("<obj>.rodata") and skeletons.
package loader
