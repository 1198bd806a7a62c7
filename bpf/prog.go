package bpf

import (
	"crypto/sha1"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/interp"
	"golang.org/x/sys/unix"
)

// ProgSpec is what BPF_PROG_LOAD gets: the program, its type (by section
// name), its license and how its map references resolve.
type ProgSpec struct {
	// Section selects the program type: "view/cgroup", "iter/cgroup",
	// "iter.s/cgroup", "tp_btf/sched_stat_wait", "syscall", ...
	Section string
	Name    string
	License string
	// Insns or Raw is the program.
	Insns asm.Instructions
	Raw   []byte
	// ResolveMap returns the map an lddw with a map pseudo source refers
	// to (src 1 or 5: the map itself; src 2 or 6: a value in it). The
	// syscall layer looks fds up; the ELF loader looks names up. The
	// returned map gets a reference from the program (bpf_prog_aux
	// used_maps).
	ResolveMap func(slot int, ins asm.Instruction) (*Map, error)
	// Poisoned maps instruction indexes that CO-RE could not relocate to a
	// description naming the field, so a run that reaches one says which.
	Poisoned map[int]string
}

// The lddw pseudo sources cilium/ebpf has no names for.
const (
	pseudoMapIdx      asm.Register = 5
	pseudoMapIdxValue asm.Register = 6
)

// ENOTSUPP is the kernel-internal errno 524 that BPF_PROG_TEST_RUN leaks to
// user space for program types without a test runner.
const ENOTSUPP = unix.Errno(524)

// Prog is a loaded program.
type Prog struct {
	objBase
	ptype     *ProgType
	target    string
	sleepable bool
	code      *interp.Program
	maps      []*Map
	license   string
	gpl       bool
	tag       [8]byte
	loaded    time.Time
	poisoned  map[int]string
}

// Type returns the program's type.
func (p *Prog) Type() *ProgType { return p.ptype }

// Target returns the attach target named by the section ("cgroup",
// "sched_stat_wait").
func (p *Prog) Target() string { return p.target }

// Sleepable reports whether the program was loaded sleepable.
func (p *Prog) Sleepable() bool { return p.sleepable }

// Tag returns the program tag (the first 8 bytes of a SHA-1 of the code,
// as the kernel computes it over the instructions with map fds cleared).
func (p *Prog) Tag() [8]byte { return p.tag }

// License returns the license string.
func (p *Prog) License() string { return p.license }

// LoadTime returns when the program was loaded.
func (p *Prog) LoadTime() time.Time { return p.loaded }

// Maps returns the maps the program uses.
func (p *Prog) Maps() []*Map { return append([]*Map(nil), p.maps...) }

// Len returns the number of instruction slots.
func (p *Prog) Len() int { return p.code.Len() }

// Code returns the interpreter program.
func (p *Prog) Code() *interp.Program { return p.code }

// gplCompatible is license_is_gpl_compatible.
func gplCompatible(l string) bool {
	switch l {
	case "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL":
		return true
	}
	return false
}

// LoadError is a failed BPF_PROG_LOAD: the errno and the verifier log.
type LoadError struct {
	Errno unix.Errno
	Log   string
}

func (e *LoadError) Error() string {
	msg := strings.TrimSpace(e.Log)
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	if msg == "" {
		return e.Errno.Error()
	}
	return e.Errno.Error() + ": " + msg
}

// Unwrap returns the errno.
func (e *LoadError) Unwrap() error { return e.Errno }

func loadErr(errno unix.Errno, format string, args ...any) *LoadError {
	return &LoadError{Errno: errno, Log: fmt.Sprintf(format, args...)}
}

// LoadProg checks and loads a program (BPF_PROG_LOAD) with one reference,
// owned by the caller. It returns the verifier log too.
func (s *Subsystem) LoadProg(spec ProgSpec) (*Prog, string, error) {
	pt, target, sleepable, err := s.LookupProgType(spec.Section)
	if err != nil {
		return nil, "", loadErr(unix.EINVAL, "unknown program type or attach target %q", spec.Section)
	}
	if len(spec.Name) >= 16 {
		return nil, "", loadErr(unix.EINVAL, "program name %q longer than 15 bytes", spec.Name)
	}
	p := &Prog{ptype: pt, target: target, sleepable: sleepable, license: spec.License, gpl: gplCompatible(spec.License), loaded: s.now(), poisoned: spec.Poisoned}
	p.objBase = objBase{sys: s, typ: TypeProg, name: spec.Name, release: p.free}
	used := map[*Map]bool{}
	var resolveErr *LoadError
	opts := interp.Options{
		Profile: interp.Linux,
		AllowedHelpers: func(id int32) bool {
			if !pt.Helpers(id) {
				return false
			}
			if gplOnly(id) && !p.gpl {
				if resolveErr == nil {
					resolveErr = loadErr(unix.EINVAL, "cannot call GPL-restricted function from non-GPL compatible program")
				}
				return false
			}
			return true
		},
		ResolveImm64: func(slot int, ins asm.Instruction) (uint64, error) {
			if spec.ResolveMap == nil {
				return 0, fmt.Errorf("no maps to resolve lddw src=%d: %w", ins.Src, unix.EBADF)
			}
			m, err := spec.ResolveMap(slot, ins)
			if err != nil {
				return 0, err
			}
			if !used[m] {
				used[m] = true
				m.Get()
				p.maps = append(p.maps, m)
			}
			switch ins.Src {
			case asm.PseudoMapFD, pseudoMapIdx:
				return m.Handle(), nil
			case asm.PseudoMapValue, pseudoMapIdxValue:
				return m.ValueAddr(uint32(uint64(ins.Constant) >> 32))
			}
			return 0, fmt.Errorf("lddw src=%d: %w", ins.Src, unix.EINVAL)
		},
	}
	var code *interp.Program
	if spec.Insns != nil {
		code, err = interp.Load(spec.Insns, opts)
	} else {
		code, err = interp.LoadRaw(spec.Raw, opts)
	}
	if err != nil {
		for _, m := range p.maps {
			m.Put()
		}
		if resolveErr != nil {
			return nil, resolveErr.Log, resolveErr
		}
		var le *interp.LoadError
		if errors.As(err, &le) {
			return nil, le.Error(), &LoadError{Errno: le.Errno, Log: le.Error()}
		}
		return nil, err.Error(), &LoadError{Errno: unix.EINVAL, Log: err.Error()}
	}
	p.code = code
	p.tag = progTag(code.Bytecode())
	p.refs.Store(1)
	p.id = s.progs.alloc(p)
	s.emit(events.Event{Kind: events.ProgLoaded, ObjType: "prog", ObjID: p.id, Name: spec.Section})
	return p, fmt.Sprintf("processed %d insns\n", code.Len()), nil
}

// progTag is bpf_prog_calc_tag: SHA-1 over the instructions with the
// imm of map-fd lddw cleared, first 8 bytes.
func progTag(code []byte) [8]byte {
	c := append([]byte(nil), code...)
	for i := 0; i+16 <= len(c); i += 8 {
		if c[i] == 0x18 && c[i+1]>>4 != 0 {
			clear(c[i+4 : i+8])
			clear(c[i+12 : i+16])
			i += 8
		}
	}
	sum := sha1.Sum(c)
	var t [8]byte
	copy(t[:], sum[:8])
	return t
}

func (p *Prog) free() {
	// p.maps stays: Maps() may still be asked about a freed program
	// (`show` racing with an exit), and the slice is never written again.
	for _, m := range p.maps {
		m.Put()
	}
}

// RunContext is one run's environment.
type RunContext struct {
	// Ctx is the context the program gets in r1, in place.
	Ctx []byte
	// Seq is where bpf_seq_printf and bpf_seq_write write; SeqAddr is the
	// struct seq_file address the program was given for it.
	Seq     SeqWriter
	SeqAddr uint64
	// Task is the task the program runs on behalf of (see Kernel).
	Task any
	// Budget is the instruction budget (0: the interpreter's default).
	Budget int
	// Trace observes each instruction (teaching).
	Trace func(interp.TraceEvent)

	prog *Prog
}

// RunError is a run that did not end with a return value: a memory fault,
// an exhausted budget, a poisoned CO-RE instruction, a return value the
// program type forbids.
type RunError struct {
	Prog string
	Err  error
}

func (e *RunError) Error() string { return "bpf program " + e.Prog + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *RunError) Unwrap() error { return e.Err }

// Run runs the program once on the simulated CPU.
func (p *Prog) Run(rc *RunContext) (uint64, error) {
	s := p.sys
	rc.prog = p
	s.cpu.Lock()
	res, err := p.code.Run(&interp.RunOptions{
		Mem:     s.mem,
		Ctx:     rc.Ctx,
		Helpers: s.helpers,
		Budget:  rc.Budget,
		Value:   rc,
		Trace:   rc.Trace,
	})
	s.cpu.Unlock()
	if err != nil {
		if errors.Is(err, interp.ErrCORERelocation) && len(p.poisoned) > 0 {
			var re *interp.RunError
			if errors.As(err, &re) {
				if msg, ok := p.poisoned[re.PC]; ok {
					err = fmt.Errorf("%w: %s", err, msg)
				}
			}
		}
		return 0, &RunError{Prog: p.displayName(), Err: err}
	}
	r0 := res.R0
	if pt := p.ptype; pt.RetMax >= pt.RetMin && (int64(r0) < pt.RetMin || int64(r0) > pt.RetMax) {
		return r0, &RunError{Prog: p.displayName(), Err: fmt.Errorf("returned %d, outside [%d, %d]: %w", int64(r0), pt.RetMin, pt.RetMax, unix.EINVAL)}
	}
	return r0, nil
}

func (p *Prog) displayName() string {
	if p.name != "" {
		return p.name
	}
	return fmt.Sprintf("id %d", p.id)
}

// TestRun is BPF_PROG_TEST_RUN for program types that support it: the
// program runs repeat times (at least once) on a copy of ctxIn; it returns
// the last return value, the context after the run and the mean duration.
func (p *Prog) TestRun(ctxIn []byte, repeat int) (retval uint64, ctxOut []byte, dur time.Duration, err error) {
	if !p.ptype.TestRun {
		return 0, nil, 0, ENOTSUPP
	}
	if p.ptype.CtxSize > 0 && len(ctxIn) > p.ptype.CtxSize {
		return 0, nil, 0, unix.EINVAL
	}
	if repeat < 1 {
		repeat = 1
	}
	var total time.Duration
	for i := 0; i < repeat; i++ {
		ctx := append([]byte(nil), ctxIn...)
		start := time.Now()
		retval, err = p.Run(&RunContext{Ctx: ctx})
		total += time.Since(start)
		if err != nil {
			return 0, nil, 0, err
		}
		ctxOut = ctx
	}
	return retval, ctxOut, total / time.Duration(repeat), nil
}
