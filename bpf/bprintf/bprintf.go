package bprintf

import (
	"golang.org/x/sys/unix"
)

// Limits of the kernel's printf helpers (include/linux/bpf.h, kernel/bpf/helpers.c,
// kernel/trace/bpf_trace.c).
const (
	// MaxVarargs is MAX_BPRINTF_VARARGS: at most 12 u64 arguments (data_len ≤ 96).
	MaxVarargs = 12
	// MaxBinArgs is MAX_BPRINTF_BIN_ARGS, the size of the per-CPU buffer that
	// holds the serialized arguments, strings included.
	MaxBinArgs = 512
	// MaxBuf is MAX_BPRINTF_BUF, the size of the per-CPU buffer that
	// bpf_trace_printk and bpf_trace_vprintk format into (messages are
	// truncated to MaxBuf-1 bytes).
	MaxBuf = 1024
	// MaxTracePrintkVarargs is MAX_TRACE_PRINTK_VARARGS: bpf_trace_printk
	// passes exactly 3 arguments.
	MaxTracePrintkVarargs = 3
	// TaskSize is x86-64's TASK_SIZE for a 64-bit task with 4-level paging,
	// the first address that is not user space. A UserMemory that mirrors
	// the x86-64 layout reports IsUser(addr) as addr < TaskSize.
	TaskSize uint64 = 0x00007ffffffff000
)

// Memory reads the program's address space. Errors mean "bad address": the
// kernel then prints what it prints for a faulting read (an empty string for
// %s, %pks and %pus, zeros for %pi4/%pI4/%pi6/%pI6).
type Memory interface {
	// Read returns the n bytes at addr, or an error if any of them is
	// unreadable.
	Read(addr uint64, n int) ([]byte, error)
	// ReadCString returns the string at addr without its terminating NUL,
	// reading at most max bytes: when none of the first max bytes is a NUL
	// it returns those max bytes. The error means a byte before the NUL
	// (within max) is unreadable.
	ReadCString(addr uint64, max int) ([]byte, error)
}

// UserMemory is a Memory that also models user space, as the kernel's x86-64
// layout does (CONFIG_ARCH_HAS_NON_OVERLAPPING_ADDRESS_SPACE): a plain %s
// whose address IsUser is read as user memory, %pus reads only user
// addresses, and %pks and the IP conversions read only non-user addresses
// (copy_from_kernel_nofault refuses user addresses). A Memory that does not
// implement UserMemory has no user space: every address is a kernel
// address, so %pus always prints an empty string.
type UserMemory interface {
	Memory
	// IsUser reports whether addr is a user-space address.
	IsUser(addr uint64) bool
}

// Printer holds the machine-wide settings that formatting depends on: those
// of the %p conversions, and which kernel version's format check applies.
// The zero Printer is the reference machine (Linux 6.18.44, kptr_restrict=0,
// hashed pointers, UTF-8 allowed in plain text) with an all-zero pointer
// hashing key. A Printer is a plain value: it has no state that formatting
// changes, so one may be shared by any number of goroutines.
type Printer struct {
	// PtrKey is the SipHash-2-4 key that hashes %p (and %pK when
	// KptrRestrict is 0) values, the kernel's ptr_key. The kernel draws it
	// at random once per boot, so hashed values are stable within a boot but
	// differ between machines; with a fixed key the emulation is
	// deterministic. The printed form is the kernel's: 16 hex digits, the
	// first 8 of them zero (only 32 bits of the hash are kept).
	PtrKey [2]uint64
	// KptrRestrict is the kernel.kptr_restrict sysctl, read by %pK: 0 prints
	// %pK like %p (hashed), 1 prints the raw address if CapSyslog is set and
	// zeros otherwise, 2 (or any other value) prints zeros.
	KptrRestrict int
	// CapSyslog says that the task reading the seq file has CAP_SYSLOG and
	// unchanged uid/gid (only consulted when KptrRestrict is 1).
	CapSyslog bool
	// NoHashPointers is the no_hash_pointers boot option: %p (and %pK with
	// KptrRestrict 0) print the raw address instead of a hash.
	NoHashPointers bool
	// ASCIIOnly restores the format check from before upstream commit
	// b960430ea886 ("bpf: allow UTF-8 literals in bpf_bprintf_prepare()"),
	// which rejects every byte ≥ 0x80 in a format with EINVAL. Without it,
	// such bytes are allowed in plain text but still rejected right after a
	// '%'.
	ASCIIOnly bool
}

// Check validates fmt the way the verifier does for bpf_snprintf's constant
// format string (bpf_bprintf_prepare without argument preparation): fmt must
// contain a NUL, and the text before it must use only supported conversions,
// at most numArgs of them. It never reads memory and never returns ENOSPC.
// Errors are unix.EINVAL.
func (p Printer) Check(fmt []byte, numArgs int) error {
	var st prepared
	return p.prepare(&st, fmt, nil, numArgs, nil, false)
}

// argsFromData checks data_len as the helpers do before calling
// bpf_bprintf_prepare and splits data into u64 arguments (little endian, as on
// x86-64). A NULL args pointer with a non-zero data_len is also EINVAL in the
// kernel; a caller that sees one should return EINVAL without calling here.
func argsFromData(data []byte) ([]uint64, error) {
	if len(data)%8 != 0 || len(data) > MaxVarargs*8 {
		return nil, unix.EINVAL
	}
	args := make([]uint64, len(data)/8)
	for i := range args {
		args[i] = le64(data[8*i:])
	}
	return args, nil
}

// SeqPrintf is bpf_seq_printf(m, fmt, fmt_size, data, data_len) up to the
// point where it touches the seq_file: fmt is the fmt_size bytes the program
// passed (a NUL must occur among them), data the data_len bytes of u64
// arguments, and space the free room of the seq_file buffer
// (m->size - m->count; 0 or less when it has already overflowed).
//
// On success it returns exactly the bytes seq_bprintf appends, which may
// include NUL bytes (from %c). Validation errors are unix.EINVAL (bad data
// length, bad format, more conversions than arguments) and unix.ENOSPC (the
// 512-byte argument buffer is full); the seq_file is then untouched. If the
// output does not fit — the kernel needs m->count + len < m->size, so the
// output must be shorter than space — it returns unix.EOVERFLOW and no bytes:
// the caller, which owns the seq_file, must then mark it overflowed
// (seq_set_overflow: count = size) and return -EOVERFLOW to the program, and
// its read loop handles the overflow (bpf_iter retries the object in the next
// read or fails with E2BIG; seq_read_iter grows the buffer). Work and memory
// are bounded by space, however large the field widths in fmt.
func (p Printer) SeqPrintf(fmt, data []byte, mem Memory, space int) ([]byte, error) {
	args, err := argsFromData(data)
	if err != nil {
		return nil, err
	}
	var st prepared
	if err := p.prepare(&st, fmt, args, len(args), mem, true); err != nil {
		return nil, err
	}
	if space <= 0 { // seq_bprintf: m->count < m->size is false
		return nil, unix.EOVERFLOW
	}
	w := &writer{size: int64(space)}
	st.bstrPrintf(p, w)
	n := int64(int32(w.pos)) // bstr_printf returns an int
	if n < 0 || n >= int64(space) {
		return nil, unix.EOVERFLOW
	}
	return w.dst[:n:n], nil
}

// Snprintf is bpf_snprintf(str, size, fmt, data, data_len): fmt is the
// constant string (it must contain a NUL; the verifier has already checked
// it with Printer.Check), data the data_len bytes of u64 arguments. out is what the
// helper writes into str: nothing when size is 0, otherwise the output
// truncated to size-1 bytes followed by a NUL. ret is the helper's return
// value, the untruncated output length plus one. Errors are unix.EINVAL and
// unix.ENOSPC, as for SeqPrintf.
func (p Printer) Snprintf(fmt, data []byte, mem Memory, size int) (out []byte, ret int, err error) {
	args, err := argsFromData(data)
	if err != nil {
		return nil, 0, err
	}
	var st prepared
	if err := p.prepare(&st, fmt, args, len(args), mem, true); err != nil {
		return nil, 0, err
	}
	if size < 0 {
		size = 0
	}
	w := &writer{size: int64(size)}
	st.bstrPrintf(p, w)
	n := int32(w.pos)
	if size > 0 {
		l := min(w.pos, int64(size-1))
		w.ensure(l)
		out = append(w.dst[:l:l], 0)
	}
	return out, int(n + 1), nil
}

// TracePrintk is bpf_trace_printk(fmt, fmt_size, arg1, arg2, arg3): fmt is
// the fmt_size bytes the program passed (a NUL must occur among them), so at
// most three conversions are allowed. msg is the text of the
// bpf_trace_printk trace event: the output truncated to MaxBuf-1 bytes and
// cut at its first NUL byte (the event copies a C string). ret is the helper's
// return value, the untruncated output length. Errors are unix.EINVAL and
// unix.ENOSPC. The trace_pipe framing (task, pid, CPU, timestamp) is not
// produced.
func (p Printer) TracePrintk(fmt []byte, args [MaxTracePrintkVarargs]uint64, mem Memory) (msg []byte, ret int, err error) {
	return p.trace(fmt, args[:], mem)
}

// TraceVprintk is bpf_trace_vprintk(fmt, fmt_size, data, data_len): like
// TracePrintk, with up to MaxVarargs arguments passed as data_len bytes of
// u64s (data_len checked as for SeqPrintf).
func (p Printer) TraceVprintk(fmt, data []byte, mem Memory) (msg []byte, ret int, err error) {
	args, err := argsFromData(data)
	if err != nil {
		return nil, 0, err
	}
	return p.trace(fmt, args, mem)
}

func (p Printer) trace(fmt []byte, args []uint64, mem Memory) ([]byte, int, error) {
	var st prepared
	if err := p.prepare(&st, fmt, args, len(args), mem, true); err != nil {
		return nil, 0, err
	}
	// bstr_printf(data.buf, MAX_BPRINTF_BUF, ...): data.buf is the second
	// half of the same per-CPU struct that holds the arguments, so the
	// output is written into the region the arguments are read from.
	w := &writer{dst: st.region[MaxBinArgs:], fixed: true, size: MaxBuf}
	st.bstrPrintf(p, w)
	w.terminate()
	buf := st.region[MaxBinArgs:]
	l := 0
	for l < len(buf) && buf[l] != 0 {
		l++
	}
	return append([]byte(nil), buf[:l]...), int(int32(w.pos)), nil
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func le64(b []byte) uint64 {
	return uint64(le32(b)) | uint64(le32(b[4:]))<<32
}
