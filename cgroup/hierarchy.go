package cgroup

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// SuperMagic is CGROUP2_SUPER_MAGIC, what statfs reports.
const SuperMagic = 0x63677270

// maxSubsys is CGROUP_SUBSYS_COUNT's bound: masks are 16 bits.
const maxSubsys = 16

// Subsys describes a controller the kernel knows on cgroup v2 (compiled in
// and having v2 files, or implicit). One bound to the hierarchy shows in
// cgroup.controllers, can be enabled in cgroup.subtree_control, gets a css
// in the cgroups it is enabled for (counted in cgroup.stat) and brings the
// no-internal-process and threaded rules with it; of the controllers only
// hugetlb (by Name) has interface files and state. One bound to a v1
// hierarchy (V1) is only a name cgroup.subtree_control recognizes:
// enabling it is ENOENT, disabling it a no-op.
type Subsys struct {
	// Name is the controller's v2 name ("memory", "io", "pids", ...).
	Name string
	// Implicit is implicit_on_dfl (perf_event): enabled everywhere,
	// never listed in cgroup.controllers, cannot be enabled with "+".
	Implicit bool
	// Threaded is a controller that works in threaded subtrees (cpu,
	// cpuset, perf_event, pids).
	Threaded bool
	// V1 means the controller is bound to a v1 hierarchy, not this one.
	V1 bool
}

// DefaultSubsystems returns the controllers of the machine simfs was
// checked against (Linux 6.18), in the kernel's subsystem id order:
// cpuset, cpu, io, memory and pids are mounted as v1 hierarchies (cpuacct,
// devices, freezer, net_cls and net_prio have no v2 files, so v2 never
// names them), which leaves perf_event (implicit) and hugetlb on v2.
func DefaultSubsystems() []Subsys {
	return []Subsys{
		{Name: "cpuset", Threaded: true, V1: true},
		{Name: "cpu", Threaded: true, V1: true},
		{Name: "io", V1: true},
		{Name: "memory", V1: true},
		{Name: "perf_event", Implicit: true, Threaded: true},
		{Name: "hugetlb"},
		{Name: "pids", Threaded: true, V1: true},
	}
}

// Options configure a hierarchy.
type Options struct {
	// Subsystems are the controllers bound to the hierarchy, in
	// subsystem id order (at most 16). Nil means DefaultSubsystems();
	// an empty non-nil slice means none.
	Subsystems []Subsys
	// NoPSI leaves out the pressure files and cgroup.pressure (a kernel
	// without CONFIG_PSI, or booted with psi=0).
	NoPSI bool
	// IRQPressure adds irq.pressure (CONFIG_IRQ_TIME_ACCOUNTING, absent
	// on the reference machine).
	IRQPressure bool
	// CapSysResource reports whether an opener has CAP_SYS_RESOURCE,
	// which lets PSI triggers use windows that are not a multiple of 2 s.
	// Nil means uid 0 has it.
	CapSysResource func(c *vfs.Caller) bool
	// FirstPid is the first pid Spawn hands out (default 1000).
	FirstPid int
	// HugePageSizes are the huge page sizes in bytes (the hstates), in
	// the kernel's hstate order, which is the order their hugetlb files
	// are created in. Each is a power of two of at least 16 KiB
	// (HUGETLB_CGROUP_MIN_ORDER). Nil means DefaultHugePageSizes(); an
	// empty non-nil slice means none (no hugetlb files).
	HugePageSizes []uint64
	// MemoryNodes are the NUMA nodes with memory (N_MEMORY), which
	// hugetlb's numa_stat lists. Nil means node 0 only.
	MemoryNodes []int
}

// Hierarchy is the cgroup v2 hierarchy (cgrp_dfl_root) on its kernfs root.
type Hierarchy struct {
	v    *vfs.VFS
	kr   *kernfs.Root
	ss   []Subsys
	opts Options
	cfts []*cftype   // the interface files, shared by every cgroup
	ops  *kernfs.Ops // cgroup_kf_ops

	ssCfts  [maxSubsys][]*cftype  // each subsystem's interface files
	ssAlloc [maxSubsys]func() any // each subsystem's css_alloc, or nil
	hstates []hstate              // the huge page sizes, in hstate order
	nodes   []int                 // NUMA nodes with memory

	rootMask     uint16 // every subsystem bound to this hierarchy (root->subsys_mask)
	implicitMask uint16 // cgrp_dfl_implicit_ss_mask
	threadedMask uint16 // cgrp_dfl_threaded_ss_mask

	// mu is cgroup_mutex and css_set_lock in one: the cgroup tree, task
	// membership and every counter.
	mu      sync.RWMutex
	root    *Cgroup
	byID    map[uint64]*Cgroup // cgroups not yet released
	tasks   map[int]*Task
	nextPid int
	serial  uint64

	hookMu sync.Mutex
	hooks  []*hook
}

type hook struct{ fn func(Change) }

// New creates a hierarchy in v with its root cgroup (id 1) and the root's
// interface files. Mount it with [Hierarchy.Mount].
func New(v *vfs.VFS, opts Options) (*Hierarchy, error) {
	ss := opts.Subsystems
	if ss == nil {
		ss = DefaultSubsystems()
	}
	if len(ss) > maxSubsys {
		return nil, fmt.Errorf("cgroup: %d subsystems, at most %d: %w", len(ss), maxSubsys, unix.EINVAL)
	}
	h := &Hierarchy{v: v, ss: ss, opts: opts, byID: make(map[uint64]*Cgroup), tasks: make(map[int]*Task)}
	if err := h.initHugetlb(); err != nil {
		return nil, err
	}
	h.cfts = h.cftypes()
	h.ops = h.kfOps()
	h.nextPid = opts.FirstPid
	if h.nextPid <= 0 {
		h.nextPid = 1000
	}
	seen := make(map[string]bool)
	for i, s := range ss {
		if s.Name == "" || strings.ContainsAny(s.Name, " \n+-") || seen[s.Name] {
			return nil, fmt.Errorf("cgroup: bad subsystem name %q: %w", s.Name, unix.EINVAL)
		}
		seen[s.Name] = true
		if s.V1 {
			continue
		}
		h.ssCfts[i], h.ssAlloc[i] = h.ssFiles(i, s)
		h.rootMask |= 1 << i
		if s.Implicit {
			h.implicitMask |= 1 << i
		}
		if s.Threaded {
			h.threadedMask |= 1 << i
		}
	}
	root := &Cgroup{h: h, maxDescendants: maxInt, maxDepth: maxInt, psiEnabled: true, refs: 1}
	root.dom = root
	root.css = h.rootMask
	root.subtreeSSMask = h.rootMask & h.implicitMask
	h.root = root
	h.kr = kernfs.NewRoot(v, kernfs.RootOptions{
		Flags: kernfs.CreateDeactivated | kernfs.SupportUserXattr,
		Magic: SuperMagic,
		Priv:  root,
		Ops: kernfs.SyscallOps{
			Mkdir: h.kfMkdir,
			Rmdir: h.kfRmdir,
		},
	})
	root.kn = h.kr.Node()
	t := v.Begin()
	h.mu.Lock()
	err := h.populate(t, root, 0, 0)
	for i := range h.ss {
		if err != nil || root.css&(1<<i) == 0 {
			continue
		}
		if alloc := h.ssAlloc[i]; alloc != nil {
			root.cssPriv[i] = alloc()
		}
		if h.cssVisible(root, i) {
			err = h.populateCSS(t, root, i, 0, 0)
		}
	}
	if err == nil {
		h.kr.Activate(t, root.kn)
		h.byID[root.kn.ID()] = root
	}
	h.mu.Unlock()
	t.End()
	if err != nil {
		return nil, err
	}
	return h, nil
}

// VFS returns the namespace the hierarchy lives in.
func (h *Hierarchy) VFS() *vfs.VFS { return h.v }

// Kernfs returns the hierarchy's kernfs root.
func (h *Hierarchy) Kernfs() *kernfs.Root { return h.kr }

// Superblock returns the superblock to mount.
func (h *Hierarchy) Superblock() *vfs.Superblock { return h.kr.Superblock() }

// Mount mounts the hierarchy on the directory at path
// (mount -t cgroup2 none path).
func (h *Hierarchy) Mount(c *vfs.Caller, path string) error {
	return h.v.Mount(c, path, h.kr.Superblock())
}

// Subsystems returns the controllers the hierarchy knows.
func (h *Hierarchy) Subsystems() []Subsys { return append([]Subsys(nil), h.ss...) }

// Root returns the root cgroup.
func (h *Hierarchy) Root() *Cgroup { return h.root }

// ByID returns the live cgroup with id (cgroup_get_from_id without the
// reference): ENOENT if there is none or it is being removed.
func (h *Hierarchy) ByID(id uint64) (*Cgroup, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	cg := h.byID[id]
	if cg == nil || cg.dead {
		return nil, unix.ENOENT
	}
	return cg, nil
}

// Lookup returns the live cgroup at path, relative to the hierarchy's root
// ("/" or "" is the root cgroup): ENOENT if it does not exist, ENOTDIR if a
// component is a file.
func (h *Hierarchy) Lookup(path string) (*Cgroup, error) {
	n := h.kr.Node()
	for _, comp := range strings.Split(path, "/") {
		switch comp {
		case "", ".":
			continue
		case "..":
			if p := n.Parent(); p != nil {
				n = p
			}
			continue
		}
		if !n.IsDir() {
			return nil, unix.ENOTDIR
		}
		c := n.Child(comp)
		if c == nil {
			return nil, unix.ENOENT
		}
		n = c
	}
	if !n.IsDir() {
		return nil, unix.ENOTDIR
	}
	cg, ok := n.Priv().(*Cgroup)
	if !ok || cg.h != h {
		return nil, unix.ENOENT
	}
	h.mu.RLock()
	dead := cg.dead
	h.mu.RUnlock()
	if dead {
		return nil, unix.ENOENT
	}
	return cg, nil
}

// CgroupOf returns the cgroup whose directory in is (cgroup_get_from_file
// for an fd of a cgroup directory), or nil.
func (h *Hierarchy) CgroupOf(in *vfs.Inode) *Cgroup {
	n := kernfs.NodeOf(in)
	if n == nil || !n.IsDir() || n.Root() != h.kr {
		return nil
	}
	cg, _ := n.Priv().(*Cgroup)
	return cg
}

// Mkdir is mkdir(2) of name in parent's directory on behalf of c.
func (h *Hierarchy) Mkdir(c *vfs.Caller, parent *Cgroup, name string, mode uint32) (*Cgroup, error) {
	in, err := h.v.MkdirChild(c, parent.kn.Inode(), name, mode)
	if err != nil {
		return nil, err
	}
	return h.CgroupOf(in), nil
}

// Rmdir is rmdir(2) of cg's directory on behalf of c.
func (h *Hierarchy) Rmdir(c *vfs.Caller, cg *Cgroup) error {
	if cg.parent == nil {
		return unix.EBUSY
	}
	return h.v.RmdirChild(c, cg.parent.kn.Inode(), cg.kn.Name())
}

// ChangeKind says what a [Change] reports.
type ChangeKind string

// The change kinds; the names match the events package's.
const (
	CgroupCreated  ChangeKind = "cgroup_mkdir"
	CgroupRemoved  ChangeKind = "cgroup_rmdir"   // rmdir: the cgroup is dead (dying until released)
	CgroupReleased ChangeKind = "cgroup_release" // its last reference went (no longer dying)
	TaskSpawned    ChangeKind = "task_spawn"
	TaskMoved      ChangeKind = "task_move"
	TaskExited     ChangeKind = "task_exit"
)

// Change is one lifecycle change of the hierarchy. ID and Path are taken
// when it happens; From is the source cgroup of a move.
type Change struct {
	Kind   ChangeKind
	Cgroup *Cgroup
	ID     uint64
	Path   string
	From   *Cgroup
	Task   *Task
	Pid    int
}

// AddHook registers fn to hear every change and returns a function that
// unregisters it. Changes are delivered in order, after the VFS lock and
// the hierarchy's lock are released, before the operation that caused
// them returns; fn may call back into the hierarchy and the VFS.
func (h *Hierarchy) AddHook(fn func(Change)) (remove func()) {
	hk := &hook{fn: fn}
	h.hookMu.Lock()
	h.hooks = append(h.hooks, hk)
	h.hookMu.Unlock()
	return func() {
		h.hookMu.Lock()
		defer h.hookMu.Unlock()
		for i, x := range h.hooks {
			if x == hk {
				h.hooks = append(h.hooks[:i:i], h.hooks[i+1:]...)
				return
			}
		}
	}
}

// emit queues ch for delivery when t ends. Caller holds h.mu.
func (h *Hierarchy) emit(t *vfs.Txn, ch Change) {
	if ch.Cgroup != nil {
		ch.ID = ch.Cgroup.kn.ID()
		ch.Path = ch.Cgroup.kn.Path()
	}
	if ch.Task != nil {
		ch.Pid = ch.Task.pid
	}
	t.Defer(func() {
		h.hookMu.Lock()
		hooks := h.hooks
		h.hookMu.Unlock()
		for _, hk := range hooks {
			hk.fn(ch)
		}
	})
}

// notifyEvents is cgroup_file_notify(&cgrp->events_file). Caller holds
// h.mu inside t.
func (h *Hierarchy) notifyEvents(t *vfs.Txn, cg *Cgroup) {
	if cg.eventsFile != nil {
		h.kr.Notify(t, cg.eventsFile)
	}
}

func (h *Hierarchy) now() time.Time { return h.v.Now() }

// update runs fn with the VFS lock and the hierarchy's lock held.
func (h *Hierarchy) update(fn func(t *vfs.Txn) error) error {
	t := h.v.Begin()
	h.mu.Lock()
	err := fn(t)
	h.mu.Unlock()
	t.End()
	return err
}

func (h *Hierarchy) capSysResource(c *vfs.Caller) bool {
	if h.opts.CapSysResource != nil {
		return h.opts.CapSysResource(c)
	}
	return c.Cred.UID == 0
}
