// Package bprintf is the kernel's BPF printf formatting: what
// bpf_seq_printf, bpf_snprintf, bpf_trace_printk and bpf_trace_vprintk
// produce for a format string and its u64 arguments, byte for byte.
//
// It stands for bpf_bprintf_prepare and bpf_snprintf in kernel/bpf/helpers.c,
// the format parts of bpf_seq_printf, bpf_trace_printk and bpf_trace_vprintk
// in kernel/trace/bpf_trace.c, and what they reach in lib/vsprintf.c
// (bstr_printf, number, string, widen_string, the %p forms, the IP address
// printers), lib/ctype.c and mm/maccess.c (strncpy_from_kernel_nofault,
// strncpy_from_user_nofault), as of Linux 6.18 on x86-64. Like the kernel it
// works in two passes: a scan that validates the format and serializes the
// arguments into the 512-byte per-CPU bin_args buffer (strings copied in,
// IP addresses and %pB pre-formatted), then bstr_printf over the format and
// that buffer. Reproducing both passes reproduces the kernel's quirks, and
// kernel_linux_test.go checks them against the running kernel (a bpf_map
// iterator calling bpf_seq_printf, socket filters test-running the other
// helpers): every deterministic case matches byte for byte, return value
// included.
//
// # Entry points
//
// A Printer carries the machine settings %p depends on; its zero value is
// usable. Printer.SeqPrintf, Printer.Snprintf, Printer.TracePrintk and
// Printer.TraceVprintk are the helpers; Printer.Check is the verifier's
// load-time check of bpf_snprintf's constant format. Pointer arguments (%s,
// %pks, %pus, %pi4, %pI4, %pi6, %pI6) are read through Memory; a
// UserMemory also says which addresses are user space.
//
// All errors are syscall.Errno values (unix.EINVAL, unix.ENOSPC,
// unix.EOVERFLOW), so errors.Is works; a helper returns them negated to the
// program.
//
// # What the kernel does (and so this package)
//
//   - Conversions: %d %i %u %x %X, with l or ll for 64 bits (else the low 32
//     bits, sign-extended for %d/%i); %c (the low byte, a NUL included); %s;
//     %%; %p %pK %px %ps %pS %pB %pks %pus %pi4 %pI4 %pi6 %pI6. Flags
//     "0 + - space" in any number and order, and a width; no precision, '#',
//     '*', h/hh/z/j/t/L, %o, %n, floats, or other %p forms: EINVAL. So is a
//     control character anywhere, a non-ASCII byte right after '%', a letter
//     or digit right after %s/%pks/%pus, a trailing '%', and more conversions
//     than arguments. Bytes ≥ 0x80 are allowed in plain text (the 2026
//     UTF-8 change, present in 6.18.44; Printer.ASCIIOnly restores the older
//     rule). The format ends at its first NUL, which must lie within
//     fmt_size.
//   - data_len must be a multiple of 8 and at most 96 (12 arguments), else
//     EINVAL; extra arguments are ignored. There is no E2BIG: that was the
//     parser before 5.13.
//   - Widths are clamped to ±8388607 (FIELD_WIDTH_MAX, after skip_atoi's int
//     wrap-around), so "%2147483648d" does not pad at all.
//   - Strings are copied into the 512-byte bin_args buffer, so one %s keeps
//     at most 511 bytes and later ones get what is left; a string, %c,
//     number or IP address that finds no room at all is ENOSPC. A faulting
//     or refused read prints an empty string (%s, %pks, %pus) or zeros
//     (IPs); nothing reports the fault. Plain %s reads user memory for a
//     user address and kernel memory otherwise; %pks refuses user
//     addresses, %pus kernel ones; IPs are read as kernel memory.
//   - Pre-formatted conversions (%pks, %pus, %pI4 and friends, %pB) are
//     printed as they are: their width and flags are ignored. Only %s,
//     %c, numbers and %p/%pK/%px/%ps/%pS honour them.
//   - After a %p form the kernel's vsprintf skips every following
//     alphanumeric byte (Latin-1 letters included): "%pI4h" or "%pKabc"
//     lose their suffix, "%pI6c" is not compressed.
//   - %p hashes: 16 hex digits, the first 8 zero, the last 8 the low half
//     of SipHash-2-4 of the address under Printer.PtrKey. The kernel draws
//     that key at random per boot, so real hashes cannot be predicted; a
//     fixed key keeps the emulation deterministic with the same shape and
//     per-address stability. NULL and error pointers (the last 4095
//     addresses) print unhashed. %pK follows Printer.KptrRestrict (the
//     reference machine has 0: hashed like %p); %px prints the address.
//   - %ps, %pS and %pB print "0x" and the address in hex, as the kernel does
//     for an address kallsyms does not know: there is no symbol table here.
//   - bpf_snprintf returns the untruncated length plus one; bpf_trace_printk
//     returns the untruncated length and logs at most 1023 bytes, cut at the
//     first NUL.
//   - A quirk kept because it changes return values: once the output is full,
//     bstr_printf skips a pre-formatted argument without consuming it, so the
//     next conversion reads its text ("ab%pI4%d" into 2 bytes returns 12).
//
// # The seq_file is the caller's
//
// SeqPrintf only formats. It takes the free room of the caller's seq_file
// buffer and returns either the bytes to append or unix.EOVERFLOW when they
// do not fit (the kernel needs count + len < size); the caller then marks its
// seq_file overflowed and returns -EOVERFLOW, and its read loop decides what
// happens next (bpf_iter retries the object or fails with E2BIG, a kernfs
// seq_file grows its buffer). bpf_seq_write, which only copies bytes, is the
// caller's too. Work and memory per call are bounded by the room given,
// whatever the widths.
//
// # Left out
//
//   - EBUSY: the kernel has three per-CPU buffer sets and fails a fourth
//     nested call; calls here never nest.
//   - Symbol names, offsets and build ids for %ps/%pS/%pB (no kallsyms), and
//     the "pK-error" that %pK prints in interrupt context (BPF helpers here
//     run in task context).
//   - Bytes the kernel reads but never wrote: after an overlong pre-formatted
//     %pI or %pB near the end of bin_args, later conversions read leftovers
//     of earlier calls from the per-CPU buffers; here those bytes are zero.
//     The kernel's output is garbage there anyway, so the comparison test
//     leaves those cases out.
//   - The trace_pipe line around a bpf_trace_printk message (task, pid, CPU,
//     flags, timestamp) and the enabling of the trace event at load time.
//   - Where a user string may end: the kernel also stops at TASK_SIZE_MAX and
//     refuses non-canonical addresses; here Memory alone decides what is
//     readable.
//   - Older kernels' parsers (before 5.13), 32-bit and big-endian machines.
package bprintf
