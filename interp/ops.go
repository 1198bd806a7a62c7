package interp

// insn is the pre-decoded internal form: one per raw slot, jump targets
// resolved to absolute slots, immediates pre-extended to the width the
// operation uses, constant shift amounts masked and constant divisors of zero
// folded away (isa profile; the linux profile rejects them).
type insn struct {
	imm uint64 // immediate, pre-extended; lddw value; helper id
	off int32  // memory offset; absolute jump/call target
	op  uint8  // internal opcode, below
	dst uint8
	src uint8
}

// Internal opcodes. Dense, so the interpreter's switch compiles to a jump table.
const (
	_ uint8 = iota // 0: the second half of an lddw, never executed

	// ALU64, immediate (imm sign-extended to 64 bits)
	opAdd64K
	opSub64K
	opMul64K
	opDiv64K // imm != 0
	opSDiv64K
	opOr64K
	opAnd64K
	opLsh64K // imm masked to 0..63
	opRsh64K
	opMod64K
	opSMod64K
	opXor64K
	opMov64K
	opArsh64K
	// ALU64, register
	opAdd64X
	opSub64X
	opMul64X
	opDiv64X
	opSDiv64X
	opOr64X
	opAnd64X
	opLsh64X
	opRsh64X
	opMod64X
	opSMod64X
	opXor64X
	opMov64X
	opArsh64X
	opNeg64
	opMovSX8to64
	opMovSX16to64
	opMovSX32to64

	// ALU32, immediate (imm as uint32)
	opAdd32K
	opSub32K
	opMul32K
	opDiv32K
	opSDiv32K
	opOr32K
	opAnd32K
	opLsh32K
	opRsh32K
	opMod32K
	opSMod32K
	opXor32K
	opMov32K
	opArsh32K
	// ALU32, register
	opAdd32X
	opSub32X
	opMul32X
	opDiv32X
	opSDiv32X
	opOr32X
	opAnd32X
	opLsh32X
	opRsh32X
	opMod32X
	opSMod32X
	opXor32X
	opMov32X
	opArsh32X
	opNeg32
	opMovSX8to32
	opMovSX16to32

	// byte order (the host is little-endian by definition here: the ISA's
	// memory is little-endian)
	opZext16 // le16
	opZext32 // le32
	opNop    // le64, and folded no-ops
	opBswap16
	opBswap32
	opBswap64

	// jumps: off is the absolute target
	opJa
	opJeqK
	opJgtK
	opJgeK
	opJsetK
	opJneK
	opJsgtK
	opJsgeK
	opJltK
	opJleK
	opJsltK
	opJsleK
	opJeqX
	opJgtX
	opJgeX
	opJsetX
	opJneX
	opJsgtX
	opJsgeX
	opJltX
	opJleX
	opJsltX
	opJsleX
	opJeq32K
	opJgt32K
	opJge32K
	opJset32K
	opJne32K
	opJsgt32K
	opJsge32K
	opJlt32K
	opJle32K
	opJslt32K
	opJsle32K
	opJeq32X
	opJgt32X
	opJge32X
	opJset32X
	opJne32X
	opJsgt32X
	opJsge32X
	opJlt32X
	opJle32X
	opJslt32X
	opJsle32X

	opCall      // helper imm
	opCallLocal // bpf-to-bpf call, target in off
	opCallX     // helper id in register dst (isa profile only)
	opTrap      // CO-RE poisoned instruction
	opExit

	opLddw // dst = imm, skips the second slot

	opLdxB
	opLdxH
	opLdxW
	opLdxDW
	opLdxSB
	opLdxSH
	opLdxSW
	opStB
	opStH
	opStW
	opStDW
	opStxB
	opStxH
	opStxW
	opStxDW
	opAtomic32 // atomic operation code in imm
	opAtomic64
)

// Atomic operation codes (the instruction's imm field).
const (
	atomicAdd     = 0x00
	atomicOr      = 0x40
	atomicAnd     = 0x50
	atomicXor     = 0xa0
	atomicFetch   = 0x01
	atomicXchg    = 0xe0 | atomicFetch
	atomicCmpXchg = 0xf0 | atomicFetch
)
