// Package interp is simfs's eBPF engine: it decodes, checks and runs BPF
// programs in userspace, with no kernel and no unsafe code.
//
// # What it stands for
//
// The interpreter is the kernel's kernel/bpf/core.c (___bpf_prog_run); the
// load-time checks are the parts of kernel/bpf/verifier.c that decide a
// program's shape: resolve_pseudo_ldimm64's operand checks, check_subprogs,
// check_cfg, check_max_stack_depth, the per-instruction reserved-field and
// register checks of do_check, and its "R%d !read_ok" liveness. Bytecode is
// decoded with github.com/cilium/ebpf/asm; since asm accepts non-zero unused
// fields, every raw slot is validated first.
//
// The ISA is RFC 9669 / cpu v4 in full: ALU and ALU64 (sdiv, smod, movsx,
// bswap, le/be), JMP and JMP32 (ja32), loads, sign-extending loads, stores,
// 32- and 64-bit atomics (add, or, and, xor, their fetch forms, xchg,
// cmpxchg), lddw with its pseudo sources (resolved by the caller through
// Options.ResolveImm64), helper calls, bpf-to-bpf calls with their own
// FrameSize-byte frames up to MaxCallDepth deep, and exit. Division by zero
// gives 0, modulo by zero leaves dst (ALU32 zero-extends it), shift amounts
// are masked, INT_MIN/-1 is INT_MIN.
//
// # Profiles
//
// One engine, two sets of load-time checks. Both reject, naming the
// instruction: unknown opcodes, non-zero unused fields, invalid registers,
// jumps out of the program or into the second half of an lddw, a last
// instruction that is not exit or ja, writes to r10, r10-relative accesses
// outside the frame, calls to helpers the caller does not allow, and more than
// MaxInsns instructions. ISA is RFC 9669 exactly (what the bpf_conformance
// suite expects: constant shift amounts are masked, a constant divisor of zero
// follows the division rules, callx calls the helper whose id is in the
// register). Linux adds the rejections of the Linux verifier that matter for
// simulated program types: "invalid shift", "div by zero", reads of
// registers not written on every path (so r0 must be set before exit),
// unreachable instructions, jumps between subprograms, recursion and call
// chains deeper than MaxCallDepth, misaligned or out-of-frame stack accesses
// through r10 and registers copied from it plus a constant, callx, and the
// legacy packet loads (rejected in both profiles).
//
// Load errors are *LoadError values that match a syscall.Errno with errors.Is
// (EINVAL for malformed programs, EACCES for safety rejections, E2BIG for
// size), and carry a verifier-style log.
//
// # Memory model
//
// Addresses are tagged 64-bit values: region id in the high 32 bits, byte
// offset in the low 32. Region 0 is never mapped, so NULL and small integers
// fault. Each run has its own stack region (StackAddr; r10 starts at its top
// and moves down FrameSize bytes per bpf-to-bpf call) and, optionally, a ctx
// region (CtxAddr). Long-lived regions (kernel objects, map values, global
// data) live in an AddressSpace shared by all runs: mapping and unmapping are
// O(1) and lookups take no lock. Every load, store, atomic and helper access
// is bounds-checked against its region without integer overflow; read-only
// regions reject stores. Faults are *RunError values wrapping a *MemoryFault
// (errors.Is EFAULT) and name the instruction.
//
// # Running
//
// A Program is immutable: any number of goroutines may Run it at once, each
// run with its own registers and stack (pooled, zeroed between runs). A run
// executes at most its budget of instructions (DefaultBudget unless set),
// calls helpers from the caller's table by id, and may be traced one
// instruction at a time for teaching (RunOptions.Trace) without slowing
// untraced runs. A helper ends the program early by returning ErrExit.
// Instructions poisoned by a failed CO-RE relocation load, and trap with
// ErrCORERelocation if reached.
//
// # What it leaves out
//
// The verifier's abstract interpretation of values and pointer types (range
// tracking, pointer provenance, map value bounds, helper argument types,
// reference tracking, liveness-based state pruning), so a program the kernel
// would reject for a pointer-typing reason may load here; run-time bounds
// checks keep it memory-safe instead. Also left out: the JITs and constant
// blinding, tail calls, kfuncs (call by BTF id), callbacks and bpf_loop
// (helpers may implement them), may_goto and the load-acquire/store-release
// atomics (newer than RFC 9669), the legacy LD_ABS/LD_IND packet loads, and
// per-CPU memory. Plain stores from concurrent runs to one shared region race
// as they would in the kernel; atomic instructions are serialised per region.
package interp
