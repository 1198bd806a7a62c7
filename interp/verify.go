package interp

import (
	"math"
	"slices"
	"syscall"
)

// This file holds the linux profile's whole-program checks: a small part of
// kernel/bpf/verifier.c (check_subprogs, check_cfg, check_max_stack_depth
// and do_check's register liveness), without its abstract interpretation of
// values and pointers.

// width returns the number of slots the instruction at i occupies.
func (c *compiler) width(i int) int {
	if i+1 < c.n && c.second[i+1] {
		return 2
	}
	return 1
}

func isCondJump(op uint8) bool { return op >= opJeqK && op <= opJsle32X }

// memSize returns the access size of a load, store or atomic, or 0.
func memSize(op uint8) int {
	switch op {
	case opLdxB, opLdxSB, opStB, opStxB:
		return 1
	case opLdxH, opLdxSH, opStH, opStxH:
		return 2
	case opLdxW, opLdxSW, opStW, opStxW, opAtomic32:
		return 4
	case opLdxDW, opStDW, opStxDW, opAtomic64:
		return 8
	}
	return 0
}

func (c *compiler) verify() error {
	// Subprograms start at 0 and at every bpf-to-bpf call target.
	starts := []int{0}
	for i := 0; i < c.n; i++ {
		if c.out[i].op == opCallLocal && !c.second[i] {
			starts = append(starts, int(c.out[i].off))
		}
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	sub := make([]int32, c.n)
	for s, start := range starts {
		end := c.n
		if s+1 < len(starts) {
			end = starts[s+1]
		}
		for j := start; j < end; j++ {
			sub[j] = int32(s)
		}
	}
	subEnd := func(s int) int {
		if s+1 < len(starts) {
			return starts[s+1]
		}
		return c.n
	}

	// Jumps stay inside their subprogram; each subprogram ends in exit or ja.
	for i := 0; i < c.n; i++ {
		if c.second[i] {
			continue
		}
		op := c.out[i].op
		if op == opJa || isCondJump(op) {
			if t := int(c.out[i].off); sub[t] != sub[i] {
				return c.fail(i, syscall.EINVAL, "jump out of range from insn %d to %d", i, t)
			}
		}
	}
	for s := range starts {
		last := subEnd(s) - 1
		if c.second[last] {
			last--
		}
		if op := c.out[last].op; op != opExit && op != opJa {
			return c.fail(last, syscall.EINVAL, "last insn is not an exit or jmp")
		}
	}

	// Call graph: no recursion, at most MaxCallDepth frames.
	calls := make([][]int, len(starts)) // call sites per subprogram
	for i := 0; i < c.n; i++ {
		if !c.second[i] && c.out[i].op == opCallLocal {
			calls[sub[i]] = append(calls[sub[i]], i)
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(starts))
	frames := make([]int, len(starts))
	var walk func(s int) error
	walk = func(s int) error {
		color[s] = grey
		frames[s] = 1
		for _, site := range calls[s] {
			callee := int(sub[c.out[site].off])
			switch color[callee] {
			case grey:
				return c.fail(site, syscall.EINVAL, "recursive call from insn %d to %d", site, c.out[site].off)
			case white:
				if err := walk(callee); err != nil {
					return err
				}
			}
			if f := frames[callee] + 1; f > frames[s] {
				frames[s] = f
				if f > MaxCallDepth {
					return c.fail(site, syscall.E2BIG, "the call stack of %d frames is too deep", f)
				}
			}
		}
		color[s] = black
		return nil
	}
	if err := walk(0); err != nil {
		return err
	}

	if err := c.dataflow(); err != nil {
		return err
	}
	return nil
}

// regState is what the forward data-flow knows before an instruction.
type regState struct {
	init uint16    // bit r: register r has been written on every path
	fp   uint16    // bit r: register r == r10 + off[r] on every path
	off  [11]int16 // valid where fp is set
	seen bool
}

const argRegs = 0b111110 // r1..r5

func (s *regState) join(o *regState) bool {
	if !s.seen {
		*s = *o
		s.seen = true
		return true
	}
	init := s.init & o.init
	fp := s.fp & o.fp
	for r := 0; r < 11; r++ {
		if fp&(1<<r) != 0 && s.off[r] != o.off[r] {
			fp &^= 1 << r
		}
	}
	changed := init != s.init || fp != s.fp
	s.init, s.fp = init, fp
	return changed
}

func (s *regState) write(r uint8) {
	s.init |= 1 << r
	s.fp &^= 1 << r
}

// dataflow finds reads of registers that are not written on every path
// (the verifier's "R%d !read_ok"), out-of-frame or misaligned stack accesses
// through registers that hold r10 plus a known constant, and unreachable
// instructions.
func (c *compiler) dataflow() error {
	st := make([]regState, c.n)
	inWork := make([]bool, c.n)
	work := []int{0}
	inWork[0] = true
	entry := regState{init: 1<<1 | 1<<10}
	st[0].join(&entry)
	push := func(t int, s *regState) {
		if st[t].join(s) && !inWork[t] {
			inWork[t] = true
			work = append(work, t)
		}
	}
	for len(work) > 0 {
		i := work[len(work)-1]
		work = work[:len(work)-1]
		inWork[i] = false
		s := st[i] // copy
		in := &c.out[i]
		need := func(r uint8) error {
			if s.init&(1<<r) == 0 && r != 10 {
				return c.fail(i, syscall.EACCES, "R%d !read_ok", r)
			}
			return nil
		}
		base := func(r uint8, size int) error {
			if err := need(r); err != nil {
				return err
			}
			if r != 10 && s.fp&(1<<r) != 0 {
				return c.frameAccess(i, int64(s.off[r])+int64(in.off), size)
			}
			return nil
		}
		next := i + c.width(i)
		op := in.op
		switch {
		case op == opExit:
			if err := need(0); err != nil {
				return err
			}
			continue
		case op == opJa:
			push(int(in.off), &s)
			continue
		case isCondJump(op):
			if err := need(in.dst); err != nil {
				return err
			}
			if op >= opJeqX && op <= opJsleX || op >= opJeq32X && op <= opJsle32X {
				if err := need(in.src); err != nil {
					return err
				}
			}
			push(int(in.off), &s)
		case op == opTrap:
			// A CO-RE-poisoned instruction traps if it runs, so the path
			// never continues past it: every register counts as set (the
			// poisoned load's destination is read next). A program whose
			// poisoned read sits on a path the kernel would prune loads,
			// and one that reaches it traps naming the field.
			s.init = 0xffff
		case op == opCall:
			for r := uint8(0); r <= 5; r++ {
				s.init &^= 1 << r
				s.fp &^= 1 << r
			}
			s.write(0)
		case op == opCallLocal:
			callee := regState{init: s.init&argRegs | 1<<10}
			push(int(in.off), &callee)
			for r := uint8(0); r <= 5; r++ {
				s.init &^= 1 << r
				s.fp &^= 1 << r
			}
			s.write(0)
		case op == opLddw:
			s.write(in.dst)
		case op == opMov64K || op == opMov32K:
			s.write(in.dst)
		case op == opMov64X:
			if err := need(in.src); err != nil {
				return err
			}
			if in.src == 10 || s.fp&(1<<in.src) != 0 {
				off := int16(0)
				if in.src != 10 {
					off = s.off[in.src]
				}
				s.init |= 1 << in.dst
				s.fp |= 1 << in.dst
				s.off[in.dst] = off
			} else {
				s.write(in.dst)
			}
		case op == opMov32X || op == opMovSX8to32 || op == opMovSX16to32 ||
			op == opMovSX8to64 || op == opMovSX16to64 || op == opMovSX32to64:
			if err := need(in.src); err != nil {
				return err
			}
			s.write(in.dst)
		case op == opAdd64K || op == opSub64K:
			if err := need(in.dst); err != nil {
				return err
			}
			if s.fp&(1<<in.dst) != 0 {
				d := int64(int64(in.imm))
				if op == opSub64K {
					d = -d
				}
				if v := int64(s.off[in.dst]) + d; v >= math.MinInt16 && v <= math.MaxInt16 {
					s.off[in.dst] = int16(v)
					break
				}
			}
			s.write(in.dst)
		case op >= opAdd64K && op <= opMovSX16to32 || op >= opZext16 && op <= opBswap64:
			if err := need(in.dst); err != nil {
				return err
			}
			if op >= opAdd64X && op <= opArsh64X || op >= opAdd32X && op <= opArsh32X {
				if err := need(in.src); err != nil {
					return err
				}
			}
			s.write(in.dst)
		case op >= opLdxB && op <= opLdxSW:
			if err := base(in.src, memSize(op)); err != nil {
				return err
			}
			s.write(in.dst)
		case op >= opStB && op <= opStDW:
			if err := base(in.dst, memSize(op)); err != nil {
				return err
			}
		case op >= opStxB && op <= opStxDW:
			if err := base(in.dst, memSize(op)); err != nil {
				return err
			}
			if err := need(in.src); err != nil {
				return err
			}
		case op == opAtomic32 || op == opAtomic64:
			if err := base(in.dst, memSize(op)); err != nil {
				return err
			}
			if err := need(in.src); err != nil {
				return err
			}
			if in.imm == atomicCmpXchg {
				if err := need(0); err != nil {
					return err
				}
				s.write(0)
			} else if in.imm&atomicFetch != 0 {
				s.write(in.src)
			}
		}
		if next < c.n {
			push(next, &s)
		}
	}
	for i := 0; i < c.n; i++ {
		if !c.second[i] && !st[i].seen {
			return c.fail(i, syscall.EINVAL, "unreachable insn %d", i)
		}
	}
	return nil
}
