package interp

import (
	"encoding/binary"
	"math/bits"
)

// exec runs from st.pc for at most limit instructions. It returns the
// number executed and whether the program exited; a fault returns a
// *RunError. It is resumable: the traced loop calls it with limit 1.
//
// This is the interpreter proper (kernel/bpf/core.c's ___bpf_prog_run).
// Every case is written out so that the switch compiles to one jump table
// and the common cases make no calls: the stack and the last-used region
// are bounds-checked inline, everything else goes through st.load and
// st.store. Division guards are explicit because Go panics on x/0 and x%0;
// Go defines MinInt64/-1 == MinInt64 and MinInt64%-1 == 0, as RFC 9669 does.
func (p *Program) exec(st *state, limit int) (steps int, done bool, err error) {
	insns := p.insns
	r := &st.regs
	stack := &st.stack
	pc := st.pc
	for steps < limit {
		in := &insns[pc]
		pc++
		steps++
		switch in.op {
		case opAdd64K:
			r[in.dst&15] += in.imm
		case opSub64K:
			r[in.dst&15] -= in.imm
		case opMul64K:
			r[in.dst&15] *= in.imm
		case opDiv64K:
			r[in.dst&15] /= in.imm
		case opSDiv64K:
			r[in.dst&15] = uint64(int64(r[in.dst&15]) / int64(in.imm))
		case opMod64K:
			r[in.dst&15] %= in.imm
		case opSMod64K:
			r[in.dst&15] = uint64(int64(r[in.dst&15]) % int64(in.imm))
		case opLsh64K:
			r[in.dst&15] <<= in.imm
		case opRsh64K:
			r[in.dst&15] >>= in.imm
		case opArsh64K:
			r[in.dst&15] = uint64(int64(r[in.dst&15]) >> in.imm)
		case opOr64K:
			r[in.dst&15] |= in.imm
		case opAnd64K:
			r[in.dst&15] &= in.imm
		case opXor64K:
			r[in.dst&15] ^= in.imm
		case opMov64K:
			r[in.dst&15] = in.imm
		case opAdd64X:
			r[in.dst&15] += r[in.src&15]
		case opSub64X:
			r[in.dst&15] -= r[in.src&15]
		case opMul64X:
			r[in.dst&15] *= r[in.src&15]
		case opDiv64X:
			if s := r[in.src&15]; s != 0 {
				r[in.dst&15] /= s
			} else {
				r[in.dst&15] = 0
			}
		case opSDiv64X:
			if s := int64(r[in.src&15]); s != 0 {
				r[in.dst&15] = uint64(int64(r[in.dst&15]) / s)
			} else {
				r[in.dst&15] = 0
			}
		case opMod64X:
			if s := r[in.src&15]; s != 0 {
				r[in.dst&15] %= s
			}
		case opSMod64X:
			if s := int64(r[in.src&15]); s != 0 {
				r[in.dst&15] = uint64(int64(r[in.dst&15]) % s)
			}
		case opLsh64X:
			r[in.dst&15] <<= r[in.src&15] & 63
		case opRsh64X:
			r[in.dst&15] >>= r[in.src&15] & 63
		case opArsh64X:
			r[in.dst&15] = uint64(int64(r[in.dst&15]) >> (r[in.src&15] & 63))
		case opOr64X:
			r[in.dst&15] |= r[in.src&15]
		case opAnd64X:
			r[in.dst&15] &= r[in.src&15]
		case opXor64X:
			r[in.dst&15] ^= r[in.src&15]
		case opMov64X:
			r[in.dst&15] = r[in.src&15]
		case opNeg64:
			r[in.dst&15] = -r[in.dst&15]
		case opMovSX8to64:
			r[in.dst&15] = uint64(int64(int8(r[in.src&15])))
		case opMovSX16to64:
			r[in.dst&15] = uint64(int64(int16(r[in.src&15])))
		case opMovSX32to64:
			r[in.dst&15] = uint64(int64(int32(r[in.src&15])))
		case opAdd32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) + uint32(in.imm))
		case opSub32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) - uint32(in.imm))
		case opMul32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) * uint32(in.imm))
		case opDiv32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) / uint32(in.imm))
		case opSDiv32K:
			r[in.dst&15] = uint64(uint32(int32(uint32(r[in.dst&15])) / int32(uint32(in.imm))))
		case opMod32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) % uint32(in.imm))
		case opSMod32K:
			r[in.dst&15] = uint64(uint32(int32(uint32(r[in.dst&15])) % int32(uint32(in.imm))))
		case opLsh32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) << in.imm)
		case opRsh32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) >> in.imm)
		case opArsh32K:
			r[in.dst&15] = uint64(uint32(int32(uint32(r[in.dst&15])) >> in.imm))
		case opOr32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) | uint32(in.imm))
		case opAnd32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) & uint32(in.imm))
		case opXor32K:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) ^ uint32(in.imm))
		case opMov32K:
			r[in.dst&15] = uint64(uint32(in.imm))
		case opAdd32X:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) + uint32(r[in.src&15]))
		case opSub32X:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) - uint32(r[in.src&15]))
		case opMul32X:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) * uint32(r[in.src&15]))
		case opDiv32X:
			if s := uint32(r[in.src&15]); s != 0 {
				r[in.dst&15] = uint64(uint32(r[in.dst&15]) / s)
			} else {
				r[in.dst&15] = 0
			}
		case opSDiv32X:
			if s := int32(r[in.src&15]); s != 0 {
				r[in.dst&15] = uint64(uint32(int32(uint32(r[in.dst&15])) / s))
			} else {
				r[in.dst&15] = 0
			}
		case opMod32X:
			if s := uint32(r[in.src&15]); s != 0 {
				r[in.dst&15] = uint64(uint32(r[in.dst&15]) % s)
			} else {
				r[in.dst&15] = uint64(uint32(r[in.dst&15]))
			}
		case opSMod32X:
			if s := int32(r[in.src&15]); s != 0 {
				r[in.dst&15] = uint64(uint32(int32(uint32(r[in.dst&15])) % s))
			} else {
				r[in.dst&15] = uint64(uint32(r[in.dst&15]))
			}
		case opLsh32X:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) << (r[in.src&15] & 31))
		case opRsh32X:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) >> (r[in.src&15] & 31))
		case opArsh32X:
			r[in.dst&15] = uint64(uint32(int32(uint32(r[in.dst&15])) >> (r[in.src&15] & 31)))
		case opOr32X:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) | uint32(r[in.src&15]))
		case opAnd32X:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) & uint32(r[in.src&15]))
		case opXor32X:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]) ^ uint32(r[in.src&15]))
		case opMov32X:
			r[in.dst&15] = uint64(uint32(r[in.src&15]))
		case opNeg32:
			r[in.dst&15] = uint64(-uint32(r[in.dst&15]))
		case opMovSX8to32:
			r[in.dst&15] = uint64(uint32(int32(int8(r[in.src&15]))))
		case opMovSX16to32:
			r[in.dst&15] = uint64(uint32(int32(int16(r[in.src&15]))))
		case opZext16:
			r[in.dst&15] = uint64(uint16(r[in.dst&15]))
		case opZext32:
			r[in.dst&15] = uint64(uint32(r[in.dst&15]))
		case opNop:

		case opBswap16:
			r[in.dst&15] = uint64(bits.ReverseBytes16(uint16(r[in.dst&15])))
		case opBswap32:
			r[in.dst&15] = uint64(bits.ReverseBytes32(uint32(r[in.dst&15])))
		case opBswap64:
			r[in.dst&15] = bits.ReverseBytes64(r[in.dst&15])
		case opJa:
			pc = int(in.off)
		case opJeqK:
			if r[in.dst&15] == in.imm {
				pc = int(in.off)
			}
		case opJgtK:
			if r[in.dst&15] > in.imm {
				pc = int(in.off)
			}
		case opJgeK:
			if r[in.dst&15] >= in.imm {
				pc = int(in.off)
			}
		case opJsetK:
			if r[in.dst&15]&in.imm != 0 {
				pc = int(in.off)
			}
		case opJneK:
			if r[in.dst&15] != in.imm {
				pc = int(in.off)
			}
		case opJsgtK:
			if int64(r[in.dst&15]) > int64(in.imm) {
				pc = int(in.off)
			}
		case opJsgeK:
			if int64(r[in.dst&15]) >= int64(in.imm) {
				pc = int(in.off)
			}
		case opJltK:
			if r[in.dst&15] < in.imm {
				pc = int(in.off)
			}
		case opJleK:
			if r[in.dst&15] <= in.imm {
				pc = int(in.off)
			}
		case opJsltK:
			if int64(r[in.dst&15]) < int64(in.imm) {
				pc = int(in.off)
			}
		case opJsleK:
			if int64(r[in.dst&15]) <= int64(in.imm) {
				pc = int(in.off)
			}
		case opJeqX:
			if r[in.dst&15] == r[in.src&15] {
				pc = int(in.off)
			}
		case opJgtX:
			if r[in.dst&15] > r[in.src&15] {
				pc = int(in.off)
			}
		case opJgeX:
			if r[in.dst&15] >= r[in.src&15] {
				pc = int(in.off)
			}
		case opJsetX:
			if r[in.dst&15]&r[in.src&15] != 0 {
				pc = int(in.off)
			}
		case opJneX:
			if r[in.dst&15] != r[in.src&15] {
				pc = int(in.off)
			}
		case opJsgtX:
			if int64(r[in.dst&15]) > int64(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJsgeX:
			if int64(r[in.dst&15]) >= int64(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJltX:
			if r[in.dst&15] < r[in.src&15] {
				pc = int(in.off)
			}
		case opJleX:
			if r[in.dst&15] <= r[in.src&15] {
				pc = int(in.off)
			}
		case opJsltX:
			if int64(r[in.dst&15]) < int64(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJsleX:
			if int64(r[in.dst&15]) <= int64(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJeq32K:
			if uint32(r[in.dst&15]) == uint32(in.imm) {
				pc = int(in.off)
			}
		case opJgt32K:
			if uint32(r[in.dst&15]) > uint32(in.imm) {
				pc = int(in.off)
			}
		case opJge32K:
			if uint32(r[in.dst&15]) >= uint32(in.imm) {
				pc = int(in.off)
			}
		case opJset32K:
			if uint32(r[in.dst&15])&uint32(in.imm) != 0 {
				pc = int(in.off)
			}
		case opJne32K:
			if uint32(r[in.dst&15]) != uint32(in.imm) {
				pc = int(in.off)
			}
		case opJsgt32K:
			if int32(uint32(r[in.dst&15])) > int32(uint32(in.imm)) {
				pc = int(in.off)
			}
		case opJsge32K:
			if int32(uint32(r[in.dst&15])) >= int32(uint32(in.imm)) {
				pc = int(in.off)
			}
		case opJlt32K:
			if uint32(r[in.dst&15]) < uint32(in.imm) {
				pc = int(in.off)
			}
		case opJle32K:
			if uint32(r[in.dst&15]) <= uint32(in.imm) {
				pc = int(in.off)
			}
		case opJslt32K:
			if int32(uint32(r[in.dst&15])) < int32(uint32(in.imm)) {
				pc = int(in.off)
			}
		case opJsle32K:
			if int32(uint32(r[in.dst&15])) <= int32(uint32(in.imm)) {
				pc = int(in.off)
			}
		case opJeq32X:
			if uint32(r[in.dst&15]) == uint32(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJgt32X:
			if uint32(r[in.dst&15]) > uint32(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJge32X:
			if uint32(r[in.dst&15]) >= uint32(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJset32X:
			if uint32(r[in.dst&15])&uint32(r[in.src&15]) != 0 {
				pc = int(in.off)
			}
		case opJne32X:
			if uint32(r[in.dst&15]) != uint32(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJsgt32X:
			if int32(uint32(r[in.dst&15])) > int32(uint32(r[in.src&15])) {
				pc = int(in.off)
			}
		case opJsge32X:
			if int32(uint32(r[in.dst&15])) >= int32(uint32(r[in.src&15])) {
				pc = int(in.off)
			}
		case opJlt32X:
			if uint32(r[in.dst&15]) < uint32(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJle32X:
			if uint32(r[in.dst&15]) <= uint32(r[in.src&15]) {
				pc = int(in.off)
			}
		case opJslt32X:
			if int32(uint32(r[in.dst&15])) < int32(uint32(r[in.src&15])) {
				pc = int(in.off)
			}
		case opJsle32X:
			if int32(uint32(r[in.dst&15])) <= int32(uint32(r[in.src&15])) {
				pc = int(in.off)
			}
		case opLddw:
			r[in.dst&15] = in.imm
			pc++
		case opLdxB:
			a := r[in.src&15] + uint64(int64(in.off))
			if o := a - StackAddr; o <= stackSize-1 {
				r[in.dst&15] = uint64(stack[o])
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && o+1 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+1]
				r[in.dst&15] = uint64(b[0])
			} else if v, ok := st.load(a, 1); ok {
				r[in.dst&15] = v
			} else {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opLdxH:
			a := r[in.src&15] + uint64(int64(in.off))
			if o := a - StackAddr; o <= stackSize-2 {
				r[in.dst&15] = uint64(binary.LittleEndian.Uint16(stack[o:]))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && o+2 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+2]
				r[in.dst&15] = uint64(binary.LittleEndian.Uint16(b))
			} else if v, ok := st.load(a, 2); ok {
				r[in.dst&15] = v
			} else {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opLdxW:
			a := r[in.src&15] + uint64(int64(in.off))
			if o := a - StackAddr; o <= stackSize-4 {
				r[in.dst&15] = uint64(binary.LittleEndian.Uint32(stack[o:]))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && o+4 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+4]
				r[in.dst&15] = uint64(binary.LittleEndian.Uint32(b))
			} else if v, ok := st.load(a, 4); ok {
				r[in.dst&15] = v
			} else {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opLdxDW:
			a := r[in.src&15] + uint64(int64(in.off))
			if o := a - StackAddr; o <= stackSize-8 {
				r[in.dst&15] = binary.LittleEndian.Uint64(stack[o:])
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && o+8 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+8]
				r[in.dst&15] = binary.LittleEndian.Uint64(b)
			} else if v, ok := st.load(a, 8); ok {
				r[in.dst&15] = v
			} else {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opLdxSB:
			a := r[in.src&15] + uint64(int64(in.off))
			if o := a - StackAddr; o <= stackSize-1 {
				r[in.dst&15] = uint64(int64(int8(stack[o])))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && o+1 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+1]
				r[in.dst&15] = uint64(int64(int8(b[0])))
			} else if v, ok := st.load(a, 1); ok {
				r[in.dst&15] = uint64(int64(int8(v)))
			} else {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opLdxSH:
			a := r[in.src&15] + uint64(int64(in.off))
			if o := a - StackAddr; o <= stackSize-2 {
				r[in.dst&15] = uint64(int64(int16(binary.LittleEndian.Uint16(stack[o:]))))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && o+2 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+2]
				r[in.dst&15] = uint64(int64(int16(binary.LittleEndian.Uint16(b))))
			} else if v, ok := st.load(a, 2); ok {
				r[in.dst&15] = uint64(int64(int16(v)))
			} else {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opLdxSW:
			a := r[in.src&15] + uint64(int64(in.off))
			if o := a - StackAddr; o <= stackSize-4 {
				r[in.dst&15] = uint64(int64(int32(binary.LittleEndian.Uint32(stack[o:]))))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && o+4 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+4]
				r[in.dst&15] = uint64(int64(int32(binary.LittleEndian.Uint32(b))))
			} else if v, ok := st.load(a, 4); ok {
				r[in.dst&15] = uint64(int64(int32(v)))
			} else {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opStB:
			a := r[in.dst&15] + uint64(int64(in.off))
			v := in.imm
			if o := a - StackAddr; o <= stackSize-1 {
				stack[o] = byte(v)
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && !st.cro && o+1 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+1]
				b[0] = byte(v)
			} else if !st.store(a, 1, v) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opStH:
			a := r[in.dst&15] + uint64(int64(in.off))
			v := in.imm
			if o := a - StackAddr; o <= stackSize-2 {
				binary.LittleEndian.PutUint16(stack[o:], uint16(v))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && !st.cro && o+2 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+2]
				binary.LittleEndian.PutUint16(b, uint16(v))
			} else if !st.store(a, 2, v) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opStW:
			a := r[in.dst&15] + uint64(int64(in.off))
			v := in.imm
			if o := a - StackAddr; o <= stackSize-4 {
				binary.LittleEndian.PutUint32(stack[o:], uint32(v))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && !st.cro && o+4 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+4]
				binary.LittleEndian.PutUint32(b, uint32(v))
			} else if !st.store(a, 4, v) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opStDW:
			a := r[in.dst&15] + uint64(int64(in.off))
			v := in.imm
			if o := a - StackAddr; o <= stackSize-8 {
				binary.LittleEndian.PutUint64(stack[o:], v)
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && !st.cro && o+8 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+8]
				binary.LittleEndian.PutUint64(b, v)
			} else if !st.store(a, 8, v) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opStxB:
			a := r[in.dst&15] + uint64(int64(in.off))
			v := r[in.src&15]
			if o := a - StackAddr; o <= stackSize-1 {
				stack[o] = byte(v)
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && !st.cro && o+1 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+1]
				b[0] = byte(v)
			} else if !st.store(a, 1, v) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opStxH:
			a := r[in.dst&15] + uint64(int64(in.off))
			v := r[in.src&15]
			if o := a - StackAddr; o <= stackSize-2 {
				binary.LittleEndian.PutUint16(stack[o:], uint16(v))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && !st.cro && o+2 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+2]
				binary.LittleEndian.PutUint16(b, uint16(v))
			} else if !st.store(a, 2, v) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opStxW:
			a := r[in.dst&15] + uint64(int64(in.off))
			v := r[in.src&15]
			if o := a - StackAddr; o <= stackSize-4 {
				binary.LittleEndian.PutUint32(stack[o:], uint32(v))
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && !st.cro && o+4 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+4]
				binary.LittleEndian.PutUint32(b, uint32(v))
			} else if !st.store(a, 4, v) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opStxDW:
			a := r[in.dst&15] + uint64(int64(in.off))
			v := r[in.src&15]
			if o := a - StackAddr; o <= stackSize-8 {
				binary.LittleEndian.PutUint64(stack[o:], v)
			} else if o := uint64(uint32(a)); a>>regionShift == st.cid && !st.cro && o+8 <= uint64(len(st.cdata)) {
				b := st.cdata[o : o+8]
				binary.LittleEndian.PutUint64(b, v)
			} else if !st.store(a, 8, v) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opAtomic32:
			if !st.atomic(r[in.dst&15]+uint64(int64(in.off)), 4, in.imm, in.src) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opAtomic64:
			if !st.atomic(r[in.dst&15]+uint64(int64(in.off)), 8, in.imm, in.src) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, st.fault)
			}
		case opCall:
			exit, err := st.callHelper(in.imm, pc-1)
			if err != nil {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, err)
			}
			if exit {
				st.pc = pc - 1
				return steps, true, nil
			}
		case opCallX:
			id := r[in.dst&15]
			if id > 1<<31-1 || p.allowed == nil || !p.allowed(int32(id)) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, ErrUnknownHelper)
			}
			exit, err := st.callHelper(id, pc-1)
			if err != nil {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, err)
			}
			if exit {
				st.pc = pc - 1
				return steps, true, nil
			}
		case opCallLocal:
			if !st.callLocal(pc, int(in.off)) {
				st.pc = pc - 1
				return steps, false, p.runError(pc-1, ErrCallDepth)
			}
			pc = int(in.off)
		case opExit:
			if st.depth == 0 {
				st.pc = pc - 1
				return steps, true, nil
			}
			pc = st.ret()
		case opTrap:
			st.pc = pc - 1
			return steps, false, p.runError(pc-1, ErrCORERelocation)
		default:
			st.pc = pc - 1
			return steps, false, p.runError(pc-1, errBadOpcode)
		}
	}
	st.pc = pc
	return steps, false, nil
}
