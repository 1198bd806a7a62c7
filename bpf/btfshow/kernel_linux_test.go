//go:build linux

package btfshow_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"regexp"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/simfs/simfs/bpf/btfshow"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// kernelCase is a value of a type that the simulator's vmlinux and the
// running kernel's both have, with the same shape.
type kernelCase struct {
	name string   // the BTF type's name
	kind btf.Type // a zero value of its kind, for the lookup
	data []byte
}

var sep = []byte{0, 1, 2, 3}

// kernelShow prints c.data as c's type with every flag combination in the
// running kernel: a bpf_map iterator whose epilogue (map == NULL) copies
// the bytes to its stack and calls bpf_seq_printf_btf 16 times, each
// output followed by the helper's return value (8 bytes) and sep.
func kernelShow(t *testing.T, kspec *btf.Spec, c kernelCase) (outs [16]string, rets [16]int64) {
	t.Helper()
	typ := c.kind
	if err := kspec.TypeByName(c.name, &typ); err != nil {
		t.Skipf("the running kernel has no %s: %v", c.name, err)
	}
	id, err := kspec.TypeID(typ)
	require.NoError(t, err)
	return kernelShowID(t, id, c.data)
}

// maxKernelData is how many bytes of object kernelShowID puts on the BPF
// stack (at fp-400).
const maxKernelData = 256

func kernelShowID(t *testing.T, id btf.TypeID, obj []byte) (outs [16]string, rets [16]int64) {
	t.Helper()
	require.LessOrEqual(t, len(obj), maxKernelData)

	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R2, asm.R6, 8, asm.DWord), // ctx->map
		asm.JNE.Imm(asm.R2, 0, "out"),
		asm.LoadMem(asm.R7, asm.R6, 0, asm.DWord), // ctx->meta
		asm.LoadMem(asm.R7, asm.R7, 0, asm.DWord), // meta->seq
	}
	data := append([]byte(nil), obj...)
	for len(data)%8 != 0 {
		data = append(data, 0)
	}
	for i := 0; i < len(data); i += 8 {
		insns = append(insns,
			asm.LoadImm(asm.R1, int64(binary.LittleEndian.Uint64(data[i:])), asm.DWord),
			asm.StoreMem(asm.RFP, int16(-400+i), asm.R1, asm.DWord))
	}
	insns = append(insns,
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -400),
		asm.StoreMem(asm.RFP, -144, asm.R1, asm.DWord), // btf_ptr.ptr
		asm.LoadImm(asm.R1, int64(id), asm.DWord),
		asm.StoreMem(asm.RFP, -136, asm.R1, asm.DWord), // type_id, flags 0
		asm.LoadImm(asm.R1, int64(binary.LittleEndian.Uint32(sep)), asm.DWord),
		asm.StoreMem(asm.RFP, -152, asm.R1, asm.DWord),
	)
	for flags := int32(0); flags < 16; flags++ {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -144),
			asm.Mov.Imm(asm.R3, 16),
			asm.Mov.Imm(asm.R4, flags),
			asm.FnSeqPrintfBtf.Call(),
			asm.StoreMem(asm.RFP, -160, asm.R0, asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -160),
			asm.Mov.Imm(asm.R3, 12),
			asm.FnSeqWrite.Call(),
		)
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())

	raw := readMapIter(t, insns)

	for i := range outs {
		j := bytes.Index(raw, sep)
		require.GreaterOrEqual(t, j, 8, "record %d of %q", i, raw)
		outs[i] = string(raw[:j-8])
		rets[i] = int64(binary.LittleEndian.Uint64(raw[j-8:]))
		raw = raw[j+len(sep):]
	}
	require.Empty(t, raw)
	return outs, rets
}

var hashed = regexp.MustCompile(`0x[0-9a-f]{16}`)

// TestAgainstKernel shows the same bytes of types both BTFs have, with
// every flag combination, in the running kernel (bpf_seq_printf_btf from
// an iterator) and in this package over the simulator's vmlinux BTF: the
// outputs must be identical, hashed pointers aside (their key is the
// kernel's secret).
func TestAgainstKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	sspec, err := vmlinux.Default().Spec()
	require.NoError(t, err)

	le := binary.LittleEndian
	meta := le.AppendUint64(nil, 0xffff888012345678)
	meta = le.AppendUint64(meta, 5)
	meta = le.AppendUint64(meta, 0)
	for _, c := range []kernelCase{
		{"u64", &btf.Typedef{}, le.AppendUint64(nil, 100)},
		{"u64", &btf.Typedef{}, le.AppendUint64(nil, 0)},
		{"s16", &btf.Typedef{}, le.AppendUint16(nil, 0xfffe)},
		{"__s8", &btf.Typedef{}, []byte{0x9c}},
		{"bool", &btf.Typedef{}, []byte{1}},
		{"pid_t", &btf.Typedef{}, le.AppendUint32(nil, 0xffffee29)},
		{"atomic_t", &btf.Typedef{}, le.AppendUint32(nil, 7)},
		{"atomic_t", &btf.Typedef{}, le.AppendUint32(nil, 0)},
		{"refcount_t", &btf.Typedef{}, le.AppendUint32(nil, 3)},
		{"refcount_struct", &btf.Struct{}, le.AppendUint32(nil, 0)},
		{"bpf_map_type", &btf.Enum{}, le.AppendUint32(nil, 1)},
		{"bpf_map_type", &btf.Enum{}, le.AppendUint32(nil, 9999)},
		{"bpf_cgroup_iter_order", &btf.Enum{}, le.AppendUint32(nil, 0)},
		{"bpf_iter_meta", &btf.Struct{}, meta},
	} {
		t.Run(c.name, func(t *testing.T) {
			kouts, krets := kernelShow(t, kspec, c)
			require.NotEmpty(t, kouts[0])
			typ := c.kind
			require.NoError(t, sspec.TypeByName(c.name, &typ))
			id, err := sspec.TypeID(typ)
			require.NoError(t, err)
			for flags := uint64(0); flags < 16; flags++ {
				got, st := btfshow.Format(btfshow.Config{Types: sspec, Mem: mem{base, c.data}, Flags: flags}, id, base)
				assert.Equal(t, krets[flags], -int64(st), "flags %#x", flags)
				want := kouts[flags]
				if flags&btfshow.FlagPtrRaw == 0 {
					want = hashed.ReplaceAllString(want, "0xHASH")
					got = hashed.ReplaceAllString(got, "0xHASH")
				}
				assert.Equal(t, want, got, "flags %#x", flags)
			}
		})
	}
}

// TestAgainstKernelTypes runs this package over the running kernel's own
// BTF and compares it with the kernel's bpf_seq_printf_btf, for kernel
// types that exercise what the simulator's vmlinux lacks: bitfields, char
// arrays, arrays of structs and of pointers, unions, nested anonymous
// aggregates, const members. Each type is shown over bytes that mix
// zeros, printable text and noise.
func TestAgainstKernelTypes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	ids := map[string]btf.TypeID{}
	for _, name := range []string{"bpf_insn", "iphdr", "tcphdr", "ethhdr", "in6_addr", "qstr", "sockaddr_in",
		"bpf_prog_info", "__sk_buff", "hlist_node", "callback_head", "bpf_map_info", "seqcount", "rlimit"} {
		if typ, err := kspec.AnyTypeByName(name); err == nil {
			if id, err := kspec.TypeID(typ); err == nil {
				ids[name] = id
			}
		}
	}
	// Structs of at most maxKernelData bytes with an array-of-struct, an
	// array-of-pointer, a const or volatile member, or an enum member.
	want := map[string]func(btf.Type) bool{
		"array of struct": func(m btf.Type) bool {
			a, ok := m.(*btf.Array)
			if !ok || a.Nelems < 2 {
				return false
			}
			_, ok = btf.UnderlyingType(a.Type).(*btf.Struct)
			return ok
		},
		"array of pointer": func(m btf.Type) bool {
			a, ok := m.(*btf.Array)
			if !ok || a.Nelems < 2 {
				return false
			}
			_, ok = btf.UnderlyingType(a.Type).(*btf.Pointer)
			return ok
		},
		"const member":    func(m btf.Type) bool { _, ok := m.(*btf.Const); return ok },
		"volatile member": func(m btf.Type) bool { _, ok := m.(*btf.Volatile); return ok },
		"enum member":     func(m btf.Type) bool { _, ok := m.(*btf.Enum); return ok },
		"union member":    func(m btf.Type) bool { _, ok := m.(*btf.Union); return ok },
	}
	for typ, err := range kspec.All() {
		if err != nil || len(want) == 0 {
			break
		}
		st, ok := typ.(*btf.Struct)
		if !ok || st.Name == "" || st.Size == 0 || st.Size > maxKernelData {
			continue
		}
		for what, match := range want {
			for _, m := range st.Members {
				if match(m.Type) {
					id, err := kspec.TypeID(st)
					require.NoError(t, err)
					ids[what+" ("+st.Name+")"] = id
					delete(want, what)
					break
				}
			}
		}
	}
	require.NotEmpty(t, ids)

	// Bytes: words of zeros, text and noise.
	obj := make([]byte, maxKernelData)
	x := uint64(0x9e3779b97f4a7c15)
	for i := 0; i < len(obj); i += 8 {
		switch (i / 8) % 4 {
		case 0:
		case 1:
			copy(obj[i:], "simfs\x00ok")
		default:
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			binary.LittleEndian.PutUint64(obj[i:], x)
		}
	}
	for name, id := range ids {
		for _, shift := range []int{0, 8, 24} {
			t.Run(fmt.Sprintf("%s+%d", name, shift), func(t *testing.T) {
				typ, err := kspec.TypeByID(id)
				require.NoError(t, err)
				size, err := btf.Sizeof(typ)
				require.NoError(t, err)
				if size+shift > maxKernelData {
					t.Skipf("%d bytes", size)
				}
				data := obj[shift : shift+size]
				kouts, krets := kernelShowID(t, id, data)
				require.NotEmpty(t, kouts[0])
				if os.Getenv("SIMFS_SHOW_KERNEL") != "" {
					t.Logf("%q", kouts[btfshow.FlagCompact])
				}
				for flags := uint64(0); flags < 16; flags++ {
					got, st := btfshow.Format(btfshow.Config{Types: kspec, Mem: mem{base, data}, Flags: flags}, id, base)
					assert.Equal(t, krets[flags], -int64(st), "flags %#x", flags)
					want := kouts[flags]
					if flags&btfshow.FlagPtrRaw == 0 {
						want = hashed.ReplaceAllString(want, "0xHASH")
						got = hashed.ReplaceAllString(got, "0xHASH")
					}
					assert.Equal(t, want, got, "flags %#x", flags)
				}
			})
		}
	}
}

// TestAgainstKernelErrors: the running kernel's bpf_seq_printf_btf
// errors are the ones Check (and, for a NULL object, the bpf package's
// helper) gives: a NULL object, an unknown flag, a short btf_ptr, type id 0
// and a type id past the end of the BTF.
func TestAgainstKernelErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	kspec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	var typ btf.Type = &btf.Typedef{}
	require.NoError(t, kspec.TypeByName("u64", &typ))
	id, err := kspec.TypeID(typ)
	require.NoError(t, err)

	// Three struct btf_ptr on the stack: A {NULL, id} at -16, B {&A, 0}
	// at -32, C {&A, 1<<24} at -48; the return value goes to -56.
	insns := asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 8, asm.DWord),
		asm.JNE.Imm(asm.R2, 0, "out"),
		asm.LoadMem(asm.R7, asm.R1, 0, asm.DWord),
		asm.LoadMem(asm.R7, asm.R7, 0, asm.DWord),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, -16, asm.R1, asm.DWord),
		asm.StoreMem(asm.RFP, -24, asm.R1, asm.DWord),
		asm.LoadImm(asm.R1, int64(id), asm.DWord),
		asm.StoreMem(asm.RFP, -8, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, -16),
		asm.StoreMem(asm.RFP, -32, asm.R1, asm.DWord),
		asm.StoreMem(asm.RFP, -48, asm.R1, asm.DWord),
		asm.LoadImm(asm.R1, 1<<24, asm.DWord),
		asm.StoreMem(asm.RFP, -40, asm.R1, asm.DWord),
	}
	calls := []struct {
		ptr         int16
		size, flags int32
	}{{-16, 16, 0}, {-16, 16, 16}, {-16, 8, 0}, {-32, 16, 0}, {-48, 16, 0}}
	for _, c := range calls {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, int32(c.ptr)),
			asm.Mov.Imm(asm.R3, c.size),
			asm.Mov.Imm(asm.R4, c.flags),
			asm.FnSeqPrintfBtf.Call(),
			asm.StoreMem(asm.RFP, -56, asm.R0, asm.DWord),
			asm.Mov.Reg(asm.R1, asm.R7),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -56),
			asm.Mov.Imm(asm.R3, 8),
			asm.FnSeqWrite.Call(),
		)
	}
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return())
	raw := readMapIter(t, insns)
	require.Len(t, raw, 8*len(calls), "only return values, no output: %q", raw)

	want := []unix.Errno{unix.ERANGE, unix.EINVAL, unix.EINVAL, unix.EINVAL, unix.ENOENT}
	for i, e := range want {
		assert.Equal(t, -int64(e), int64(binary.LittleEndian.Uint64(raw[8*i:])), "call %d", i)
	}
	// The same checks here (the NULL object is the bpf package's helper's
	// ERANGE, tested there).
	sspec, err := vmlinux.Default().Spec()
	require.NoError(t, err)
	for i, c := range []struct {
		id    uint32
		size  uint32
		flags uint64
	}{{1, 16, 16}, {1, 8, 0}, {0, 16, 0}, {1 << 24, 16, 0}} {
		_, e := btfshow.Check(sspec, c.id, c.size, c.flags)
		assert.Equal(t, want[i+1], e, "check %d", i)
	}
}

// readMapIter loads insns as a bpf_map iterator program in the running
// kernel, attaches it and returns what one read of the iterator gives; it
// skips the test where the kernel cannot.
func readMapIter(t *testing.T, insns asm.Instructions) []byte {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type: ebpf.Tracing, AttachType: ebpf.AttachTraceIter, AttachTo: "bpf_map",
		License: "GPL", Instructions: insns,
	})
	if err != nil {
		t.Skipf("cannot load an iterator program here: %v", err)
	}
	defer prog.Close()
	it, err := link.AttachIter(link.IterOptions{Program: prog})
	if err != nil {
		t.Skipf("cannot attach a bpf_map iterator here: %v", err)
	}
	defer it.Close()
	r, err := it.Open()
	require.NoError(t, err)
	defer r.Close()
	raw, err := io.ReadAll(r)
	require.NoError(t, err)
	return raw
}
