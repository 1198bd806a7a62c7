package bpf

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/vfs"
)

// ObjType is enum bpf_type of kernel/bpf/inode.c: what a bpffs inode pins.
type ObjType int

// The object types.
const (
	TypeUnspec ObjType = iota
	TypeProg
	TypeMap
	TypeLink
)

func (t ObjType) String() string {
	switch t {
	case TypeProg:
		return "prog"
	case TypeMap:
		return "map"
	case TypeLink:
		return "link"
	}
	return fmt.Sprintf("bpf_type(%d)", int(t))
}

// Object is a program, map or link: something an fd, a bpffs pin or a link
// holds a reference on.
type Object interface {
	// ObjType says which kind of object this is.
	ObjType() ObjType
	// ID is the object's id (bpf_prog_get_next_id & co.).
	ID() uint32
	// Get takes a reference (bpf_prog_inc, bpf_map_inc_with_uref,
	// bpf_link_inc).
	Get()
	// Put drops a reference; the object is freed when the last one goes.
	Put()
	// Refs returns the current reference count (for tests and `show`).
	Refs() int64
	// BackingInode is the RFC's back pointer (patch 2): the first bpffs
	// inode that pinned the object, or nil.
	BackingInode() *vfs.Inode
	// CondSetBackingInode sets the back pointer to new if it is old
	// (cond_set_backing_inode).
	CondSetBackingInode(old, new *vfs.Inode)
	// Freed reports whether the last reference is gone.
	Freed() bool

	base() *objBase
}

// objBase is what every object embeds: its id, its reference count, the
// back pointer, and how it is freed.
type objBase struct {
	sys     *Subsystem
	typ     ObjType
	id      uint32
	name    string
	refs    atomic.Int64
	backing atomic.Pointer[vfs.Inode]
	freed   atomic.Bool
	release func() // frees what the object owns; runs once
}

func (o *objBase) base() *objBase   { return o }
func (o *objBase) ObjType() ObjType { return o.typ }
func (o *objBase) ID() uint32       { return o.id }
func (o *objBase) Refs() int64      { return o.refs.Load() }
func (o *objBase) Freed() bool      { return o.freed.Load() }

// Name returns the object's name (BPF_OBJ_NAME_LEN-limited).
func (o *objBase) Name() string { return o.name }

func (o *objBase) BackingInode() *vfs.Inode { return o.backing.Load() }

func (o *objBase) CondSetBackingInode(old, new *vfs.Inode) {
	o.backing.CompareAndSwap(old, new)
}

// Get takes a reference. Taking one on a freed object is a bug in the
// caller (the kernel would touch freed memory): it panics.
func (o *objBase) Get() {
	if o.refs.Add(1) <= 1 {
		panic(fmt.Sprintf("bpf: reference taken on freed %s %d", o.typ, o.id))
	}
}

// Put drops a reference and frees the object on the last one.
func (o *objBase) Put() {
	n := o.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic(fmt.Sprintf("bpf: %s %d reference count below zero", o.typ, o.id))
	}
	o.freed.Store(true)
	o.sys.ids(o.typ).remove(o.id)
	if o.release != nil {
		o.release()
	}
	o.sys.emit(events.Event{Kind: events.ObjectFreed, ObjType: o.typ.String(), ObjID: o.id, Name: o.name})
}

// idr allocates object ids cyclically from 1 (idr_alloc_cyclic) and finds
// live objects by id.
type idr struct {
	mu   sync.Mutex
	next uint32
	objs map[uint32]Object
}

func newIDR() *idr { return &idr{next: 1, objs: make(map[uint32]Object)} }

func (r *idr) alloc(o Object) uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		id := r.next
		r.next++
		if r.next > 1<<31-1 {
			r.next = 1
		}
		if _, used := r.objs[id]; !used {
			r.objs[id] = o
			return id
		}
	}
}

func (r *idr) remove(id uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.objs, id)
}

// get returns the live object with id, with a reference taken.
func (r *idr) get(id uint32) Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.objs[id]
	if !ok || o.Refs() <= 0 {
		return nil
	}
	o.Get()
	return o
}

// next returns the smallest live id greater than id (BPF_*_GET_NEXT_ID).
func (r *idr) nextID(id uint32) (uint32, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	best, found := uint32(0), false
	for k := range r.objs {
		if k > id && (!found || k < best) {
			best, found = k, true
		}
	}
	return best, found
}

// list returns the live objects sorted by id.
func (r *idr) list() []Object {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Object, 0, len(r.objs))
	for _, o := range r.objs {
		out = append(out, o)
	}
	sortObjects(out)
	return out
}
