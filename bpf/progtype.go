package bpf

import (
	"strings"

	"golang.org/x/sys/unix"
)

// Kernel program type and attach type numbers (enum bpf_prog_type,
// enum bpf_attach_type) that `prog show` reports.
const (
	ProgTypeSocketFilter = 1
	ProgTypeTracepoint   = 5
	ProgTypeRawTP        = 17
	ProgTypeTracing      = 26
	ProgTypeSyscall      = 31

	AttachTraceRawTP = 23
	AttachTraceIter  = 28
	// AttachTraceView is the RFC's BPF_TRACE_VIEW. The RFC inserted it in
	// the middle of the enum (an ABI break its review caught); simfs gives
	// it a number past the kernel's last attach type instead.
	AttachTraceView = 0x1000
)

// ProgType is a program type the simulator runs: how a section name selects
// it, what its context is, which helpers it may call, what it may return
// and how BPF_LINK_CREATE attaches it. Packages that implement a type (the
// RFC's bpf_view, the cgroup iterator, tracing) register it with
// [Subsystem.RegisterProgType].
type ProgType struct {
	// Name is the section prefix or name: "view/cgroup", "iter/cgroup",
	// "tp_btf/", "raw_tp/", "syscall".
	Name string
	// Prefix says that Name is a prefix and the rest of the section is the
	// attach target ("tp_btf/sched_stat_wait" → "sched_stat_wait").
	Prefix bool
	// Kind, KernelType and AttachType describe the type for `prog show`.
	Kind       string
	KernelType uint32
	AttachType uint32
	// CheckTarget validates the attach target of a prefixed type.
	CheckTarget func(target string) error
	// CtxSize is the size of the context; programs read it in place.
	CtxSize int
	// Helpers says which helper ids the type may call, beyond none.
	Helpers func(id int32) bool
	// RetMin and RetMax bound the return value (the verifier's
	// check_return_code); a run returning something else fails with
	// EINVAL. RetMax < RetMin means any value.
	RetMin, RetMax int64
	// Sleepable types may be loaded with the sleepable flag.
	Sleepable bool
	// TestRun says BPF_PROG_TEST_RUN works: ctx in, return value and ctx
	// out.
	TestRun bool
	// Attach creates the link that BPF_LINK_CREATE makes for a program of
	// this type; nil means the type cannot be linked (EINVAL).
	Attach func(p *Prog, attr LinkAttr) (LinkOps, error)
}

// RegisterProgType adds a program type. Later registrations win over
// earlier ones with the same name.
func (s *Subsystem) RegisterProgType(t *ProgType) {
	s.typesMu.Lock()
	defer s.typesMu.Unlock()
	s.progTypes = append([]*ProgType{t}, s.progTypes...)
}

// ProgTypes lists the registered program types.
func (s *Subsystem) ProgTypes() []*ProgType {
	s.typesMu.RLock()
	defer s.typesMu.RUnlock()
	return append([]*ProgType(nil), s.progTypes...)
}

// LookupProgType finds the type a section name selects and the attach
// target it names. "iter.s/x" selects "iter/x" sleepable.
func (s *Subsystem) LookupProgType(section string) (t *ProgType, target string, sleepable bool, err error) {
	name := section
	if strings.HasPrefix(name, "iter.s/") {
		name = "iter/" + strings.TrimPrefix(name, "iter.s/")
		sleepable = true
	}
	s.typesMu.RLock()
	defer s.typesMu.RUnlock()
	for _, pt := range s.progTypes {
		switch {
		case !pt.Prefix && pt.Name == name:
			target = name[strings.IndexByte(name, '/')+1:]
		case pt.Prefix && strings.HasPrefix(name, pt.Name) && len(name) > len(pt.Name):
			target = name[len(pt.Name):]
			if pt.CheckTarget != nil {
				if err := pt.CheckTarget(target); err != nil {
					return nil, "", false, err
				}
			}
		default:
			continue
		}
		if sleepable && !pt.Sleepable {
			return nil, "", false, unix.EINVAL
		}
		return pt, target, sleepable, nil
	}
	return nil, "", false, unix.EINVAL
}
