package cgroupiter_test

import (
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/require"
)

// Hand-assembled iter/cgroup programs for what the example object cannot
// do. Field offsets come from the machine's layout, as CO-RE would put
// them.

func offset(t testing.TB, l *vmlinux.Layout, st, path string) int16 {
	t.Helper()
	off, err := l.Offset(st, path)
	require.NoError(t, err)
	return int16(off)
}

// cstring packs s and a NUL into u64 words, for stores to the stack.
func cstring(s string) []uint64 {
	b := append([]byte(s), 0)
	for len(b)%8 != 0 {
		b = append(b, 0)
	}
	words := make([]uint64, len(b)/8)
	for i := range words {
		for j := 0; j < 8; j++ {
			words[i] |= uint64(b[8*i+j]) << (8 * j)
		}
	}
	return words
}

// metaProg prints "<session_id> <seq_num> <cgroup id>\n" for every call,
// with id 0 for the NULL cgroup of the epilogue, and returns ret.
func metaProg(t testing.TB, l *vmlinux.Layout, ret int32) asm.Instructions {
	format := "%llu %llu %llu\n"
	words := cstring(format)
	fmtOff := int16(-24 - 8*len(words))
	insns := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord), // meta
		asm.LoadMem(asm.R7, asm.R1, 8, asm.DWord), // cgroup
		asm.Mov.Imm(asm.R8, 0),
		asm.JEq.Imm(asm.R7, 0, "null"),
		asm.LoadMem(asm.R8, asm.R7, offset(t, l, "cgroup", "kn"), asm.DWord),
		asm.LoadMem(asm.R8, asm.R8, offset(t, l, "kernfs_node", "id"), asm.DWord),
		asm.StoreMem(asm.RFP, -8, asm.R8, asm.DWord).WithSymbol("null"),
		asm.LoadMem(asm.R9, asm.R6, offset(t, l, "bpf_iter_meta", "seq_num"), asm.DWord),
		asm.StoreMem(asm.RFP, -16, asm.R9, asm.DWord),
		asm.LoadMem(asm.R9, asm.R6, offset(t, l, "bpf_iter_meta", "session_id"), asm.DWord),
		asm.StoreMem(asm.RFP, -24, asm.R9, asm.DWord),
	}
	for i, w := range words {
		insns = append(insns, asm.LoadImm(asm.R9, int64(w), asm.DWord), asm.StoreMem(asm.RFP, fmtOff+int16(8*i), asm.R9, asm.DWord))
	}
	return append(insns,
		asm.LoadMem(asm.R1, asm.R6, offset(t, l, "bpf_iter_meta", "seq"), asm.DWord),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(fmtOff)),
		asm.Mov.Imm(asm.R3, int32(len(format)+1)),
		asm.Mov.Reg(asm.R4, asm.RFP),
		asm.Add.Imm(asm.R4, -24),
		asm.Mov.Imm(asm.R5, 24),
		asm.FnSeqPrintf.Call(),
		asm.Mov.Imm(asm.R0, ret),
		asm.Return(),
	)
}

// writerProg writes chunks*256 bytes of 'x' for every cgroup and "E\n" in
// the epilogue.
func writerProg(t testing.TB, l *vmlinux.Layout, chunks int32) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord), // meta
		asm.LoadMem(asm.R7, asm.R1, 8, asm.DWord), // cgroup
		asm.LoadMem(asm.R6, asm.R6, offset(t, l, "bpf_iter_meta", "seq"), asm.DWord),
		asm.LoadImm(asm.R9, 0x7878787878787878, asm.DWord),
	}
	for off := int16(-256); off < 0; off += 8 {
		insns = append(insns, asm.StoreMem(asm.RFP, off, asm.R9, asm.DWord))
	}
	insns = append(insns,
		asm.LoadImm(asm.R9, 0x0a45, asm.DWord), // "E\n"
		asm.StoreMem(asm.RFP, -264, asm.R9, asm.DWord),
		asm.JEq.Imm(asm.R7, 0, "epilogue"),
		asm.Mov.Imm(asm.R8, chunks),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("loop"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -256),
		asm.Mov.Imm(asm.R3, 256),
		asm.FnSeqWrite.Call(),
		asm.Sub.Imm(asm.R8, 1),
		asm.JNE.Imm(asm.R8, 0, "loop"),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
		asm.Mov.Reg(asm.R1, asm.R6).WithSymbol("epilogue"),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -264),
		asm.Mov.Imm(asm.R3, 2),
		asm.FnSeqWrite.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	return insns
}

func loadAsm(t testing.TB, p *kernel.Process, section string, insns asm.Instructions) int {
	t.Helper()
	fd, log, err := p.ProgLoad(kernel.ProgLoadAttr{Section: section, Name: "test_iter", License: "GPL", Insns: insns})
	require.NoError(t, err, log)
	t.Cleanup(func() { p.Close(fd) })
	return fd
}

// trapProg writes "ok\n" for the first cgroup and reaches a CO-RE-poisoned
// instruction (what btf.COREFixup.Apply writes) for the later ones; with
// always set, for every cgroup. The epilogue writes nothing.
func trapProg(t testing.TB, l *vmlinux.Layout, always bool) asm.Instructions {
	insns := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord), // meta
		asm.LoadMem(asm.R7, asm.R1, 8, asm.DWord), // cgroup
		asm.Mov.Imm(asm.R0, 0),
		asm.JEq.Imm(asm.R7, 0, "out"),
		asm.LoadMem(asm.R8, asm.R6, offset(t, l, "bpf_iter_meta", "seq_num"), asm.DWord),
	}
	if !always {
		insns = append(insns, asm.JEq.Imm(asm.R8, 0, "print"))
	}
	return append(insns,
		asm.BuiltinFunc(0xbad2310).Call(),
		asm.LoadImm(asm.R9, 0x0a6b6f, asm.DWord).WithSymbol("print"), // "ok\n"
		asm.StoreMem(asm.RFP, -8, asm.R9, asm.DWord),
		asm.LoadMem(asm.R1, asm.R6, offset(t, l, "bpf_iter_meta", "seq"), asm.DWord),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -8),
		asm.Mov.Imm(asm.R3, 3),
		asm.FnSeqWrite.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return().WithSymbol("out"),
	)
}

// poisonedSlot is the raw slot of trapProg's poisoned instruction.
func poisonedSlot(always bool) int {
	if always {
		return 5
	}
	return 6
}
