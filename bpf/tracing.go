package bpf

import (
	"fmt"
	"sort"
	"sync"

	"golang.org/x/sys/unix"
)

// Tracepoint is a simulated kernel tracepoint that tp_btf and raw_tp
// programs attach to: the simulator fires it with its arguments, and every
// attached program runs with ctx = the arguments as an array of u64
// (BPF_PROG's layout).
type Tracepoint struct {
	// Name is the tracepoint name ("sched_stat_wait").
	Name string
	// Args names the arguments, for documentation and `btf dump`.
	Args []string

	mu    sync.RWMutex
	progs []*Prog
}

type tracepoints struct {
	mu  sync.RWMutex
	tps map[string]*Tracepoint
}

// RegisterTracepoint makes a tracepoint attachable; registering a name
// again returns the existing one.
func (s *Subsystem) RegisterTracepoint(name string, args ...string) *Tracepoint {
	s.tps.mu.Lock()
	defer s.tps.mu.Unlock()
	if s.tps.tps == nil {
		s.tps.tps = make(map[string]*Tracepoint)
	}
	if tp, ok := s.tps.tps[name]; ok {
		return tp
	}
	tp := &Tracepoint{Name: name, Args: args}
	s.tps.tps[name] = tp
	return tp
}

// Tracepoints lists the registered tracepoints by name.
func (s *Subsystem) Tracepoints() []*Tracepoint {
	s.tps.mu.RLock()
	defer s.tps.mu.RUnlock()
	out := make([]*Tracepoint, 0, len(s.tps.tps))
	for _, tp := range s.tps.tps {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (s *Subsystem) tracepoint(name string) (*Tracepoint, bool) {
	s.tps.mu.RLock()
	defer s.tps.mu.RUnlock()
	tp, ok := s.tps.tps[name]
	return tp, ok
}

// Attached reports how many programs are attached.
func (tp *Tracepoint) Attached() int {
	tp.mu.RLock()
	defer tp.mu.RUnlock()
	return len(tp.progs)
}

// Fire runs every attached program with the arguments as its context, on
// behalf of task. Errors of individual runs are returned joined but do not
// stop the others (a faulting tracing program in the kernel cannot happen;
// here it is reported).
func (tp *Tracepoint) Fire(task any, args ...uint64) error {
	tp.mu.RLock()
	progs := append([]*Prog(nil), tp.progs...)
	tp.mu.RUnlock()
	if len(progs) == 0 {
		return nil
	}
	var firstErr error
	ctx := make([]byte, 8*len(args))
	for _, p := range progs {
		for i, a := range args {
			putU64(ctx[8*i:], a)
		}
		if _, err := p.Run(&RunContext{Ctx: ctx, Task: task}); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func putU64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

type tracingLink struct {
	tp   *Tracepoint
	prog *Prog
	kind string
}

func (l *tracingLink) LinkType() string { return l.kind }

func (l *tracingLink) Release() {
	l.tp.mu.Lock()
	defer l.tp.mu.Unlock()
	for i, p := range l.tp.progs {
		if p == l.prog {
			l.tp.progs = append(l.tp.progs[:i:i], l.tp.progs[i+1:]...)
			return
		}
	}
}

func (l *tracingLink) Info() [][2]string {
	return [][2]string{{"tp_name", l.tp.Name}}
}

// TracingProgTypes are tp_btf/<tracepoint> (BPF_PROG_TYPE_TRACING with
// BPF_TRACE_RAW_TP) and raw_tp/<tracepoint> (BPF_PROG_TYPE_RAW_TRACEPOINT):
// both read the tracepoint's arguments as u64s from ctx and attach with
// BPF_LINK_CREATE (or BPF_RAW_TRACEPOINT_OPEN).
func (s *Subsystem) TracingProgTypes() []*ProgType {
	mk := func(name, kind string, ktype, atype uint32) *ProgType {
		pt := &ProgType{
			Name: name, Prefix: true, Kind: kind, KernelType: ktype, AttachType: atype,
			CtxSize: 8 * 12,
			Helpers: TracingHelpers(),
			RetMin:  1, RetMax: 0,
			CheckTarget: func(target string) error {
				if _, ok := s.tracepoint(target); !ok {
					return fmt.Errorf("no tracepoint %q: %w", target, unix.ESRCH)
				}
				return nil
			},
		}
		pt.Attach = func(p *Prog, attr LinkAttr) (LinkOps, error) {
			tp, ok := s.tracepoint(p.Target())
			if !ok {
				return nil, unix.ENOENT
			}
			tp.mu.Lock()
			tp.progs = append(tp.progs, p)
			tp.mu.Unlock()
			return &tracingLink{tp: tp, prog: p, kind: kind}, nil
		}
		return pt
	}
	return []*ProgType{
		mk("tp_btf/", "tracing", ProgTypeTracing, AttachTraceRawTP),
		mk("raw_tp/", "raw_tracepoint", ProgTypeRawTP, 0),
		mk("raw_tracepoint/", "raw_tracepoint", ProgTypeRawTP, 0),
	}
}
