package interp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/cilium/ebpf/asm"

	"github.com/simfs/simfs/interp/bpfasm"
)

// Profile selects which load-time checks apply. Both run the same engine.
type Profile uint8

const (
	// ISA is RFC 9669 exactly, as the bpf_conformance suite expects:
	// constant shift amounts are masked, division by a constant zero gives
	// zero, callx is a helper call through a register.
	ISA Profile = iota
	// Linux adds the Linux verifier's load-time rejections that matter for
	// simulated program types: "invalid shift", "div by zero", reads of
	// uninitialised registers ("R0 !read_ok" at exit), unreachable
	// instructions, jumps between subprograms, recursion and call chains
	// deeper than MaxCallDepth, misaligned or out-of-frame stack accesses
	// through r10 or registers copied from it; callx is an unknown opcode.
	Linux
)

func (p Profile) String() string {
	switch p {
	case ISA:
		return "isa"
	case Linux:
		return "linux"
	}
	return fmt.Sprintf("Profile(%d)", uint8(p))
}

// Limits.
const (
	// MaxInsns is the most instruction slots a program may have (the
	// kernel's BPF_COMPLEXITY_LIMIT_INSNS).
	MaxInsns = 1_000_000
	// FrameSize is the stack each frame gets (MAX_BPF_STACK).
	FrameSize = 512
	// MaxCallDepth is the most frames a run may have (MAX_CALL_FRAMES).
	MaxCallDepth = 8
	// DefaultBudget is the default number of instructions a run may execute.
	DefaultBudget = 1_000_000
	// CORESentinel is the helper id (and lddw value) that CO-RE relocation
	// writes into instructions it could not relocate
	// (btf.COREBadRelocationSentinel). Such instructions load and trap with
	// ErrCORERelocation if executed.
	CORESentinel = 0xbad2310
)

// Options configure Load.
type Options struct {
	Profile Profile
	// MaxInsns lowers the instruction limit; 0 (or more than MaxInsns)
	// means MaxInsns.
	MaxInsns int
	// AllowedHelpers reports whether the program may call helper id; nil
	// allows none. It is consulted at load time for "call id" and at run
	// time for callx.
	AllowedHelpers func(id int32) bool
	// ResolveImm64 gives the value of an lddw whose src_reg is a pseudo
	// source (1..6: map by fd, map value, BTF variable, code address, map by
	// index, map value by index). slot is the raw instruction slot; ins is
	// the instruction as cilium/ebpf decodes it (ins.Src is the pseudo
	// source, ins.Constant holds imm | next_imm<<32, and when the program
	// came from Load, ins.Reference() names the ELF symbol). It typically
	// returns an address in the caller's AddressSpace. nil rejects such
	// instructions.
	ResolveImm64 func(slot int, ins asm.Instruction) (uint64, error)
}

// Program is a loaded, checked and pre-decoded program. It is immutable and
// may be run from many goroutines at once.
type Program struct {
	insns   []insn
	code    []byte
	profile Profile
	allowed func(int32) bool

	pool sync.Pool // *state

	textOnce sync.Once
	text     []string
}

// Len returns the number of raw instruction slots.
func (p *Program) Len() int { return len(p.insns) }

// Profile returns the profile the program was checked under.
func (p *Program) Profile() Profile { return p.profile }

// Bytecode returns a copy of the program's raw bytecode.
func (p *Program) Bytecode() []byte { return bytes.Clone(p.code) }

// LoadRaw checks and prepares raw little-endian bytecode.
func LoadRaw(code []byte, opts Options) (*Program, error) {
	return load(bytes.Clone(code), nil, opts)
}

// Load checks and prepares a cilium/ebpf instruction stream, for example
// a ProgramSpec's Instructions after CO-RE relocation. bpf-to-bpf calls and
// jumps given by symbol reference are resolved as cilium/ebpf's Marshal does;
// the caller's slice is not modified.
func Load(insns asm.Instructions, opts Options) (*Program, error) {
	cp := slices.Clone(insns)
	var buf bytes.Buffer
	if err := cp.Marshal(&buf, binary.LittleEndian); err != nil {
		msg := "cannot encode instructions: " + err.Error()
		return nil, &LoadError{Index: -1, Msg: msg, Log: msg + "\n", Errno: syscall.EINVAL}
	}
	return load(buf.Bytes(), insns, opts)
}

type compiler struct {
	code   []byte
	n      int
	opts   Options
	out    []insn
	second []bool // slot is the second half of an lddw
	orig   []*asm.Instruction
	rd     bytes.Reader
}

func load(code []byte, orig asm.Instructions, opts Options) (*Program, error) {
	limit := opts.MaxInsns
	if limit <= 0 || limit > MaxInsns {
		limit = MaxInsns
	}
	whole := func(errno syscall.Errno, format string, args ...any) error {
		msg := fmt.Sprintf(format, args...)
		return &LoadError{Index: -1, Msg: msg, Log: msg + "\n", Errno: errno}
	}
	if len(code)%asm.InstructionSize != 0 {
		return nil, whole(syscall.EINVAL, "program length %d is not a multiple of 8", len(code))
	}
	n := len(code) / asm.InstructionSize
	if n == 0 {
		return nil, whole(syscall.E2BIG, "empty program")
	}
	if n > limit {
		return nil, whole(syscall.E2BIG, "program of %d instructions is larger than %d", n, limit)
	}
	c := &compiler{code: code, n: n, opts: opts, out: make([]insn, n), second: make([]bool, n)}
	if orig != nil {
		c.orig = make([]*asm.Instruction, n)
		for it := orig.Iterate(); it.Next(); {
			if int(it.Offset) < n {
				c.orig[it.Offset] = it.Ins
			}
		}
	}
	if err := c.compile(); err != nil {
		return nil, err
	}
	p := &Program{insns: c.out, code: code, profile: opts.Profile, allowed: opts.AllowedHelpers}
	p.pool.New = func() any { return new(state) }
	return p, nil
}

// fail builds a LoadError with a verifier-style log.
func (c *compiler) fail(i int, errno syscall.Errno, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	var log strings.Builder
	from := max(0, i-32)
	if from > 0 {
		fmt.Fprintf(&log, "... %d instructions before\n", from)
	}
	for j := from; j <= i && j < c.n; j++ {
		if j > 0 && c.second[j] {
			continue
		}
		fmt.Fprintf(&log, "%d: (%02x) %s\n", j, c.code[j*8], bpfasm.FormatInsn(c.code, j))
	}
	fmt.Fprintf(&log, "%d: %s\n", i, msg)
	return &LoadError{Index: i, Msg: msg, Log: log.String(), Errno: errno}
}

func (c *compiler) compile() error {
	for i := 0; i < c.n; {
		w, err := c.slot(i)
		if err != nil {
			return err
		}
		i += w
	}
	// Jump targets: inside the program, not into the middle of an lddw.
	last := 0
	for i := 0; i < c.n; i++ {
		if c.second[i] {
			continue
		}
		last = i
		in := &c.out[i]
		switch in.op {
		case opCallLocal, opJa,
			opJeqK, opJgtK, opJgeK, opJsetK, opJneK, opJsgtK, opJsgeK, opJltK, opJleK, opJsltK, opJsleK,
			opJeqX, opJgtX, opJgeX, opJsetX, opJneX, opJsgtX, opJsgeX, opJltX, opJleX, opJsltX, opJsleX,
			opJeq32K, opJgt32K, opJge32K, opJset32K, opJne32K, opJsgt32K, opJsge32K, opJlt32K, opJle32K, opJslt32K, opJsle32K,
			opJeq32X, opJgt32X, opJge32X, opJset32X, opJne32X, opJsgt32X, opJsge32X, opJlt32X, opJle32X, opJslt32X, opJsle32X:
			t := int(in.off)
			if t < 0 || t >= c.n {
				return c.fail(i, syscall.EINVAL, "jump out of range from insn %d to %d", i, t)
			}
			if c.second[t] {
				return c.fail(i, syscall.EINVAL, "jump into the middle of ldimm64 insn %d", t-1)
			}
		}
	}
	switch c.out[last].op {
	case opExit, opJa:
	default:
		return c.fail(last, syscall.EINVAL, "last insn is not an exit or jmp")
	}
	if c.opts.Profile == Linux {
		return c.verify()
	}
	return nil
}

// fields of a raw slot.
type rawInsn struct {
	op       uint8
	dst, src uint8
	off      int16
	imm      int32
}

func (c *compiler) raw(i int) rawInsn {
	b := c.code[i*8 : i*8+8]
	return rawInsn{op: b[0], dst: b[1] & 0xf, src: b[1] >> 4,
		off: int16(binary.LittleEndian.Uint16(b[2:])), imm: int32(binary.LittleEndian.Uint32(b[4:]))}
}

// unused reports the first of the named fields that is not zero.
func (r rawInsn) unused(fields string) string {
	for _, f := range strings.Split(fields, ",") {
		switch {
		case f == "dst" && r.dst != 0:
			return fmt.Sprintf("dst_reg=%d", r.dst)
		case f == "src" && r.src != 0:
			return fmt.Sprintf("src_reg=%d", r.src)
		case f == "off" && r.off != 0:
			return fmt.Sprintf("offset=%d", r.off)
		case f == "imm" && r.imm != 0:
			return fmt.Sprintf("imm=%d", r.imm)
		}
	}
	return ""
}

// slot validates and translates the instruction at slot i and returns its
// width in slots.
func (c *compiler) slot(i int) (int, error) {
	r := c.raw(i)
	class := r.op & 7
	unknown := func() (int, error) {
		return 0, c.fail(i, syscall.EINVAL, "unknown opcode %02x", r.op)
	}
	reserved := func(what, fields string) (int, error) {
		if u := r.unused(fields); u != "" {
			return 0, c.fail(i, syscall.EINVAL, "%s uses reserved fields: %s must be 0", what, u)
		}
		return 0, nil
	}
	checkReg := func(name string, v uint8) error {
		if v > 10 {
			return c.fail(i, syscall.EINVAL, "R%d is invalid (%s_reg)", v, name)
		}
		return nil
	}
	// Field validation on the raw bytes (asm does not reject non-zero
	// unused fields).
	width := 1
	switch class {
	case 0x04, 0x07: // ALU, ALU64
		code, x := r.op>>4, r.op&0x08 != 0
		switch {
		case code >= 0xe:
			return unknown()
		case code == 0x8: // neg: K only
			if x {
				return unknown()
			}
			if _, err := reserved("BPF_NEG", "src,off,imm"); err != nil {
				return 0, err
			}
		case code == 0xd: // end / bswap
			if class == 0x07 && x {
				return unknown()
			}
			if _, err := reserved("BPF_END", "src,off"); err != nil {
				return 0, err
			}
			if r.imm != 16 && r.imm != 32 && r.imm != 64 {
				return 0, c.fail(i, syscall.EINVAL, "BPF_END uses reserved fields: imm=%d must be 16, 32 or 64", r.imm)
			}
		default:
			okOff := r.off == 0 ||
				((code == 0x3 || code == 0x9) && r.off == 1) ||
				(code == 0xb && x && (r.off == 8 || r.off == 16 || (r.off == 32 && class == 0x07)))
			if !okOff {
				return 0, c.fail(i, syscall.EINVAL, "BPF_ALU uses reserved fields: offset=%d must be 0", r.off)
			}
			fields := "src"
			if x {
				fields = "imm"
			}
			if _, err := reserved("BPF_ALU", fields); err != nil {
				return 0, err
			}
			if x {
				if err := checkReg("src", r.src); err != nil {
					return 0, err
				}
			}
		}
		if err := checkReg("dst", r.dst); err != nil {
			return 0, err
		}
	case 0x05, 0x06: // JMP, JMP32
		code, x := r.op>>4, r.op&0x08 != 0
		switch {
		case code >= 0xe:
			return unknown()
		case code == 0x0: // ja / ja32
			if x {
				return unknown()
			}
			fields := "dst,src,imm"
			if class == 0x06 {
				fields = "dst,src,off"
			}
			if _, err := reserved("BPF_JA", fields); err != nil {
				return 0, err
			}
		case code == 0x8: // call
			if class == 0x06 {
				return unknown()
			}
			if x { // callx: register in dst
				if c.opts.Profile == Linux {
					return unknown()
				}
				if _, err := reserved("BPF_CALLX", "src,off,imm"); err != nil {
					return 0, err
				}
				if err := checkReg("dst", r.dst); err != nil {
					return 0, err
				}
			} else {
				if _, err := reserved("BPF_CALL", "dst,off"); err != nil {
					return 0, err
				}
				switch r.src {
				case 0, 1:
				case 2:
					return 0, c.fail(i, syscall.EINVAL, "kfunc calls (call by BTF id %d) are not supported", r.imm)
				default:
					return 0, c.fail(i, syscall.EINVAL, "BPF_CALL uses reserved fields: src_reg=%d", r.src)
				}
			}
		case code == 0x9: // exit
			if class == 0x06 || x {
				return unknown()
			}
			if _, err := reserved("BPF_EXIT", "dst,src,off,imm"); err != nil {
				return 0, err
			}
		default: // conditional
			fields := "src"
			if x {
				fields = "imm"
			}
			if _, err := reserved("BPF_JMP/JMP32", fields); err != nil {
				return 0, err
			}
			if err := checkReg("dst", r.dst); err != nil {
				return 0, err
			}
			if x {
				if err := checkReg("src", r.src); err != nil {
					return 0, err
				}
			}
		}
	case 0x00: // LD
		switch r.op {
		case 0x18:
		case 0x20, 0x28, 0x30, 0x38, 0x40, 0x48, 0x50, 0x58:
			return 0, c.fail(i, syscall.EINVAL, "legacy BPF_LD_ABS/BPF_LD_IND (packet access) is not supported")
		default:
			return unknown()
		}
		if r.src > 6 {
			return 0, c.fail(i, syscall.EINVAL, "invalid BPF_LD_IMM insn: src_reg=%d", r.src)
		}
		if _, err := reserved("BPF_LD_IMM", "off"); err != nil {
			return 0, err
		}
		if err := checkReg("dst", r.dst); err != nil {
			return 0, err
		}
		if i+1 >= c.n {
			return 0, c.fail(i, syscall.EINVAL, "invalid BPF_LD_IMM insn: missing second half")
		}
		if r2 := c.raw(i + 1); r2.op != 0 || r2.dst != 0 || r2.src != 0 || r2.off != 0 {
			return 0, c.fail(i+1, syscall.EINVAL, "invalid BPF_LD_IMM insn: second half has non-zero fields")
		}
		width = 2
	case 0x01: // LDX
		mode, size := r.op&0xe0, r.op&0x18
		if !(mode == 0x60 || (mode == 0x80 && size != 0x18)) {
			return unknown()
		}
		if _, err := reserved("BPF_LDX", "imm"); err != nil {
			return 0, err
		}
		if err := checkReg("dst", r.dst); err != nil {
			return 0, err
		}
		if err := checkReg("src", r.src); err != nil {
			return 0, err
		}
	case 0x02: // ST
		if r.op&0xe0 != 0x60 {
			return unknown()
		}
		if _, err := reserved("BPF_ST", "src"); err != nil {
			return 0, err
		}
		if err := checkReg("dst", r.dst); err != nil {
			return 0, err
		}
	case 0x03: // STX
		switch r.op {
		case 0x63, 0x6b, 0x73, 0x7b:
			if _, err := reserved("BPF_STX", "imm"); err != nil {
				return 0, err
			}
		case 0xc3, 0xdb:
			switch r.imm {
			case atomicAdd, atomicOr, atomicAnd, atomicXor,
				atomicAdd | atomicFetch, atomicOr | atomicFetch, atomicAnd | atomicFetch, atomicXor | atomicFetch,
				atomicXchg, atomicCmpXchg:
			default:
				return 0, c.fail(i, syscall.EINVAL, "BPF_ATOMIC uses invalid atomic opcode %#02x", r.imm)
			}
		default:
			return unknown()
		}
		if err := checkReg("dst", r.dst); err != nil {
			return 0, err
		}
		if err := checkReg("src", r.src); err != nil {
			return 0, err
		}
	}

	// Decode with cilium/ebpf/asm, then translate.
	var ins asm.Instruction
	end := min(len(c.code), (i+width)*8)
	c.rd.Reset(c.code[i*8 : end])
	if err := ins.Unmarshal(&c.rd, binary.LittleEndian, "linux"); err != nil {
		return 0, c.fail(i, syscall.EINVAL, "cannot decode: %v", err)
	}
	if width == 2 {
		c.second[i+1] = true
	}
	return width, c.translate(i, r, &ins)
}

// writesReg rejects writes to r10.
func (c *compiler) writesReg(i int, reg uint8) error {
	if reg == 10 {
		return c.fail(i, syscall.EACCES, "frame pointer is read only")
	}
	return nil
}

// stackAccess checks a direct r10-relative access.
func (c *compiler) stackAccess(i int, base uint8, off int16, size int) error {
	if base != 10 {
		return nil
	}
	return c.frameAccess(i, int64(off), size)
}

func (c *compiler) frameAccess(i int, off int64, size int) error {
	if off < -FrameSize || off+int64(size) > 0 {
		return c.fail(i, syscall.EACCES, "invalid stack access off=%d size=%d: outside the %d-byte frame [-%d, 0)", off, size, FrameSize, FrameSize)
	}
	if c.opts.Profile == Linux && off%int64(size) != 0 {
		return c.fail(i, syscall.EACCES, "misaligned stack access off=%d size=%d", off, size)
	}
	return nil
}

// aluBase is the ALU operation's index in each block of internal opcodes.
func aluBase(op asm.ALUOp) (uint8, bool) {
	switch op {
	case asm.Add:
		return 0, true
	case asm.Sub:
		return 1, true
	case asm.Mul:
		return 2, true
	case asm.Div:
		return 3, true
	case asm.SDiv:
		return 4, true
	case asm.Or:
		return 5, true
	case asm.And:
		return 6, true
	case asm.LSh:
		return 7, true
	case asm.RSh:
		return 8, true
	case asm.Mod:
		return 9, true
	case asm.SMod:
		return 10, true
	case asm.Xor:
		return 11, true
	case asm.Mov:
		return 12, true
	case asm.ArSh:
		return 13, true
	}
	return 0, false
}

// jmpBase is the condition's index in each block of internal jump opcodes.
func jmpBase(op asm.JumpOp) (uint8, bool) {
	switch op {
	case asm.JEq:
		return 0, true
	case asm.JGT:
		return 1, true
	case asm.JGE:
		return 2, true
	case asm.JSet:
		return 3, true
	case asm.JNE:
		return 4, true
	case asm.JSGT:
		return 5, true
	case asm.JSGE:
		return 6, true
	case asm.JLT:
		return 7, true
	case asm.JLE:
		return 8, true
	case asm.JSLT:
		return 9, true
	case asm.JSLE:
		return 10, true
	}
	return 0, false
}

// swapOp translates BPF_END by width: bswap (or to-BE on this
// little-endian ISA) reverses bytes; to-LE only truncates.
func swapOp(width int32, reverse bool) uint8 {
	switch {
	case width == 16 && reverse:
		return opBswap16
	case width == 32 && reverse:
		return opBswap32
	case width == 64 && reverse:
		return opBswap64
	case width == 16:
		return opZext16
	case width == 32:
		return opZext32
	}
	return opNop
}

// target computes slot+1+rel, or -1 when it does not fit an int32.
func target(slot int, rel int64) int32 {
	t := int64(slot) + 1 + rel
	if t < 0 || t > math.MaxInt32 {
		return -1
	}
	return int32(t)
}

func (c *compiler) translate(i int, r rawInsn, ins *asm.Instruction) error {
	out := &c.out[i]
	out.dst, out.src = r.dst, r.src
	op := ins.OpCode
	cls := op.Class()
	linux := c.opts.Profile == Linux
	switch {
	case cls.IsALU():
		alu64 := cls == asm.ALU64Class
		if err := c.writesReg(i, r.dst); err != nil {
			return err
		}
		aop := op.ALUOp()
		switch aop {
		case asm.Swap:
			// ALU64 END is an unconditional bswap; ALU END converts to
			// big-endian (a swap) or little-endian (a truncation).
			out.op = swapOp(r.imm, alu64 || op.Endianness() == asm.BE)
			return nil
		case asm.Neg:
			out.op = opNeg32
			if alu64 {
				out.op = opNeg64
			}
			return nil
		case asm.MovSX8, asm.MovSX16, asm.MovSX32:
			switch {
			case alu64 && aop == asm.MovSX8:
				out.op = opMovSX8to64
			case alu64 && aop == asm.MovSX16:
				out.op = opMovSX16to64
			case alu64:
				out.op = opMovSX32to64
			case aop == asm.MovSX8:
				out.op = opMovSX8to32
			default:
				out.op = opMovSX16to32
			}
			return nil
		}
		base, ok := aluBase(aop)
		if !ok {
			return c.fail(i, syscall.EINVAL, "unknown ALU operation %v", aop)
		}
		x := op.Source() == asm.RegSource
		switch {
		case alu64 && !x:
			out.op = opAdd64K + base
			out.imm = uint64(int64(r.imm))
		case alu64:
			out.op = opAdd64X + base
		case !x:
			out.op = opAdd32K + base
			out.imm = uint64(uint32(r.imm))
		default:
			out.op = opAdd32X + base
		}
		if x {
			return nil
		}
		switch aop {
		case asm.LSh, asm.RSh, asm.ArSh:
			bits := uint64(32)
			if alu64 {
				bits = 64
			}
			if uint64(uint32(r.imm)) >= bits {
				if linux {
					return c.fail(i, syscall.EINVAL, "invalid shift %d", r.imm)
				}
			}
			out.imm = uint64(uint32(r.imm)) & (bits - 1)
		case asm.Div, asm.SDiv, asm.Mod, asm.SMod:
			if r.imm != 0 {
				break
			}
			if linux {
				return c.fail(i, syscall.EINVAL, "div by zero")
			}
			// RFC 9669: x / 0 = 0; x % 0 = x (ALU64) or zero-extended x (ALU).
			switch {
			case aop == asm.Div || aop == asm.SDiv:
				out.op, out.imm = opMov64K, 0
			case alu64:
				out.op = opNop
			default:
				out.op, out.src = opMov32X, r.dst
			}
		}
		return nil

	case cls.IsJump():
		jop := op.JumpOp()
		switch jop {
		case asm.Exit:
			out.op = opExit
			return nil
		case asm.Ja:
			out.op = opJa
			if cls == asm.Jump32Class {
				out.off = target(i, int64(r.imm))
			} else {
				out.off = target(i, int64(r.off))
			}
			return nil
		case asm.Call:
			switch {
			case op.Source() == asm.RegSource:
				out.op = opCallX
			case r.src == 1:
				out.op = opCallLocal
				out.off = target(i, int64(r.imm))
			case r.imm == CORESentinel:
				out.op = opTrap
			default:
				id := r.imm
				if c.opts.AllowedHelpers == nil || !c.opts.AllowedHelpers(id) {
					return c.fail(i, syscall.EINVAL, "program may not call helper %d", id)
				}
				out.op = opCall
				out.imm = uint64(uint32(id))
			}
			return nil
		}
		base, ok := jmpBase(jop)
		if !ok {
			return c.fail(i, syscall.EINVAL, "unknown jump operation %v", jop)
		}
		x := op.Source() == asm.RegSource
		switch {
		case cls == asm.JumpClass && !x:
			out.op = opJeqK + base
			out.imm = uint64(int64(r.imm))
		case cls == asm.JumpClass:
			out.op = opJeqX + base
		case !x:
			out.op = opJeq32K + base
			out.imm = uint64(uint32(r.imm))
		default:
			out.op = opJeq32X + base
		}
		out.off = target(i, int64(r.off))
		return nil

	case cls == asm.LdClass: // lddw
		if r.dst == 10 && r.src == 0 && uint64(ins.Constant) == CORESentinel {
			out.op = opTrap // poisoned lddw
			return nil
		}
		if err := c.writesReg(i, r.dst); err != nil {
			return err
		}
		out.op = opLddw
		out.imm = uint64(ins.Constant)
		if r.src != 0 {
			if c.opts.ResolveImm64 == nil {
				return c.fail(i, syscall.EINVAL, "lddw with pseudo source %d is not supported here", r.src)
			}
			arg := *ins
			if c.orig != nil && c.orig[i] != nil {
				arg = *c.orig[i]
			}
			v, err := c.opts.ResolveImm64(i, arg)
			if err != nil {
				return c.fail(i, syscall.EINVAL, "lddw with pseudo source %d: %v", r.src, err)
			}
			out.imm = v
		}
		return nil

	case cls == asm.LdXClass:
		if err := c.writesReg(i, r.dst); err != nil {
			return err
		}
		size := op.Size().Sizeof()
		if err := c.stackAccess(i, r.src, r.off, size); err != nil {
			return err
		}
		out.off = int32(r.off)
		sx := op.Mode() == asm.MemSXMode
		switch op.Size() {
		case asm.Byte:
			out.op = opLdxB
			if sx {
				out.op = opLdxSB
			}
		case asm.Half:
			out.op = opLdxH
			if sx {
				out.op = opLdxSH
			}
		case asm.Word:
			out.op = opLdxW
			if sx {
				out.op = opLdxSW
			}
		default:
			out.op = opLdxDW
		}
		return nil

	case cls == asm.StClass, cls == asm.StXClass:
		size := op.Size().Sizeof()
		if err := c.stackAccess(i, r.dst, r.off, size); err != nil {
			return err
		}
		out.off = int32(r.off)
		if op.Mode() == asm.AtomicMode {
			if r.imm&atomicFetch != 0 {
				if err := c.writesReg(i, r.src); err != nil {
					return err
				}
			}
			out.op = opAtomic64
			if op.Size() == asm.Word {
				out.op = opAtomic32
			}
			out.imm = uint64(uint32(r.imm))
			return nil
		}
		st := cls == asm.StClass
		if st {
			out.imm = uint64(int64(r.imm))
		}
		switch op.Size() {
		case asm.Byte:
			out.op = pick(st, opStB, opStxB)
		case asm.Half:
			out.op = pick(st, opStH, opStxH)
		case asm.Word:
			out.op = pick(st, opStW, opStxW)
		default:
			out.op = pick(st, opStDW, opStxDW)
		}
		return nil
	}
	return c.fail(i, syscall.EINVAL, "unknown opcode %02x", r.op)
}

func pick(cond bool, a, b uint8) uint8 {
	if cond {
		return a
	}
	return b
}
