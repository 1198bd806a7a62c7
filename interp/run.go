package interp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/simfs/simfs/interp/bpfasm"
)

// Helper implements a helper function. r1..r5 are the arguments; the return
// value becomes r0. Returning ErrExit (possibly wrapped) ends the program at
// once with r0 set to the return value; any other error ends the run with a
// *RunError wrapping it. c is valid only during the call.
type Helper func(c *Call, r1, r2, r3, r4, r5 uint64) (uint64, error)

// RunOptions configure one run.
type RunOptions struct {
	// Mem holds the long-lived regions the program may address; nil allows
	// only the stack and Ctx.
	Mem *AddressSpace
	// Ctx, when non-nil, is mapped for this run at CtxAddr, writable, and r1
	// starts as CtxAddr. It is aliased, not copied: the program's stores
	// show in the caller's slice. Concurrent runs must not share it.
	Ctx []byte
	// Regs are the initial r1..r5 (Regs[0] is r1, overridden by Ctx).
	Regs [5]uint64
	// Helpers is the helper table, indexed by helper id.
	Helpers []Helper
	// Budget is the most instructions the run may execute; 0 means
	// DefaultBudget. Running out is a *RunError wrapping ErrBudgetExhausted.
	Budget int
	// Value is passed to helpers through Call.Value.
	Value any
	// Trace, when non-nil, is called before each instruction executes. It
	// runs the program one step at a time; untraced runs do not pay for it.
	Trace func(TraceEvent)
}

// TraceEvent describes the instruction about to execute.
type TraceEvent struct {
	PC    int        // raw instruction slot
	Depth int        // bpf-to-bpf call depth; 0 is the program's own frame
	Insn  string     // the instruction in bpfasm syntax
	Regs  [11]uint64 // r0..r10 before the instruction
}

// Result is the outcome of a successful run.
type Result struct {
	R0    uint64
	Steps int // instructions executed
}

const (
	stackSize = FrameSize * MaxCallDepth
	stackTop  = StackAddr + stackSize
)

type frame struct {
	ret   int
	saved [4]uint64 // r6..r9
	fp    uint64
}

// state is one run's machine. States are pooled per Program.
type state struct {
	regs   [16]uint64
	stack  [stackSize]byte
	frames [MaxCallDepth]frame
	depth  int
	dirty  int // frames whose stack bytes the last run may have touched
	pc     int

	// one-entry cache of the last region addressed that is neither the
	// stack nor the ctx
	cid     uint64
	cdata   []byte
	cro     bool
	cregion *region

	ctx     []byte
	mem     *AddressSpace
	helpers []Helper
	call    Call
	prog    *Program

	fault error // the cause of the last failed access
}

// Run executes the program once. opts may be nil.
func (p *Program) Run(opts *RunOptions) (Result, error) {
	if opts == nil {
		opts = &RunOptions{}
	}
	st := p.pool.Get().(*state)
	st.reset(p, opts)
	budget := opts.Budget
	if budget <= 0 {
		budget = DefaultBudget
	}
	var (
		steps int
		done  bool
		err   error
	)
	if opts.Trace == nil {
		steps, done, err = p.exec(st, budget)
	} else {
		steps, done, err = p.traced(st, budget, opts.Trace)
	}
	res := Result{R0: st.regs[0], Steps: steps}
	if err == nil && !done {
		err = p.runError(st.pc, ErrBudgetExhausted)
	}
	st.release()
	p.pool.Put(st)
	if err != nil {
		return Result{Steps: steps}, err
	}
	return res, nil
}

func (st *state) reset(p *Program, o *RunOptions) {
	clear(st.stack[stackSize-FrameSize*(st.dirty+1):])
	st.dirty = 0
	st.regs = [16]uint64{}
	copy(st.regs[1:6], o.Regs[:])
	if o.Ctx != nil {
		st.regs[1] = CtxAddr
	}
	st.regs[10] = stackTop
	st.depth, st.pc = 0, 0
	st.ctx = o.Ctx
	st.mem = o.Mem
	st.helpers = o.Helpers
	st.prog = p
	st.call = Call{st: st, value: o.Value}
	st.cid, st.cdata, st.cro, st.cregion = 0, nil, false, nil
	st.fault = nil
}

// release drops references so pooled states keep nothing alive.
func (st *state) release() {
	st.ctx, st.mem, st.helpers, st.prog = nil, nil, nil, nil
	st.call = Call{}
	st.cdata, st.cregion = nil, nil
	st.fault = nil
}

func (p *Program) runError(pc int, err error) error {
	insn := "?"
	if pc >= 0 && pc < len(p.insns) {
		insn = bpfasm.FormatInsn(p.code, pc)
	}
	return &RunError{PC: pc, Insn: insn, Err: err}
}

// traced runs one instruction at a time and reports each to fn.
func (p *Program) traced(st *state, budget int, fn func(TraceEvent)) (int, bool, error) {
	p.textOnce.Do(func() {
		p.text = make([]string, len(p.insns))
		for i := range p.text {
			p.text[i] = bpfasm.FormatInsn(p.code, i)
		}
	})
	steps := 0
	for steps < budget {
		ev := TraceEvent{PC: st.pc, Depth: st.depth, Insn: p.text[st.pc]}
		copy(ev.Regs[:], st.regs[:11])
		fn(ev)
		n, done, err := p.exec(st, 1)
		steps += n
		if done || err != nil {
			return steps, done, err
		}
	}
	return steps, false, nil
}

// access resolves [a, a+n) for the interpreter's slow path: the ctx, the
// cached region, or a lookup in the address space that refills the cache.
// It returns nil and records st.fault on failure.
func (st *state) access(a uint64, n int, write bool) []byte {
	id := a >> regionShift
	switch id {
	case stackRegion:
		if off, ok := span(a, n, stackSize); ok {
			return st.stack[off : off+uint64(n)]
		}
		st.fault = &MemoryFault{Addr: a, Size: n, Write: write, Reason: "outside the stack"}
		return nil
	case ctxRegion:
		if st.ctx != nil {
			if off, ok := span(a, n, len(st.ctx)); ok {
				return st.ctx[off : off+uint64(n)]
			}
			st.fault = &MemoryFault{Addr: a, Size: n, Write: write,
				Reason: fmt.Sprintf("out of bounds of the %d-byte ctx", len(st.ctx))}
			return nil
		}
	}
	var r *region
	if st.cregion != nil && id == st.cid {
		r = st.cregion
	} else if st.mem != nil {
		r = st.mem.lookup(id)
	}
	b, err := r.slice(a, n, write)
	if err != nil {
		st.fault = err
		return nil
	}
	st.cid, st.cdata, st.cro, st.cregion = id, r.data, r.flags&ReadOnly != 0, r
	return b
}

// load and store are the out-of-line paths of the interpreter's memory
// instructions; the stack and the cached region are handled inline.
func (st *state) load(a uint64, n int) (uint64, bool) {
	b := st.access(a, n, false)
	switch {
	case b == nil:
		return 0, false
	case n == 1:
		return uint64(b[0]), true
	case n == 2:
		return uint64(binary.LittleEndian.Uint16(b)), true
	case n == 4:
		return uint64(binary.LittleEndian.Uint32(b)), true
	}
	return binary.LittleEndian.Uint64(b), true
}

func (st *state) store(a uint64, n int, v uint64) bool {
	b := st.access(a, n, true)
	switch {
	case b == nil:
		return false
	case n == 1:
		b[0] = byte(v)
	case n == 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case n == 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	default:
		binary.LittleEndian.PutUint64(b, v)
	}
	return true
}

// atomic performs an atomic read-modify-write. Accesses to shared regions
// hold the region's lock; the stack and ctx belong to this run.
func (st *state) atomic(a uint64, n int, code uint64, src uint8) bool {
	b := st.access(a, n, true)
	if b == nil {
		return false
	}
	var mu *sync.Mutex
	if id := a >> regionShift; id != stackRegion && id != ctxRegion {
		mu = &st.cregion.amu
		mu.Lock()
		defer mu.Unlock()
	}
	var old uint64
	if n == 4 {
		old = uint64(binary.LittleEndian.Uint32(b))
	} else {
		old = binary.LittleEndian.Uint64(b)
	}
	v := st.regs[src&15]
	var nv uint64
	write := true
	switch code &^ atomicFetch {
	case atomicAdd:
		nv = old + v
	case atomicOr:
		nv = old | v
	case atomicAnd:
		nv = old & v
	case atomicXor:
		nv = old ^ v
	case atomicXchg &^ atomicFetch:
		nv = v
	case atomicCmpXchg &^ atomicFetch:
		r0 := st.regs[0]
		if n == 4 {
			write = uint32(old) == uint32(r0)
		} else {
			write = old == r0
		}
		nv = v
	}
	if write {
		if n == 4 {
			binary.LittleEndian.PutUint32(b, uint32(nv))
		} else {
			binary.LittleEndian.PutUint64(b, nv)
		}
	}
	switch {
	case code == atomicCmpXchg:
		st.regs[0] = old // old is already zero-extended for 32 bits
	case code&atomicFetch != 0:
		st.regs[src&15] = old
	}
	return true
}

// callHelper runs helper id. exit reports an ErrExit request.
func (st *state) callHelper(id uint64, pc int) (exit bool, err error) {
	h := st.helpers
	if id >= uint64(len(h)) || h[id] == nil {
		return false, ErrUnknownHelper
	}
	st.call.pc = pc
	r := &st.regs
	r0, err := h[id](&st.call, r[1], r[2], r[3], r[4], r[5])
	r[0] = r0
	if err != nil {
		if errors.Is(err, ErrExit) {
			return true, nil
		}
		return false, fmt.Errorf("helper %d: %w", id, err)
	}
	return false, nil
}

// callLocal enters a bpf-to-bpf call.
func (st *state) callLocal(ret, target int) bool {
	if st.depth+1 >= MaxCallDepth {
		return false
	}
	f := &st.frames[st.depth]
	f.ret = ret
	f.fp = st.regs[10]
	copy(f.saved[:], st.regs[6:10])
	st.depth++
	if st.depth > st.dirty {
		st.dirty = st.depth
	}
	st.regs[10] -= FrameSize
	return true
}

// ret leaves a bpf-to-bpf call and returns the return address.
func (st *state) ret() int {
	st.depth--
	f := &st.frames[st.depth]
	st.regs[10] = f.fp
	copy(st.regs[6:10], f.saved[:])
	return f.ret
}
