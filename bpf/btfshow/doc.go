// Package btfshow prints a typed object the way the kernel's BTF "show"
// machinery does: what bpf_seq_printf_btf and bpf_snprintf_btf write for a
// struct btf_ptr. It stands for the btf_show part of kernel/bpf/btf.c
// (btf_show_name, the indent/delimiter/newline helpers, the safe-copy window
// of btf_show_obj_safe, btf_show_start_type and friends, the per-kind show
// operations for int, bitfields, __int128, pointers, arrays, structs,
// unions, enums, enum64, modifiers and typedefs, btf_type_show and
// btf_type_seq_show_flags), and for bpf_btf_printf_prepare's argument checks
// in kernel/trace/bpf_trace.c (see Check). The package works on cilium/ebpf
// btf.Type values looked up by type id, and reads the object through a Memory
// the caller provides (the interpreter's address space for the simulator's
// helper).
//
// Like the kernel, it reproduces the quirks that follow from that code, not
// an idealised pretty-printer (kernel_linux_test.go compares it byte for
// byte with the running kernel's bpf_seq_printf_btf when run as root):
//
//   - Type ids are taken as given: a typedef at the top level keeps its
//     name, "(u64)0" (vmlinux BTF is never "resolved", so btf_modifier_show
//     skips modifiers without replacing the type id). A const or volatile
//     member's name is "()", because btf_show_name does not look through a
//     qualifier it starts on. A void pointer is "( *)".
//   - Zero values below the top level are left out unless FlagZero is set;
//     a struct, union or array whose values are all left out is left out
//     itself (the two-pass depth_check walk). An enum value that has a name
//     is always shown, zero or not.
//   - Arrays of one-byte integers are shown as characters, 'a', up to the
//     first NUL; a leading NUL shows nothing. Bytes that are not printable
//     (the kernel's isprint, which accepts Latin-1 160-255) are numbers.
//   - Bitfields and integers whose width is not a whole number of bytes are
//     hexadecimal (0x2); __int128 too.
//   - An array whose element type has no size of its own in BTF (a pointer
//     or a nested array) advances by 0 bytes per element, so it shows its
//     first element nelems times; an array of pointers has no "[" opening
//     (btf_show_name sets no parenthesis when a pointer is involved) but
//     does close with "]". A struct or union that is an array element opens
//     with no "{" and its members have no ".name = (type)", since
//     state.array_member stays set while they are shown; it still closes
//     with "}".
//   - Enums of size 1, 2 or 4 read 4 bytes (the kernel reads an int).
//   - The type name is cut at 79 bytes (BTF_SHOW_NAME_SIZE).
//   - The data is read in 32-byte windows as btf_show_obj_safe copies it:
//     a window that cannot be read makes that value (and only that value)
//     disappear and sets the status; the status returned is that of the
//     last window read, as in the kernel.
//
// Pointers: "0x" and 16 hexadecimal digits; FlagPtrRaw prints the address
// (%px), otherwise Config.Pointer (%p: the simulator hashes as its bprintf
// package does).
//
// Left out: split (module) BTF and the module field of struct btf_ptr;
// BTF_SHOW_UNSAFE (an internal flag the helpers reject anyway); DATASEC (the
// kernel's btf_resolve_size refuses it, so it shows nothing and fails with
// EINVAL, which is what this package does) and VAR, which the kernel's
// btf_var_show dereferences an unresolved vmlinux BTF for (a crash): here a
// VAR shows its type. A walk is bounded (Config.MaxSteps, nesting deeper
// than 64 levels, modifier chains longer than 32) where malformed BTF would
// make the kernel loop or overflow; and it stops once Emit says the output
// is full, where the kernel keeps walking and discarding output (only the
// status of later reads could differ).
package btfshow
