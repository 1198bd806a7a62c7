package interp_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simfs/simfs/interp"
)

// slot builds one raw instruction, independently of the assembler.
func slot(op, dst, src uint8, off int16, imm int32) []byte {
	b := make([]byte, 8)
	b[0], b[1] = op, dst|src<<4
	binary.LittleEndian.PutUint16(b[2:], uint16(off))
	binary.LittleEndian.PutUint32(b[4:], uint32(imm))
	return b
}

func cat(slots ...[]byte) []byte {
	var out []byte
	for _, s := range slots {
		out = append(out, s...)
	}
	return out
}

var exitSlot = slot(0x95, 0, 0, 0, 0)

type rejection struct {
	name  string
	code  []byte
	index int
	errno syscall.Errno
	msg   string
}

func checkRejections(t *testing.T, profile interp.Profile, tests []rejection) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := interp.LoadRaw(tt.code, interp.Options{
				Profile:        profile,
				AllowedHelpers: func(id int32) bool { return id == 1 },
			})
			var le *interp.LoadError
			require.ErrorAs(t, err, &le)
			assert.ErrorIs(t, err, tt.errno)
			assert.Equal(t, tt.index, le.Index)
			assert.Contains(t, le.Msg, tt.msg)
			assert.Contains(t, le.Log, le.Msg, "the log ends with the message")
			if tt.index >= 0 {
				assert.Contains(t, le.Log, fmt.Sprintf("%d: ", tt.index), "the log names the instruction")
				assert.Contains(t, err.Error(), fmt.Sprintf("insn %d", tt.index))
			}
		})
	}
}

// TestLoadRejectsBothProfiles: the checks every profile makes.
func TestLoadRejectsBothProfiles(t *testing.T) {
	mov := func(dst uint8, imm int32) []byte { return slot(0xb7, dst, 0, 0, imm) }
	tests := []rejection{
		{"empty", nil, -1, syscall.E2BIG, "empty program"},
		{"partial slot", make([]byte, 12), -1, syscall.EINVAL, "not a multiple of 8"},
		{"unknown opcode", cat(mov(0, 0), slot(0xff, 0, 0, 0, 0), exitSlot), 1, syscall.EINVAL, "unknown opcode ff"},
		{"unknown ALU op", cat(slot(0xe7, 0, 0, 0, 0), exitSlot), 0, syscall.EINVAL, "unknown opcode e7"},
		{"neg with register source", cat(slot(0x8f, 0, 1, 0, 0), exitSlot), 0, syscall.EINVAL, "unknown opcode 8f"},
		{"JMP32 exit", cat(mov(0, 0), slot(0x96, 0, 0, 0, 0)), 1, syscall.EINVAL, "unknown opcode 96"},
		{"JMP32 call", cat(slot(0x86, 0, 0, 0, 1), exitSlot), 0, syscall.EINVAL, "unknown opcode 86"},
		{"may_goto (not RFC 9669)", cat(slot(0xe5, 0, 0, 0, 0), exitSlot), 0, syscall.EINVAL, "unknown opcode e5"},
		{"ldxsdw does not exist", cat(slot(0x99, 0, 1, 0, 0), exitSlot), 0, syscall.EINVAL, "unknown opcode 99"},
		{"unused src of add imm", cat(slot(0x07, 0, 1, 0, 1), exitSlot), 0, syscall.EINVAL, "src_reg=1"},
		{"unused imm of add reg", cat(slot(0x0f, 0, 1, 0, 1), exitSlot), 0, syscall.EINVAL, "imm=1"},
		{"unused offset of add", cat(slot(0x07, 0, 0, 1, 1), exitSlot), 0, syscall.EINVAL, "offset=1"},
		{"movsx with imm source", cat(slot(0xb7, 0, 0, 8, 1), exitSlot), 0, syscall.EINVAL, "offset=8"},
		{"movsx832 of 32 bits", cat(slot(0xbc, 0, 1, 32, 0), exitSlot), 0, syscall.EINVAL, "offset=32"},
		{"bswap with source bit", cat(slot(0xdf, 0, 0, 0, 16), exitSlot), 0, syscall.EINVAL, "unknown opcode df"},
		{"be of 8 bits", cat(slot(0xdc, 0, 0, 0, 8), exitSlot), 0, syscall.EINVAL, "imm=8"},
		{"unused dst of exit", cat(mov(0, 0), slot(0x95, 1, 0, 0, 0)), 1, syscall.EINVAL, "dst_reg=1"},
		{"unused imm of ja", cat(slot(0x05, 0, 0, 0, 1), exitSlot), 0, syscall.EINVAL, "imm=1"},
		{"unused offset of ja32", cat(slot(0x06, 0, 0, 1, 0), exitSlot), 0, syscall.EINVAL, "offset=1"},
		{"unused imm of ldx", cat(slot(0x79, 0, 10, -8, 1), exitSlot), 0, syscall.EINVAL, "imm=1"},
		{"unused src of st", cat(slot(0x7a, 10, 1, -8, 1), exitSlot), 0, syscall.EINVAL, "src_reg=1"},
		{"bad atomic op", cat(slot(0xdb, 10, 1, -8, 0xe0), exitSlot), 0, syscall.EINVAL, "atomic opcode"},
		{"8-bit atomic", cat(slot(0xd3, 10, 1, -8, 0), exitSlot), 0, syscall.EINVAL, "unknown opcode d3"},
		{"register 11", cat(slot(0xb7, 11, 0, 0, 0), exitSlot), 0, syscall.EINVAL, "R11 is invalid"},
		{"source register 12", cat(slot(0xbf, 0, 12, 0, 0), exitSlot), 0, syscall.EINVAL, "R12 is invalid"},
		{"jump past the end", cat(slot(0x05, 0, 0, 1, 0), exitSlot), 0, syscall.EINVAL, "jump out of range from insn 0 to 2"},
		{"jump before the start", cat(mov(0, 0), slot(0x15, 0, 0, -3, 0), exitSlot), 1, syscall.EINVAL, "jump out of range from insn 1 to -1"},
		{"ja32 far away", cat(slot(0x06, 0, 0, 0, 1<<30), exitSlot), 0, syscall.EINVAL, "jump out of range"},
		{"call local out of range", cat(slot(0x85, 0, 1, 0, -5), exitSlot), 0, syscall.EINVAL, "jump out of range"},
		{"jump into lddw", cat(slot(0x05, 0, 0, 1, 0), slot(0x18, 0, 0, 0, 1), slot(0, 0, 0, 0, 0), exitSlot), 0, syscall.EINVAL, "middle of ldimm64 insn 1"},
		{"lddw missing its half", cat(mov(0, 0), slot(0x18, 0, 0, 0, 1)), 1, syscall.EINVAL, "missing second half"},
		{"lddw half with fields", cat(slot(0x18, 0, 0, 0, 1), slot(0, 1, 0, 0, 0), exitSlot), 1, syscall.EINVAL, "non-zero fields"},
		{"lddw pseudo source without resolver", cat(slot(0x18, 1, 1, 0, 3), slot(0, 0, 0, 0, 0), exitSlot), 0, syscall.EINVAL, "pseudo source 1"},
		{"lddw unknown source", cat(slot(0x18, 1, 7, 0, 3), slot(0, 0, 0, 0, 0), exitSlot), 0, syscall.EINVAL, "src_reg=7"},
		{"falls off the end", cat(mov(0, 0)), 0, syscall.EINVAL, "last insn is not an exit or jmp"},
		{"ends in a conditional jump", cat(mov(0, 0), slot(0x15, 0, 0, -2, 0)), 1, syscall.EINVAL, "last insn is not an exit or jmp"},
		{"write r10 by ALU", cat(slot(0x07, 10, 0, 0, 8), exitSlot), 0, syscall.EACCES, "frame pointer is read only"},
		{"write r10 by mov32", cat(slot(0xbc, 10, 1, 0, 0), exitSlot), 0, syscall.EACCES, "frame pointer is read only"},
		{"write r10 by load", cat(slot(0x79, 10, 1, 0, 0), exitSlot), 0, syscall.EACCES, "frame pointer is read only"},
		{"write r10 by lddw", cat(slot(0x18, 10, 0, 0, 1), slot(0, 0, 0, 0, 0), exitSlot), 0, syscall.EACCES, "frame pointer is read only"},
		{"write r10 by atomic fetch", cat(slot(0xdb, 1, 10, 0, 0x01), exitSlot), 0, syscall.EACCES, "frame pointer is read only"},
		{"stack above the frame", cat(slot(0x7a, 10, 0, 0, 1), exitSlot), 0, syscall.EACCES, "invalid stack access off=0 size=8"},
		{"stack straddling the top", cat(slot(0x79, 0, 10, -4, 0), exitSlot), 0, syscall.EACCES, "off=-4 size=8"},
		{"stack below the frame", cat(slot(0x71, 0, 10, -513, 0), exitSlot), 0, syscall.EACCES, "off=-513 size=1"},
		{"atomic above the frame", cat(slot(0xc3, 10, 1, -2, 0), exitSlot), 0, syscall.EACCES, "off=-2 size=4"},
		{"helper not allowed", cat(slot(0x85, 0, 0, 0, 2), exitSlot), 0, syscall.EINVAL, "may not call helper 2"},
		{"kfunc", cat(slot(0x85, 0, 2, 0, 7), exitSlot), 0, syscall.EINVAL, "kfunc"},
		{"legacy packet load", cat(slot(0x30, 0, 0, 0, 1), exitSlot), 0, syscall.EINVAL, "BPF_LD_ABS"},
		{"call with unused dst", cat(slot(0x85, 1, 0, 0, 1), exitSlot), 0, syscall.EINVAL, "dst_reg=1"},
	}
	checkRejections(t, interp.ISA, tests)
	t.Run("linux", func(t *testing.T) { checkRejections(t, interp.Linux, tests) })
}

// TestLoadRejectsLinux: the linux profile's additional checks; each program
// loads under the isa profile.
func TestLoadRejectsLinux(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		index int
		errno syscall.Errno
		msg   string
	}{
		{"shift by 64", "mov %r0, 1\nlsh %r0, 64\nexit", 1, syscall.EINVAL, "invalid shift 64"},
		{"shift32 by 32", "mov %r0, 1\nrsh32 %r0, 32\nexit", 1, syscall.EINVAL, "invalid shift 32"},
		{"shift by -1", "mov %r0, 1\narsh %r0, -1\nexit", 1, syscall.EINVAL, "invalid shift -1"},
		{"div by constant zero", "mov %r0, 1\ndiv %r0, 0\nexit", 1, syscall.EINVAL, "div by zero"},
		{"smod32 by constant zero", "mov %r0, 1\nsmod32 %r0, 0\nexit", 1, syscall.EINVAL, "div by zero"},
		{"exit without r0", "exit", 0, syscall.EACCES, "R0 !read_ok"},
		{"r0 set on one path only", "jeq %r1, 0, +1\nmov %r0, 1\nexit", 2, syscall.EACCES, "R0 !read_ok"},
		{"uninitialised source", "mov %r0, %r2\nexit", 0, syscall.EACCES, "R2 !read_ok"},
		{"uninitialised destination", "mov %r0, 0\nadd %r3, 1\nexit", 1, syscall.EACCES, "R3 !read_ok"},
		{"uninitialised base", "mov %r0, 0\nldxb %r0, [%r4]\nexit", 1, syscall.EACCES, "R4 !read_ok"},
		{"arguments die at a helper call", "mov %r2, 1\ncall 1\nmov %r0, %r2\nexit", 2, syscall.EACCES, "R2 !read_ok"},
		{"callee frame starts without r6", "call local f\nexit\nf:\nmov %r0, %r6\nexit", 2, syscall.EACCES, "R6 !read_ok"},
		{"callee gets no argument the caller never set", "call local f\nexit\nf:\nmov %r0, %r3\nexit", 2, syscall.EACCES, "R3 !read_ok"},
		{"cmpxchg reads r0", "stdw [%r10-8], 0\nmov %r1, 1\nlock cmpxchg [%r10-8], %r1\nexit", 2, syscall.EACCES, "R0 !read_ok"},
		{"unreachable", "mov %r0, 0\nexit\nmov %r0, 1\nexit", 2, syscall.EINVAL, "unreachable insn 2"},
		{"jump into another subprogram", "mov %r0, 0\ncall local f\nja f\nf:\nmov %r0, 1\nexit", 2, syscall.EINVAL, "jump out of range from insn 2 to 3"},
		{"subprogram falls into the next", "mov %r0, 0\ncall local f\nmov %r0, 1\nf:\nmov %r0, 2\nexit", 2, syscall.EINVAL, "last insn is not an exit or jmp"},
		{"recursion", "mov %r0, 0\ncall local f\nexit\nf:\ncall local g\nexit\ng:\ncall local f\nexit", 5, syscall.EINVAL, "recursive call"},
		{"callx", "mov %r0, 0\nmov %r2, 1\ncall %r2\nexit", 2, syscall.EINVAL, "unknown opcode 8d"},
		{"misaligned stack", "stw [%r10-6], 1\nmov %r0, 0\nexit", 0, syscall.EACCES, "misaligned stack access off=-6 size=4"},
		{"copied frame pointer out of the frame", "mov %r1, %r10\nadd %r1, 8\nmov %r0, 0\nstb [%r1-1], 0\nexit", 3, syscall.EACCES, "off=7 size=1"},
		{"copied frame pointer below the frame", "mov %r1, %r10\nsub %r1, 512\nmov %r0, 0\nldxb %r0, [%r1-1]\nexit", 3, syscall.EACCES, "off=-513 size=1"},
		{"copied frame pointer misaligned", "mov %r1, %r10\nadd %r1, -12\nmov %r0, 0\nldxdw %r0, [%r1]\nexit", 3, syscall.EACCES, "misaligned stack access off=-12 size=8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := assemble(t, tt.src)
			opts := interp.Options{AllowedHelpers: func(id int32) bool { return id == 1 }}
			_, err := interp.LoadRaw(code, opts)
			require.NoError(t, err, "the isa profile accepts it")
			opts.Profile = interp.Linux
			_, err = interp.LoadRaw(code, opts)
			var le *interp.LoadError
			require.ErrorAs(t, err, &le)
			assert.ErrorIs(t, err, tt.errno)
			assert.Equal(t, tt.index, le.Index, le.Log)
			assert.Contains(t, le.Msg, tt.msg)
		})
	}
}

// TestLoadAcceptsLinux: programs the kernel verifier accepts that a naive
// check could reject.
func TestLoadAcceptsLinux(t *testing.T) {
	for _, src := range []string{
		// r0 set on both paths
		"jeq %r1, 0, +2\nmov %r0, 1\nexit\nmov %r0, 2\nexit",
		// a bounded loop (back-edge)
		"mov %r0, 0\nmov %r2, 10\nadd %r0, %r2\nsub %r2, 1\njne %r2, 0, -3\nexit",
		// a frame pointer copy kept through a join with the same offset
		"mov %r2, %r10\nadd %r2, -8\njeq %r1, 0, +1\nmov %r3, 1\nstdw [%r2], 1\nmov %r0, 0\nexit",
		// subprogram arguments and r6-r9 across calls
		"mov %r6, 1\nmov %r1, 2\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r0, %r1\nexit",
		// a poisoned call on a branch that is never taken
		"mov %r0, 0\njeq %r0, 0, +1\ncall 0xbad2310\nexit",
	} {
		_, err := interp.LoadRaw(assemble(t, src), interp.Options{Profile: interp.Linux})
		assert.NoError(t, err, src)
	}
}

func TestLoadSizeLimit(t *testing.T) {
	mk := func(n int) []byte {
		code := make([]byte, 0, n*8)
		for range n - 1 {
			code = append(code, slot(0xb7, 0, 0, 0, 0)...)
		}
		return append(code, exitSlot...)
	}
	_, err := interp.LoadRaw(mk(11), interp.Options{MaxInsns: 10})
	require.ErrorIs(t, err, syscall.E2BIG)
	_, err = interp.LoadRaw(mk(10), interp.Options{MaxInsns: 10})
	require.NoError(t, err)
	_, err = interp.LoadRaw(mk(interp.MaxInsns+1), interp.Options{MaxInsns: 2 * interp.MaxInsns})
	require.ErrorIs(t, err, syscall.E2BIG, "the option cannot raise the limit")
	if testing.Short() || raceEnabled {
		t.Skip("loading and running 1,000,000 instructions takes a moment (14 s under the race detector)")
	}
	prog, err := interp.LoadRaw(mk(interp.MaxInsns), interp.Options{Profile: interp.Linux})
	require.NoError(t, err)
	res, err := prog.Run(nil)
	require.NoError(t, err)
	assert.Equal(t, interp.MaxInsns, res.Steps)
}

func TestResolveImm64(t *testing.T) {
	as := interp.NewAddressSpace()
	base, err := as.Map([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 0)
	require.NoError(t, err)
	var seen []asm.Instruction
	opts := interp.Options{
		Profile: interp.Linux,
		ResolveImm64: func(slot int, ins asm.Instruction) (uint64, error) {
			seen = append(seen, ins)
			switch {
			case ins.Src == asm.PseudoMapValue:
				return base + uint64(ins.Constant)>>32, nil
			case ins.Reference() == "missing":
				return 0, errors.New("no such map")
			}
			return base, nil
		},
	}
	// map value at offset 4: lddw src=2 imm=fd 7, next_imm=4
	code := cat(slot(0x18, 1, 2, 0, 7), slot(0, 0, 0, 0, 4), slot(0x61, 0, 1, 0, 0), exitSlot)
	prog, err := interp.LoadRaw(code, opts)
	require.NoError(t, err)
	res, err := prog.Run(&interp.RunOptions{Mem: as})
	require.NoError(t, err)
	assert.EqualValues(t, 0x08070605, res.R0)
	require.Len(t, seen, 1)
	assert.EqualValues(t, 7, uint32(seen[0].Constant))

	// From cilium/ebpf instructions: the references reach the resolver, and
	// a call by label is resolved.
	insns := asm.Instructions{
		asm.LoadMapPtr(asm.R1, 0).WithReference("counters"),
		asm.LoadMem(asm.R0, asm.R1, 0, asm.Byte),
		asm.Call.Label("double"),
		asm.Return(),
		asm.Mov.Reg(asm.R0, asm.R1).WithSymbol("double"),
		asm.Add.Reg(asm.R0, asm.R1),
		asm.Return(),
	}
	seen = nil
	prog, err = interp.Load(insns, opts)
	require.NoError(t, err)
	require.Len(t, seen, 1)
	assert.Equal(t, "counters", seen[0].Reference())
	res, err = prog.Run(&interp.RunOptions{Mem: as})
	require.NoError(t, err)
	assert.EqualValues(t, 2*base, res.R0, "r1 still holds the map address in the callee")
	assert.Equal(t, int64(-1), insns[2].Constant, "the caller's instructions are not modified")

	_, err = interp.Load(asm.Instructions{asm.LoadMapPtr(asm.R1, 0).WithReference("missing"), asm.Mov.Imm(asm.R0, 0), asm.Return()}, opts)
	var le *interp.LoadError
	require.ErrorAs(t, err, &le)
	assert.Contains(t, le.Msg, "no such map")

	_, err = interp.Load(asm.Instructions{asm.Call.Label("nowhere"), asm.Return()}, opts)
	assert.ErrorIs(t, err, syscall.EINVAL)
}

func TestLoadErrorLog(t *testing.T) {
	src := strings.Repeat("mov %r0, 1\n", 40) + "add %r10, 1\nexit"
	_, err := interp.LoadRaw(assemble(t, src), interp.Options{})
	var le *interp.LoadError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, 40, le.Index)
	lines := strings.Split(strings.TrimSpace(le.Log), "\n")
	assert.Equal(t, "... 8 instructions before", lines[0])
	assert.Equal(t, "40: (07) add %r10, 1", lines[len(lines)-2])
	assert.Equal(t, "40: frame pointer is read only", lines[len(lines)-1])
}
