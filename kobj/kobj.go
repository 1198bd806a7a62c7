// Package kobj places the simulated kernel's objects — struct cgroup with
// its kernfs_node, task_struct with its task_group and css_set, seq_file,
// bpf_iter_meta — in the BPF address space, laid out as the machine's
// vmlinux.Layout says, so that programs read them with plain loads
// (`cgrp->kn->id`, `task->sched_task_group->css.cgroup`, `ctx->meta->seq_num`).
//
// It stands for the memory of those kernel structures, nothing more: the
// kernel's own code keeps them current as a side effect of everything it
// does; here the fields BPF programs can observe are written when an object
// is first needed (a cgroup or task is materialized lazily, the first time a
// program is given a pointer to it) and kept current on the changes that
// alter them (a task moving between cgroups, a cgroup's descendant counts).
//
// # Reference model
//
// Objects hold no references on cgroups or tasks: a cgroup's memory is
// unmapped when the hierarchy releases it (CgroupReleased, after every
// reader of its files has drained), a task's when it exits. Unmapping is
// RCU-like in the interpreter: a run already using the memory finishes.
//
// # Locking
//
// Objects.mu guards the maps from cgroups and tasks to their memory. Bytes
// of regions already visible to programs change only under the BPF
// subsystem's CPU lock. Lock order: hierarchy hooks → Objects.mu → CPU.
//
// # Left out
//
// Fields programs cannot reach through the modelled pointers, css of
// controllers (subsys[] stay NULL), cgroup->flags, RCU-protected fields'
// intermediate states.
package kobj

import (
	"fmt"
	"sync"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/interp"
	"github.com/simfs/simfs/vmlinux"
)

// Objects is one machine's kernel objects in BPF memory.
type Objects struct {
	sys    *bpf.Subsystem
	mem    *interp.AddressSpace
	layout *vmlinux.Layout

	cgroupS, knS, cssSetS, tgS, taskS, seqS, metaS *vmlinux.Struct

	mu      sync.Mutex
	cgroups map[*cgroup.Cgroup]*cgObj
	tasks   map[*cgroup.Task]*taskObj
}

type cgObj struct {
	addr    uint64 // struct cgroup
	buf     []byte
	kn      uint64
	knBuf   []byte
	name    uint64
	tg      uint64 // struct task_group for tasks in this cgroup
	cset    uint64 // struct css_set whose dfl_cgrp is this cgroup
	regions []uint64
}

type taskObj struct {
	addr uint64
	buf  []byte
}

// New creates the kernel objects of a machine whose BPF subsystem is sys,
// laid out as layout, for the cgroups of h (nil: no cgroups).
func New(sys *bpf.Subsystem, layout *vmlinux.Layout, h *cgroup.Hierarchy) (*Objects, error) {
	o := &Objects{sys: sys, mem: sys.Memory(), layout: layout, cgroups: make(map[*cgroup.Cgroup]*cgObj), tasks: make(map[*cgroup.Task]*taskObj)}
	for _, s := range []struct {
		dst  **vmlinux.Struct
		name string
	}{{&o.cgroupS, "cgroup"}, {&o.knS, "kernfs_node"}, {&o.cssSetS, "css_set"}, {&o.tgS, "task_group"}, {&o.taskS, "task_struct"}, {&o.seqS, "seq_file"}, {&o.metaS, "bpf_iter_meta"}} {
		st, err := layout.Struct(s.name)
		if err != nil {
			return nil, err
		}
		*s.dst = st
	}
	if h != nil {
		h.AddHook(o.onChange)
	}
	return o, nil
}

// Layout returns the layout objects are encoded with.
func (o *Objects) Layout() *vmlinux.Layout { return o.layout }

func (o *Objects) onChange(ch cgroup.Change) {
	switch ch.Kind {
	case cgroup.CgroupReleased:
		o.mu.Lock()
		obj, ok := o.cgroups[ch.Cgroup]
		delete(o.cgroups, ch.Cgroup)
		o.mu.Unlock()
		if ok {
			for _, r := range obj.regions {
				o.mem.Unmap(r)
			}
		}
	case cgroup.TaskExited:
		o.mu.Lock()
		obj, ok := o.tasks[ch.Task]
		delete(o.tasks, ch.Task)
		o.mu.Unlock()
		if ok {
			o.mem.Unmap(obj.addr)
		}
	case cgroup.TaskMoved:
		o.mu.Lock()
		defer o.mu.Unlock()
		obj, ok := o.tasks[ch.Task]
		if !ok {
			return
		}
		cg, err := o.cgroupLocked(ch.Task.Cgroup())
		if err != nil {
			return
		}
		o.sys.WithCPU(func() {
			o.taskS.PutU64(obj.buf, "sched_task_group", cg.tg)
			o.taskS.PutU64(obj.buf, "cgroups", cg.cset)
		})
	case cgroup.CgroupCreated, cgroup.CgroupRemoved:
		// nr_descendants and nr_dying_descendants of the ancestors.
		o.mu.Lock()
		defer o.mu.Unlock()
		for a := ch.Cgroup.Parent(); a != nil; a = a.Parent() {
			obj, ok := o.cgroups[a]
			if !ok {
				continue
			}
			o.sys.WithCPU(func() {
				o.cgroupS.PutU32(obj.buf, "nr_descendants", uint32(a.NrDescendants()))
				o.cgroupS.PutU32(obj.buf, "nr_dying_descendants", uint32(a.NrDyingDescendants()))
			})
		}
	}
}

func (o *Objects) mapRegion(obj *cgObj, b []byte) (uint64, error) {
	addr, err := o.mem.Map(b, 0)
	if err != nil {
		return 0, err
	}
	obj.regions = append(obj.regions, addr)
	return addr, nil
}

// Cgroup returns the address of cg's struct cgroup, materializing it (and
// its ancestors) on first use.
func (o *Objects) Cgroup(cg *cgroup.Cgroup) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	obj, err := o.cgroupLocked(cg)
	if err != nil {
		return 0, err
	}
	return obj.addr, nil
}

func (o *Objects) cgroupLocked(cg *cgroup.Cgroup) (*cgObj, error) {
	if obj, ok := o.cgroups[cg]; ok {
		return obj, nil
	}
	if cg.Released() {
		return nil, fmt.Errorf("kobj: cgroup %d already released", cg.ID())
	}
	var parent *cgObj
	if p := cg.Parent(); p != nil {
		var err error
		if parent, err = o.cgroupLocked(p); err != nil {
			return nil, err
		}
	}
	level := cg.Level()
	obj := &cgObj{}
	buf, err := o.cgroupS.NewFlex(level + 1)
	if err != nil {
		return nil, err
	}
	obj.buf = buf
	fail := func(err error) (*cgObj, error) {
		for _, r := range obj.regions {
			o.mem.Unmap(r)
		}
		return nil, err
	}
	if obj.addr, err = o.mapRegion(obj, buf); err != nil {
		return fail(err)
	}
	name := append([]byte(cg.Name()), 0)
	if cg.Parent() == nil {
		name = []byte("/\x00") // kernfs names the root "/"
	}
	if obj.name, err = o.mapRegion(obj, name); err != nil {
		return fail(err)
	}
	obj.knBuf = o.knS.New()
	if obj.kn, err = o.mapRegion(obj, obj.knBuf); err != nil {
		return fail(err)
	}
	tg := o.tgS.New()
	if obj.tg, err = o.mapRegion(obj, tg); err != nil {
		return fail(err)
	}
	cset := o.cssSetS.New()
	if obj.cset, err = o.mapRegion(obj, cset); err != nil {
		return fail(err)
	}
	self, err := o.layout.Offset("cgroup", "self")
	if err != nil {
		return fail(err)
	}
	puts := []fieldPut{
		{o.knS, obj.knBuf, "id", cg.ID(), 8},
		{o.knS, obj.knBuf, "name", obj.name, 8},
		{o.knS, obj.knBuf, "priv", obj.addr, 8},
		{o.knS, obj.knBuf, "mode", 0o40755, 2},
		{o.knS, obj.knBuf, "count.counter", 1, 4},
		{o.cgroupS, buf, "self.cgroup", obj.addr, 8},
		{o.cgroupS, buf, "self.serial_nr", cg.Serial(), 8},
		{o.cgroupS, buf, "kn", obj.kn, 8},
		{o.cgroupS, buf, "level", uint64(level), 4},
		{o.cgroupS, buf, "max_depth", 1<<31 - 1, 4},
		{o.cgroupS, buf, "max_descendants", 1<<31 - 1, 4},
		{o.cgroupS, buf, "nr_descendants", uint64(cg.NrDescendants()), 4},
		{o.cgroupS, buf, "nr_dying_descendants", uint64(cg.NrDyingDescendants()), 4},
		{o.cgroupS, buf, "dom_cgrp", obj.addr, 8},
		{o.tgS, tg, "css.cgroup", obj.addr, 8},
		{o.cssSetS, cset, "dfl_cgrp", obj.addr, 8},
	}
	if parent != nil {
		puts = append(puts,
			fieldPut{o.knS, obj.knBuf, "parent", parent.kn, 8},
			fieldPut{o.cgroupS, buf, "self.parent", parent.addr + uint64(self), 8},
			fieldPut{o.tgS, tg, "parent", parent.tg, 8},
		)
	}
	for _, p := range puts {
		if err := p.do(); err != nil {
			return fail(err)
		}
	}
	// ancestors[i] is the ancestor at level i; ancestors[level] is cg.
	anc := cg
	for i := level; i >= 0; i-- {
		a, err := o.ancestorAddr(anc, obj, cg)
		if err != nil {
			return fail(err)
		}
		if err := o.cgroupS.PutU64(buf, fmt.Sprintf("ancestors[%d]", i), a); err != nil {
			return fail(err)
		}
		anc = anc.Parent()
	}
	o.cgroups[cg] = obj
	return obj, nil
}

func (o *Objects) ancestorAddr(anc *cgroup.Cgroup, self *cgObj, cg *cgroup.Cgroup) (uint64, error) {
	if anc == cg {
		return self.addr, nil
	}
	obj, ok := o.cgroups[anc]
	if !ok {
		return 0, fmt.Errorf("kobj: ancestor %d not materialized", anc.ID())
	}
	return obj.addr, nil
}

// Task returns the address of tk's struct task_struct, materializing it on
// first use.
func (o *Objects) Task(tk *cgroup.Task) (uint64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if obj, ok := o.tasks[tk]; ok {
		return obj.addr, nil
	}
	if tk.Exited() {
		return 0, fmt.Errorf("kobj: task %d exited", tk.Pid())
	}
	cg, err := o.cgroupLocked(tk.Cgroup())
	if err != nil {
		return 0, err
	}
	buf := o.taskS.New()
	for _, p := range []fieldPut{
		{o.taskS, buf, "pid", uint64(tk.Pid()), 4}, {o.taskS, buf, "tgid", uint64(tk.Pid()), 4},
		{o.taskS, buf, "prio", 120, 4}, {o.taskS, buf, "sched_task_group", cg.tg, 8}, {o.taskS, buf, "cgroups", cg.cset, 8},
	} {
		if err := p.do(); err != nil {
			return 0, err
		}
	}
	o.taskS.PutString(buf, "comm", fmt.Sprintf("task%d", tk.Pid()))
	addr, err := o.mem.Map(buf, 0)
	if err != nil {
		return 0, err
	}
	o.tasks[tk] = &taskObj{addr: addr, buf: buf}
	return addr, nil
}

// Region is a short-lived kernel object (a seq_file, an iterator's meta):
// its address and bytes, unmapped by Free.
type Region struct {
	o    *Objects
	s    *vmlinux.Struct
	Addr uint64
	Buf  []byte
}

// Free unmaps the object.
func (r *Region) Free() { r.o.mem.Unmap(r.Addr) }

// Put sets an integer field; the caller holds the CPU lock if a program may
// be running with the object.
func (r *Region) Put(path string, v uint64) error {
	f, err := r.s.Field(path)
	if err != nil {
		return err
	}
	switch f.Size {
	case 8:
		return f.PutU64(r.Buf, v)
	case 4:
		return f.PutU32(r.Buf, uint32(v))
	case 2:
		return f.PutU16(r.Buf, uint16(v))
	default:
		return f.PutU8(r.Buf, uint8(v))
	}
}

func (o *Objects) newRegion(s *vmlinux.Struct) (*Region, error) {
	buf := s.New()
	addr, err := o.mem.Map(buf, 0)
	if err != nil {
		return nil, err
	}
	return &Region{o: o, s: s, Addr: addr, Buf: buf}, nil
}

// NewSeqFile makes a struct seq_file for one read (its size field says the
// buffer size the run gets).
func (o *Objects) NewSeqFile(size int) (*Region, error) {
	r, err := o.newRegion(o.seqS)
	if err != nil {
		return nil, err
	}
	r.Put("size", uint64(size))
	return r, nil
}

// NewIterMeta makes a struct bpf_iter_meta for an iterator session.
func (o *Objects) NewIterMeta(seq uint64, sessionID uint64) (*Region, error) {
	r, err := o.newRegion(o.metaS)
	if err != nil {
		return nil, err
	}
	if err := r.Put("seq", seq); err != nil {
		r.Free()
		return nil, err
	}
	r.Put("session_id", sessionID)
	return r, nil
}

// fieldPut is one integer field to store in a struct's bytes.
type fieldPut struct {
	s    *vmlinux.Struct
	buf  []byte
	path string
	v    uint64
	size int
}

func (p fieldPut) do() error {
	var err error
	switch p.size {
	case 8:
		err = p.s.PutU64(p.buf, p.path, p.v)
	case 4:
		err = p.s.PutU32(p.buf, p.path, uint32(p.v))
	case 2:
		err = p.s.PutU16(p.buf, p.path, uint16(p.v))
	default:
		err = p.s.PutU8(p.buf, p.path, uint8(p.v))
	}
	if err != nil {
		return fmt.Errorf("kobj: %s.%s: %w", p.s.Name(), p.path, err)
	}
	return nil
}
