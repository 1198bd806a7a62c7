//go:build linux

package bprintf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The comparison with the running kernel: a bpf_map iterator program calls
// bpf_seq_printf once, in its epilogue call (ctx->map == NULL), with a format,
// data and strings taken from an array map that the test fills for each case;
// it stores the helper's return value and the map value's own kernel address
// back into the map. Reading the iterator gives the seq output; the same
// bytes go through SeqPrintf with a Memory that mirrors the map value (kernel
// memory) and an mmap'd page (user memory) at the same addresses.

// Layout of the shared map value.
const (
	kValSize    = 8192
	kFmtOff     = 0
	kFmtMax     = 1024
	kDataOff    = 1024
	kDataMax    = 128
	kFmtSizeOff = 1200
	kDataLenOff = 1204
	kRetOff     = 1208
	kBaseOff    = 1216
	kOutOff     = 1536 // bpf_snprintf output buffer
	kOutMax     = 512
	kStrOff     = 2048

	iterSeqSize = 8 * 4096 // bpf_iter's seq_file buffer (PAGE_SIZE << 3)
	retUnset    = 0x7777
)

// Argument kinds of a kernel test case.
type (
	kstr   string // NUL-terminated, in kernel memory (the map value)
	kbytes []byte // raw bytes in kernel memory
	ustr   string // NUL-terminated, in user memory (an mmap'd page)
	ubad   struct{}
)

type kcase struct {
	name    string
	fmt     string // a NUL is appended unless raw
	raw     bool
	args    []any // uint64, int, kstr, kbytes, ustr, ubad
	dataLen int   // if non-zero: data_len instead of 8*len(args)
	shape   bool  // hashed %p: compare with hash digits masked
}

type kharness struct {
	t     *testing.T
	m     *ebpf.Map
	prog  *ebpf.Program
	iter  *link.Iter
	kbase uint64
	umem  []byte
	ubase uint64
	ubad  uint64
}

func requireKernel(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("kernel comparison skipped in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("kernel comparison needs root")
	}
}

// skipIfUnsupported skips when the bpf() syscall or the feature is missing
// rather than broken.
func skipIfUnsupported(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOSYS) || errors.Is(err, ebpf.ErrNotSupported) ||
		errors.Is(err, unix.EACCES) {
		t.Skipf("bpf() not available here: %v", err)
	}
}

func newKHarness(t *testing.T) *kharness {
	requireKernel(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: kValSize, MaxEntries: 1})
	skipIfUnsupported(t, err)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })

	fd := m.FD()
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, 8, asm.DWord), // ctx->map
		asm.JNE.Imm(asm.R7, 0, "out"),
		asm.LoadMem(asm.R1, asm.R6, 0, asm.DWord), // ctx->meta
		asm.LoadMem(asm.R1, asm.R1, 0, asm.DWord), // meta->seq
		asm.LoadMapValue(asm.R2, fd, 0),
		asm.StoreMem(asm.R2, kBaseOff, asm.R2, asm.DWord),
		asm.LoadMem(asm.R3, asm.R2, kFmtSizeOff, asm.Word),
		asm.JLT.Imm(asm.R3, 1, "out"),
		asm.JGT.Imm(asm.R3, kFmtMax, "out"),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, kDataOff),
		asm.LoadMem(asm.R5, asm.R2, kDataLenOff, asm.Word),
		asm.JGT.Imm(asm.R5, kDataMax, "out"),
		asm.FnSeqPrintf.Call(),
		asm.LoadMapValue(asm.R2, fd, 0),
		asm.StoreMem(asm.R2, kRetOff, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "bprintf_seq", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceIter, AttachTo: "bpf_map",
		Instructions: insns, License: "GPL",
	})
	skipIfUnsupported(t, err)
	require.NoError(t, err)
	t.Cleanup(func() { prog.Close() })
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	skipIfUnsupported(t, err)
	require.NoError(t, err)
	t.Cleanup(func() { it.Close() })

	// Two user pages of strings and one inaccessible page after them.
	mem, err := unix.Mmap(-1, 0, 3*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Munmap(mem) })
	require.NoError(t, unix.Mprotect(mem[2*4096:], unix.PROT_NONE))

	h := &kharness{t: t, m: m, prog: prog, iter: it, umem: mem[:2*4096]}
	h.ubase = uint64(uintptr(unsafe.Pointer(&mem[0])))
	h.ubad = h.ubase + 2*4096
	// Learn the kernel address of the map value.
	val := make([]byte, kValSize)
	val[kFmtOff] = 0
	binary.LittleEndian.PutUint32(val[kFmtSizeOff:], 1)
	_, _, _ = h.runValue(val)
	require.NotZero(t, h.kbase, "the program did not record the map value's address")
	return h
}

// runValue stores val, reads the iterator and returns its output, the
// helper's return value (retUnset if it was not called) and the read error.
func (h *kharness) runValue(val []byte) ([]byte, int64, error) {
	binary.LittleEndian.PutUint64(val[kRetOff:], retUnset)
	require.NoError(h.t, h.m.Put(uint32(0), val))
	rc, err := h.iter.Open()
	require.NoError(h.t, err)
	out, rerr := io.ReadAll(rc)
	rc.Close()
	got := make([]byte, kValSize)
	require.NoError(h.t, h.m.Lookup(uint32(0), &got))
	h.kbase = binary.LittleEndian.Uint64(got[kBaseOff:])
	return out, int64(binary.LittleEndian.Uint64(got[kRetOff:])), rerr
}

// layout builds the map value (and user page) for a case and returns the
// value, the fmt region, the data bytes and a Memory that mirrors both.
func (h *kharness) layout(c kcase) ([]byte, []byte, []byte, *fakeMem) {
	val := make([]byte, kValSize)
	f := []byte(c.fmt)
	if !c.raw {
		f = append(f, 0)
	}
	require.LessOrEqual(h.t, len(f), kFmtMax)
	copy(val[kFmtOff:], f)
	for i := range h.umem {
		h.umem[i] = 0
	}
	koff, uoff := kStrOff, 0
	var data []byte
	for _, a := range c.args {
		var v uint64
		switch a := a.(type) {
		case uint64:
			v = a
		case int:
			v = uint64(int64(a))
		case rune:
			v = uint64(a)
		case kstr:
			v = h.kbase + uint64(koff)
			koff += copy(val[koff:], a) + 1
			koff = (koff + 7) &^ 7
		case kbytes:
			v = h.kbase + uint64(koff)
			koff += copy(val[koff:], a)
			koff = (koff + 7) &^ 7
		case ustr:
			v = h.ubase + uint64(uoff)
			uoff += copy(h.umem[uoff:], a) + 1
			uoff = (uoff + 7) &^ 7
		case ubad:
			v = h.ubad
		default:
			h.t.Fatalf("bad arg %T", a)
		}
		require.LessOrEqual(h.t, koff, kValSize)
		data = binary.LittleEndian.AppendUint64(data, v)
	}
	dataLen := len(data)
	if c.dataLen != 0 {
		dataLen = c.dataLen
		for len(data) < dataLen {
			data = append(data, 0)
		}
		data = data[:dataLen]
	}
	copy(val[kDataOff:], data)
	binary.LittleEndian.PutUint32(val[kFmtSizeOff:], uint32(len(f)))
	binary.LittleEndian.PutUint32(val[kDataLenOff:], uint32(dataLen))
	mem := &fakeMem{regions: []fakeRegion{
		{base: h.kbase, b: append([]byte(nil), val...)},
		{base: h.ubase, b: append([]byte(nil), h.umem...)},
	}}
	return val, f, data, mem
}

var hashRE = regexp.MustCompile(`[0-9a-f]{8,}`)

// maskHashes hides the 32-bit hash digits of hashed pointers (the last 8 of
// each run of hex digits): the kernel's hash key is random per boot.
func maskHashes(b []byte) string {
	return hashRE.ReplaceAllStringFunc(string(b), func(s string) string {
		return s[:len(s)-8] + "########"
	})
}

func errnoOf(err error) int64 {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return -int64(e)
	}
	return -1
}

func TestKernelSeqPrintf(t *testing.T) {
	h := newKHarness(t)
	for _, c := range seqKernelCases() {
		val, f, data, mem := h.layout(c)
		kout, kret, rerr := h.runValue(val)
		out, err := Printer{}.SeqPrintf(f, data, mem, iterSeqSize)
		desc := fmt.Sprintf("%s: fmt %q", c.name, c.fmt)
		if len(kout) > 200 {
			t.Logf("%s -> ret %d, read err %v, %d bytes %q...", desc, kret, rerr, len(kout), kout[:200])
		} else {
			t.Logf("%s -> ret %d, read err %v, %q", desc, kret, rerr, kout)
		}
		if kret == retUnset {
			t.Errorf("%s: helper not called (read error %v)", desc, rerr)
			continue
		}
		if kret != errnoOf(err) {
			t.Errorf("%s: kernel returned %d (%v), SeqPrintf %v", desc, kret, unix.Errno(-kret), err)
			continue
		}
		if kret == -int64(unix.EOVERFLOW) {
			// The object overflowed bpf_iter's buffer: read fails.
			if !errors.Is(rerr, unix.E2BIG) {
				t.Errorf("%s: overflow, but read error %v", desc, rerr)
			}
			continue
		}
		if rerr != nil {
			t.Errorf("%s: read error %v", desc, rerr)
			continue
		}
		if c.shape {
			if maskHashes(kout) != maskHashes(out) || !hashRE.Match(kout) {
				t.Errorf("%s: shape differs\nkernel %q\nemul   %q", desc, kout, out)
			}
			continue
		}
		if string(kout) != string(out) {
			t.Errorf("%s: output differs\nkernel %q\nemul   %q", desc, kout, out)
		}
	}
}

func seqKernelCases() []kcase {
	long := strings.Repeat("abcdefghij", 60) // 600 bytes
	ip4 := kbytes{192, 168, 0, 7}
	ip6 := kbytes{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x0a}
	neg := func(v int64) uint64 { return uint64(v) }
	cs := []kcase{
		{name: "plain", fmt: "hello, world\n"},
		{name: "whitespace", fmt: "a\tb\nc\vd\fe\rf"},
		{name: "percent", fmt: "100%% %%d %%%d", args: []any{7}},
		{name: "int", fmt: "%d|%i|%u|%x|%X", args: []any{neg(-1), neg(-1), neg(-1), neg(-1), neg(-1)}},
		{name: "int trunc", fmt: "%d|%u|%x", args: []any{uint64(0x1_8000_0000), uint64(0x1_8000_0000), uint64(0xdead_beef_cafe)}},
		{name: "int min", fmt: "%d %d %u", args: []any{uint64(0x8000_0000), uint64(0x7fff_ffff), uint64(0)}},
		{name: "long", fmt: "%ld|%lu|%lx|%lX|%li", args: []any{neg(-5), neg(-5), neg(-5), uint64(0xabcdef), neg(-1 << 63)}},
		{name: "long long", fmt: "%lld|%llu|%llx|%llX|%lli", args: []any{neg(-1 << 63), neg(-1), uint64(1 << 63), neg(-2), uint64(1<<63 - 1)}},
		{name: "width", fmt: "[%8d|%-8d|%08d|%8u|%-8x|%08X]", args: []any{-42, -42, -42, 42, 0xbeef, 0xbeef}},
		{name: "sign flags", fmt: "[%+d|% d|%+ d|% +d|%+u|% x|%+x]", args: []any{5, 5, 5, 5, 5, 5, 5}},
		{name: "sign neg", fmt: "[%+d|% d|%+08d|% 08d|%-+8d|%0-8d]", args: []any{-5, -5, -5, 5, 5, 5}},
		{name: "zero", fmt: "[%d|%x|%5d|%-5d|%05d|%+d]", args: []any{0, 0, 0, 0, 0, 0}},
		{name: "wide long", fmt: "[%20lld|%-20llu|%020llx]", args: []any{neg(-1 << 63), neg(-1), neg(-1)}},
		{name: "flag soup", fmt: "[%0+- 6d|%--6d|%00006d]", args: []any{12, 12, 12}},
		{name: "char", fmt: "%c%c%c|%3c|%-3c|%03c|", args: []any{'A', 0x142, 'z', 'x', 'y', 'w'}},
		{name: "char NUL", fmt: "[%c]", args: []any{0}},
		{name: "string", fmt: "<%s> <%10s> <%-10s> <%010s> <%2s>", args: []any{kstr("hi"), kstr("hi"), kstr("hi"), kstr("hi"), kstr("hello")}},
		{name: "string empty", fmt: "<%s>", args: []any{kstr("")}},
		{name: "string punct", fmt: "%s.%s,%s:%s %s", args: []any{kstr("a"), kstr("b"), kstr("c"), kstr("d"), kstr("e")}},
		{name: "string NULL", fmt: "<%s>", args: []any{0}},
		{name: "string bad kernel", fmt: "<%s>", args: []any{uint64(0xdead000000000000)}},
		{name: "string bad user", fmt: "<%s>|%d", args: []any{ubad{}, 9}},
		{name: "string user", fmt: "<%s>", args: []any{ustr("from user space")}},
		{name: "string user empty", fmt: "<%s>|%d", args: []any{ustr(""), 0x41424344}},
		{name: "string kernel empty then int", fmt: "<%s>|%d", args: []any{kstr(""), 0x41424344}},
		{name: "pks pus", fmt: "<%pks> <%pus> <%pks> <%pus>", args: []any{kstr("kern"), ustr("user"), ustr("user"), kstr("kern")}},
		{name: "pks width", fmt: "<%10pks> <%-10pus>", args: []any{kstr("kern"), ustr("user")}},
		{name: "string long", fmt: "%s", args: []any{kstr(long)}},
		{name: "string two long", fmt: "%s|%s", args: []any{kstr(long[:300]), kstr(long[:300])}},
		{name: "string fills", fmt: "%s|%d", args: []any{kstr(long[:510]), 1}},
		{name: "enospc int", fmt: "%s|%d", args: []any{kstr(long[:511]), 1}},
		{name: "enospc str", fmt: "%s|%s", args: []any{kstr(long[:511]), kstr("x")}},
		{name: "enospc char", fmt: "%s|%c", args: []any{kstr(long[:511]), 'c'}},
		{name: "char after full-1", fmt: "%s|%c%d", args: []any{kstr(long[:510]), 'c', 1}},
		{name: "long after ints", fmt: "%d%d%d%s", args: []any{1, 2, 3, kstr(long)}},
		// A pre-formatted %pI4/%pB only needs 4 free bytes to start; its
		// text is cut to what is left but tmp advances by its full
		// length, past the end of bin_args.
		{name: "pI4 cut short", fmt: "%s%pI4", args: []any{kstr(long[:505]), ip4}},
		// (Conversions after such an overshoot read stale per-CPU bytes:
		// not comparable.)
		{name: "pB cut short", fmt: "%s%pB", args: []any{kstr(long[:507]), uint64(0x1234)}},
		{name: "pI6 cut short", fmt: "%s%pI6", args: []any{kstr(long[:480]), ip6}},
		{name: "pI4 with 4 left", fmt: "%s%d%pI4", args: []any{kstr(long[:501]), 1, ip4}},
		{name: "pI4 with 3 left", fmt: "%s%c%c%c%c%c%c%pI4", args: []any{kstr(long[:502]), 'a', 'b', 'c', 'd', 'e', 'f', ip4}},
		{name: "pI6 with 15 left", fmt: "%s%pI6", args: []any{kstr(long[:496]), ip6}},
		{name: "ptr hashed", fmt: "%p %pK %p", args: []any{uint64(0xffff888012345678), uint64(0xffff888012345678), uint64(0x1234)}, shape: true},
		{name: "ptr width", fmt: "[%20p|%-20p|%020p]", args: []any{uint64(0x1234), uint64(0x1234), uint64(0x1234)}, shape: true},
		{name: "ptr NULL err", fmt: "%p %p %pK %p", args: []any{0, neg(-22), 0, neg(-4095)}},
		{name: "ptr near err", fmt: "%p", args: []any{neg(-4096)}, shape: true},
		{name: "px", fmt: "%px %px [%20px] [%-20px] [%020px] [%2px]", args: []any{uint64(0x1234), neg(-1), uint64(0xab), uint64(0xab), uint64(0xab), uint64(0xab)}},
		{name: "p punct", fmt: "%p. %p, %p-%p", args: []any{0, 0, 0, 0}},
		{name: "p alnum swallowed", fmt: "%pxyz|%pKabc|%psR|%pS0|", args: []any{uint64(0x10), 0, uint64(0x20), uint64(0x30)}},
		{name: "symbols", fmt: "%ps %pS %pB [%10ps] [%-10pS] [%10pB]", args: []any{uint64(0x1234), uint64(0x1234), uint64(0x1234), uint64(0x1234), uint64(0x1234), uint64(0x1234)}},
		{name: "symbols NULL", fmt: "%ps %pS %pB", args: []any{0, 0, 0}},
		{name: "ipv4", fmt: "%pI4 %pi4 [%20pI4]", args: []any{ip4, ip4, ip4}},
		{name: "ipv4 edge", fmt: "%pI4 %pi4", args: []any{kbytes{255, 255, 255, 255}, kbytes{0, 9, 10, 100}}},
		{name: "ipv4 suffix", fmt: "%pI4h|%pi4n|%pI4x", args: []any{ip4, ip4, ip4}},
		{name: "ipv6", fmt: "%pI6 %pi6 %pI6c", args: []any{ip6, ip6, ip6}},
		{name: "ip bad", fmt: "%pI4 %pI6 %pi4", args: []any{0, uint64(0xdead000000000000), ubad{}}},
		{name: "ip user", fmt: "%pI4", args: []any{ustr("\x01\x02\x03\x04")}},
		{name: "twelve", fmt: "%d %d %d %d %d %d %d %d %d %d %d %d", args: []any{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{name: "fewer conversions", fmt: "%d", args: []any{1, 2, 3}},
		{name: "fits", fmt: "%32767d", args: []any{1}},
		{name: "overflows", fmt: "%32768d", args: []any{1}},
		{name: "width 2^24+1", fmt: "%16777217d", args: []any{1}},
		{name: "width 2^32+1", fmt: "[%4294967297d]", args: []any{7}},
		{name: "utf8 text", fmt: "caf\xc3\xa9 %d", args: []any{1}},
		{name: "latin1 after pK", fmt: "%pK\xe9|", args: []any{0}},
		{name: "latin1 punct after s", fmt: "%s\xa1|", args: []any{kstr("s")}},

		// Errors.
		{name: "no NUL", fmt: "abc", raw: true},
		{name: "NUL early", fmt: "ab\x00%d", raw: true},
		{name: "too many conversions", fmt: "%d %d", args: []any{1}},
		{name: "no args", fmt: "%d"},
		{name: "data_len 12", fmt: "%d", args: []any{1, 2}, dataLen: 12},
		{name: "data_len 104", fmt: "%d", args: []any{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}},
		{name: "precision", fmt: "%5.2d", args: []any{1}},
		{name: "precision s", fmt: "%.3s", args: []any{kstr("abcdef")}},
		{name: "hash flag", fmt: "%#x", args: []any{1}},
		{name: "star", fmt: "%*d", args: []any{1, 2}},
		{name: "h", fmt: "%hd", args: []any{1}},
		{name: "hh", fmt: "%hhx", args: []any{1}},
		{name: "z", fmt: "%zu", args: []any{1}},
		{name: "L", fmt: "%Lu", args: []any{1}},
		{name: "octal", fmt: "%o", args: []any{8}},
		{name: "n", fmt: "%n", args: []any{0}},
		{name: "f", fmt: "%f", args: []any{0}},
		{name: "lc", fmt: "%lc", args: []any{65}},
		{name: "llc", fmt: "%llc", args: []any{65}},
		{name: "ls", fmt: "%ls", args: []any{kstr("x")}},
		{name: "pa", fmt: "%pa", args: []any{0}},
		{name: "pV", fmt: "%pV", args: []any{0}},
		{name: "pi5", fmt: "%pi5", args: []any{0}},
		{name: "p%", fmt: "%p%", args: []any{0}},
		{name: "s%", fmt: "%s%", args: []any{kstr("x")}},
		{name: "sabc", fmt: "%sabc", args: []any{kstr("x")}},
		{name: "pks then letter", fmt: "%pksx", args: []any{kstr("x")}},
		{name: "lone %", fmt: "%", args: []any{1}},
		{name: "width only", fmt: "%12345678", args: []any{1}},
		{name: "flags only", fmt: "%--------", args: []any{1}},
		{name: "space percent", fmt: "% %", args: []any{1}},
		{name: "control char", fmt: "\x01", args: []any{1}},
		{name: "DEL", fmt: "a\x7fb"},
		{name: "non-ascii after %", fmt: "%\x80", args: []any{1}},
	}
	return cs
}

// helperProg loads a socket filter that calls one formatting helper with
// the format in a frozen read-only map (bpf_snprintf needs a constant
// string) and the output buffer, data and return slot in the harness map.
// call emits the helper call; r3 holds the format pointer on entry.
func (h *kharness) helperProg(fmtBytes []byte, call asm.Instructions) (*ebpf.Program, error) {
	return h.helperProgFD(fmtBytes, func(int) asm.Instructions { return call })
}

// helperProgFD is helperProg for a call sequence that needs the read-only
// map's fd.
func (h *kharness) helperProgFD(fmtBytes []byte, build func(roFD int) asm.Instructions) (*ebpf.Program, error) {
	ro, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: uint32(len(fmtBytes)),
		MaxEntries: 1, Flags: unix.BPF_F_RDONLY_PROG})
	require.NoError(h.t, err)
	defer ro.Close()
	require.NoError(h.t, ro.Put(uint32(0), fmtBytes))
	require.NoError(h.t, ro.Freeze())
	fd := h.m.FD()
	insns := asm.Instructions{asm.LoadMapValue(asm.R3, ro.FD(), 0)}
	insns = append(insns, build(ro.FD())...)
	insns = append(insns,
		asm.LoadMapValue(asm.R1, fd, 0),
		asm.StoreMem(asm.R1, kRetOff, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	return ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bprintf_helper", Type: ebpf.SocketFilter,
		Instructions: insns, License: "GPL"})
}

// runProg test-runs prog with the harness map holding val and returns the
// map value afterwards and the helper's return value.
func (h *kharness) runProg(prog *ebpf.Program, val []byte) ([]byte, int64) {
	binary.LittleEndian.PutUint64(val[kRetOff:], retUnset)
	require.NoError(h.t, h.m.Put(uint32(0), val))
	_, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 64)})
	require.NoError(h.t, err)
	got := make([]byte, kValSize)
	require.NoError(h.t, h.m.Lookup(uint32(0), &got))
	return got, int64(binary.LittleEndian.Uint64(got[kRetOff:]))
}

type snCase struct {
	kcase
	size int
}

func TestKernelSnprintf(t *testing.T) {
	h := newKHarness(t)
	ip4 := kbytes{10, 0, 0, 1}
	cases := []snCase{
		{kcase{name: "fits", fmt: "x=%d s=%s", args: []any{42, kstr("abc")}}, 64},
		{kcase{name: "size 0", fmt: "x=%d", args: []any{42}}, 0},
		{kcase{name: "size 1", fmt: "x=%d", args: []any{42}}, 1},
		{kcase{name: "truncated", fmt: "hello %s!", args: []any{kstr("world")}}, 4},
		{kcase{name: "exact", fmt: "%d", args: []any{12345}}, 5},
		{kcase{name: "exact+1", fmt: "%d", args: []any{12345}}, 6},
		{kcase{name: "NUL char", fmt: "a%cb", args: []any{0}}, 8},
		{kcase{name: "wide", fmt: "[%300d]", args: []any{1}}, 16},
		{kcase{name: "right-aligned cut", fmt: "%10s|", args: []any{kstr("abc")}}, 9},
		{kcase{name: "right-aligned cut 2", fmt: "%10s|", args: []any{kstr("abc")}}, 4},
		{kcase{name: "preformatted at end", fmt: "ab%pI4%d", args: []any{ip4, 5}}, 2},
		{kcase{name: "preformatted at end 2", fmt: "ab%pks%pks%d", args: []any{kstr("xyz"), kstr("uv"), 5}}, 2},
		{kcase{name: "preformatted cut", fmt: "ab%pI4%d", args: []any{ip4, 5}}, 4},
		{kcase{name: "no args", fmt: "plain"}, 16},
		{kcase{name: "big width", fmt: "%16777217d", args: []any{1}}, 8},
		{kcase{name: "FIELD_WIDTH_MAX", fmt: "%8388607d", args: []any{1}}, 8},
		{kcase{name: "FIELD_WIDTH_MAX+1", fmt: "%8388608d", args: []any{1}}, 8},
		{kcase{name: "big width left", fmt: "%-16777217d|", args: []any{1}}, 8},
		{kcase{name: "width 2^31", fmt: "%2147483648d|", args: []any{1}}, 8},
		{kcase{name: "width 2^31 neg", fmt: "%2147483648d|", args: []any{-1}}, 8},
	}
	for _, c := range cases {
		val, f, data, mem := h.layout(c.kcase)
		for i := kOutOff; i < kOutOff+kOutMax; i++ {
			val[i] = 0xaa
		}
		mem.regions[0].b = append([]byte(nil), val...)
		call := asm.Instructions{
			asm.LoadMapValue(asm.R1, h.m.FD(), kOutOff),
			asm.Mov.Imm(asm.R2, int32(c.size)),
			asm.LoadMapValue(asm.R4, h.m.FD(), kDataOff),
			asm.Mov.Imm(asm.R5, int32(len(data))),
			asm.FnSnprintf.Call(),
		}
		desc := fmt.Sprintf("%s: fmt %q size %d", c.name, c.fmt, c.size)
		prog, lerr := h.helperProg(f, call)
		cerr := Printer{}.Check(f, len(data)/8)
		if lerr != nil || cerr != nil {
			t.Logf("%s -> load error %v", desc, lerr)
			if lerr == nil || cerr == nil || !errors.Is(lerr, unix.EINVAL) {
				t.Errorf("%s: load error %v, Check %v", desc, lerr, cerr)
			}
			if prog != nil {
				prog.Close()
			}
			continue
		}
		got, kret := h.runProg(prog, val)
		prog.Close()
		out, ret, err := Printer{}.Snprintf(f, data, mem, c.size)
		kout := got[kOutOff : kOutOff+len(out)]
		t.Logf("%s -> ret %d, %q", desc, kret, kout)
		if err != nil {
			if kret != errnoOf(err) {
				t.Errorf("%s: kernel returned %d, Snprintf %v", desc, kret, err)
			}
			continue
		}
		if kret != int64(ret) {
			t.Errorf("%s: kernel returned %d, Snprintf %d", desc, kret, ret)
		}
		if string(kout) != string(out) || got[kOutOff+len(out)] != 0xaa {
			t.Errorf("%s: output differs\nkernel %q\nemul   %q", desc, got[kOutOff:kOutOff+len(out)+1], out)
		}
	}
}

// Invalid constant formats are refused when bpf_snprintf's program loads;
// Printer.Check must agree with the verifier.
func TestKernelSnprintfVerifier(t *testing.T) {
	h := newKHarness(t)
	for _, c := range seqKernelCases() {
		if c.raw || c.dataLen != 0 || len(c.args) > MaxVarargs {
			continue
		}
		f := append([]byte(c.fmt), 0)
		n := len(c.args)
		call := asm.Instructions{
			asm.LoadMapValue(asm.R1, h.m.FD(), kOutOff),
			asm.Mov.Imm(asm.R2, 0),
			asm.LoadMapValue(asm.R4, h.m.FD(), kDataOff),
			asm.Mov.Imm(asm.R5, int32(8*n)),
			asm.FnSnprintf.Call(),
		}
		prog, lerr := h.helperProg(f, call)
		if prog != nil {
			prog.Close()
		}
		cerr := Printer{}.Check(f, n)
		if (lerr == nil) != (cerr == nil) || (lerr != nil && !errors.Is(lerr, unix.EINVAL)) {
			t.Errorf("%s: fmt %q: verifier %v, Check %v", c.name, c.fmt, lerr, cerr)
		}
	}
}

// traceFS mounts tracefs in a temporary directory and restores the
// bpf_trace_printk event's enable switch (loading a program that calls
// bpf_trace_printk turns it on) when the test ends. It returns "" when
// tracefs cannot be mounted.
func traceFS(t *testing.T) string {
	dir := t.TempDir()
	if err := unix.Mount("nodev", dir, "tracefs", 0, ""); err != nil {
		t.Logf("tracefs not mountable (%v): comparing return values only", err)
		return ""
	}
	enable := dir + "/events/bpf_trace/bpf_trace_printk/enable"
	old, err := os.ReadFile(enable)
	t.Cleanup(func() {
		if err == nil {
			_ = os.WriteFile(enable, old, 0)
		}
		_ = unix.Unmount(dir, 0)
	})
	return dir
}

// traceMessage returns the last bpf_trace_printk message that starts with
// marker.
func traceMessage(t *testing.T, dir, marker string) (string, bool) {
	b, err := os.ReadFile(dir + "/trace")
	require.NoError(t, err)
	const ev = "bpf_trace_printk: "
	msg, found := "", false
	for _, line := range strings.Split(string(b), "\n") {
		if k := strings.Index(line, ev+marker); k >= 0 {
			msg, found = line[k+len(ev):], true
		}
	}
	return msg, found
}

func TestKernelTracePrintk(t *testing.T) {
	h := newKHarness(t)
	dir := traceFS(t)
	long := strings.Repeat("0123456789", 51)
	cases := []kcase{
		{name: "three", fmt: "a=%d b=%s c=%pI4", args: []any{-7, kstr("str"), kbytes{1, 2, 3, 4}}},
		{name: "none", fmt: "plain text"},
		{name: "four", fmt: "%d %d %d %d", args: []any{1, 2, 3}},
		{name: "long", fmt: "%s%s%s", args: []any{kstr(long[:300]), kstr(long[:300]), kstr(long[:300])}},
		{name: "truncated", fmt: "%1000d%50d", args: []any{1, 2, 0}},
		{name: "NUL cuts", fmt: "before%cafter", args: []any{0, 0, 0}},
		{name: "bad", fmt: "%5.1d", args: []any{1}},
		{name: "vprintk twelve", fmt: "%d %d %d %d %d %d %d %d %d %d %d %d", args: []any{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
	}
	for n, c := range cases {
		marker := fmt.Sprintf("bprintf%d ", n)
		c.fmt = marker + c.fmt
		for len(c.args) < MaxTracePrintkVarargs {
			c.args = append(c.args, 0)
		}
		val, f, data, mem := h.layout(c)
		vprintk := len(c.args) > MaxTracePrintkVarargs
		var build func(int) asm.Instructions
		if vprintk {
			build = func(roFD int) asm.Instructions {
				return asm.Instructions{
					asm.LoadMapValue(asm.R1, roFD, 0),
					asm.Mov.Imm(asm.R2, int32(len(f))),
					asm.LoadMapValue(asm.R3, h.m.FD(), kDataOff),
					asm.Mov.Imm(asm.R4, int32(len(data))),
					asm.FnTraceVprintk.Call(),
				}
			}
		} else {
			build = func(roFD int) asm.Instructions {
				return asm.Instructions{
					asm.LoadMapValue(asm.R1, roFD, 0),
					asm.Mov.Imm(asm.R2, int32(len(f))),
					asm.LoadMapValue(asm.R6, h.m.FD(), kDataOff),
					asm.LoadMem(asm.R3, asm.R6, 0, asm.DWord),
					asm.LoadMem(asm.R4, asm.R6, 8, asm.DWord),
					asm.LoadMem(asm.R5, asm.R6, 16, asm.DWord),
					asm.FnTracePrintk.Call(),
				}
			}
		}
		prog, err := h.helperProgFD(f, build)
		skipIfUnsupported(t, err)
		require.NoError(t, err)
		_, kret := h.runProg(prog, val)
		prog.Close()
		var msg []byte
		var ret int
		if vprintk {
			msg, ret, err = Printer{}.TraceVprintk(f, data, mem)
		} else {
			var a [3]uint64
			for i := range a {
				a[i] = le64(data[8*i:])
			}
			msg, ret, err = Printer{}.TracePrintk(f, a, mem)
		}
		desc := fmt.Sprintf("%s: fmt %q", c.name, c.fmt)
		t.Logf("%s -> ret %d", desc, kret)
		if err != nil {
			if kret != errnoOf(err) {
				t.Errorf("%s: kernel returned %d, emulation %v", desc, kret, err)
			}
			continue
		}
		if kret != int64(ret) {
			t.Errorf("%s: kernel returned %d, emulation %d", desc, kret, ret)
		}
		if dir == "" {
			continue
		}
		kmsg, ok := traceMessage(t, dir, marker)
		if !ok {
			t.Errorf("%s: no trace event found", desc)
			continue
		}
		t.Logf("%s -> message %d bytes", desc, len(kmsg))
		if kmsg != string(msg) {
			t.Errorf("%s: message differs\nkernel %q\nemul   %q", desc, kmsg, msg)
		}
	}
}
