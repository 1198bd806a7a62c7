package bpf

import (
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/interp"
	"golang.org/x/sys/unix"
)

// Subsystem is the BPF state of one simulated machine: object ids, the
// address space programs run in, the one simulated CPU, the registered
// program types and helpers.
type Subsystem struct {
	mem *interp.AddressSpace

	// cpu is the machine's single simulated CPU: programs run one at a
	// time while holding it, and system calls that copy map values hold it
	// too, so program memory is never accessed concurrently.
	cpu sync.Mutex

	progs *idr
	maps  *idr
	links *idr

	bus  *events.Bus
	boot time.Time
	now  func() time.Time

	handlesMu sync.RWMutex
	handles   map[uint64]*Map

	typesMu   sync.RWMutex
	progTypes []*ProgType

	helpers []interp.Helper
	rng     *rand.Rand // under cpu
	// Kernel holds what helpers need from the rest of the machine.
	kernel Kernel
	// vmlinux caches the kernel's BTF for bpf_seq_printf_btf.
	vmlinux vmlinuxBTF
	trace   traceLog
	tps     tracepoints
}

// Kernel is what BPF helpers need from the simulated machine around them.
// A Kernel that also implements KernelLayout gives bpf_seq_printf_btf its
// vmlinux BTF.
type Kernel interface {
	// CurrentTask describes the task a program runs on behalf of (nil when
	// none), as bpf_get_current_pid_tgid and friends see it.
	CurrentTask(task any) (TaskInfo, bool)
}

// TaskInfo is what helpers report about the current task.
type TaskInfo struct {
	Pid, Tgid uint32
	UID, GID  uint32
	Comm      string
	CgroupID  uint64
	// Addr is the task's struct task_struct in program memory (0: none).
	Addr uint64
}

// Config configures a Subsystem.
type Config struct {
	// Bus receives lifecycle events (nil: none).
	Bus *events.Bus
	// Now is the clock (nil: time.Now); bpf_ktime_get_ns counts from the
	// subsystem's creation.
	Now func() time.Time
	// Seed seeds bpf_get_prandom_u32.
	Seed uint64
	// Kernel answers helpers' questions about tasks (nil: no tasks).
	Kernel Kernel
}

// New creates the BPF subsystem of a machine.
func New(cfg Config) *Subsystem {
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	s := &Subsystem{
		mem:     interp.NewAddressSpace(),
		progs:   newIDR(),
		maps:    newIDR(),
		links:   newIDR(),
		bus:     cfg.Bus,
		boot:    now(),
		now:     now,
		handles: make(map[uint64]*Map),
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		kernel:  cfg.Kernel,
	}
	s.helpers = s.baseHelpers()
	s.RegisterProgType(SyscallProgType())
	for _, pt := range s.TracingProgTypes() {
		s.RegisterProgType(pt)
	}
	return s
}

// Memory returns the address space programs run in.
func (s *Subsystem) Memory() *interp.AddressSpace { return s.mem }

// Bus returns the event bus (possibly nil).
func (s *Subsystem) Bus() *events.Bus { return s.bus }

func (s *Subsystem) emit(ev events.Event) { s.bus.Emit(ev) }

// Emit publishes a lifecycle event on the subsystem's bus.
func (s *Subsystem) Emit(ev events.Event) { s.bus.Emit(ev) }

// KtimeNS is bpf_ktime_get_ns: nanoseconds since the machine booted.
func (s *Subsystem) KtimeNS() uint64 { return uint64(s.now().Sub(s.boot)) }

// WithCPU runs fn holding the simulated CPU (for code that reads or writes
// program-visible memory outside a program run).
func (s *Subsystem) WithCPU(fn func()) {
	s.cpu.Lock()
	defer s.cpu.Unlock()
	fn()
}

func (s *Subsystem) ids(t ObjType) *idr {
	switch t {
	case TypeProg:
		return s.progs
	case TypeMap:
		return s.maps
	default:
		return s.links
	}
}

// CreateMap creates a map with one reference, owned by the caller
// (BPF_MAP_CREATE).
func (s *Subsystem) CreateMap(spec MapSpec) (*Map, error) {
	if err := checkSpec(&spec); err != nil {
		return nil, err
	}
	if len(spec.Name) >= 16 { // BPF_OBJ_NAME_LEN
		return nil, unix.EINVAL
	}
	m := &Map{spec: spec, elem: round8(spec.ValueSize)}
	m.objBase = objBase{sys: s, typ: TypeMap, name: spec.Name, release: m.free}
	m.refs.Store(1)
	var err error
	// The map's handle: a small region standing for struct bpf_map.
	if m.handle, err = s.mem.Map(make([]byte, 64), interp.ReadOnly); err != nil {
		return nil, unix.ENOMEM
	}
	if m.isArray() {
		m.arr = make([]byte, uint64(m.elem)*uint64(spec.MaxEntries))
		copy(m.arr, spec.Contents)
		flags := interp.RegionFlags(0)
		if spec.Flags&FlagRdonlyProg != 0 {
			flags = interp.ReadOnly
		}
		if m.arrBase, err = s.mem.Map(m.arr, flags); err != nil {
			s.mem.Unmap(m.handle)
			return nil, unix.ENOMEM
		}
	} else {
		m.hash = make(map[string]*hashElem)
	}
	m.frozen = spec.Frozen
	m.id = s.maps.alloc(m)
	s.handlesMu.Lock()
	s.handles[m.handle] = m
	s.handlesMu.Unlock()
	s.emit(events.Event{Kind: events.MapCreated, ObjType: "map", ObjID: m.id, Name: spec.Name})
	return m, nil
}

// mapByHandle finds the map whose handle a program passed to a helper.
func (s *Subsystem) mapByHandle(addr uint64) *Map {
	s.handlesMu.RLock()
	defer s.handlesMu.RUnlock()
	return s.handles[addr]
}

func (s *Subsystem) dropHandle(m *Map) {
	s.handlesMu.Lock()
	delete(s.handles, m.handle)
	s.handlesMu.Unlock()
}

// ProgByID returns the program with id, with a reference taken
// (BPF_PROG_GET_FD_BY_ID).
func (s *Subsystem) ProgByID(id uint32) (*Prog, error) {
	if o := s.progs.get(id); o != nil {
		return o.(*Prog), nil
	}
	return nil, unix.ENOENT
}

// MapByID returns the map with id, with a reference taken.
func (s *Subsystem) MapByID(id uint32) (*Map, error) {
	if o := s.maps.get(id); o != nil {
		return o.(*Map), nil
	}
	return nil, unix.ENOENT
}

// LinkByID returns the link with id, with a reference taken.
func (s *Subsystem) LinkByID(id uint32) (*Link, error) {
	if o := s.links.get(id); o != nil {
		return o.(*Link), nil
	}
	return nil, unix.ENOENT
}

// NextID is BPF_{PROG,MAP,LINK}_GET_NEXT_ID.
func (s *Subsystem) NextID(t ObjType, id uint32) (uint32, error) {
	if n, ok := s.ids(t).nextID(id); ok {
		return n, nil
	}
	return 0, unix.ENOENT
}

// Objects lists the live objects of type t, by id.
func (s *Subsystem) Objects(t ObjType) []Object { return s.ids(t).list() }

func sortObjects(objs []Object) {
	sort.Slice(objs, func(i, j int) bool { return objs[i].ID() < objs[j].ID() })
}
