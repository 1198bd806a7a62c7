// Package bpfview is the 2022 RFC "Pinning bpf objects outside bpffs" in one
// room: the bpf_view program type (kernel/bpf/bpf_view.c, patch 5), the
// exposure of pinned BPF objects in kernfs directories (kernel/bpf/
// kernfs_node.c, patches 3, 4 and 7) and the wiring of its fsnotify watcher
// (patch 1 lives in bpffs as WatchInode).
//
// # The lifecycle
//
//  1. An object pinned in bpffs records its first pin inode (bpffs, patch 2).
//  2. BPF_OBJ_PIN into a kernfs directory calls [View.Expose]: without a
//     bpffs pin it fails with ENXIO; otherwise it creates a 0600 (minus
//     umask) root-owned file whose private data is the bpffs inode, takes a
//     plain kernfs reference for a watch mark on that inode, and takes no
//     reference on the object ("exposing", not pinning).
//  3. When the bpffs inode dies, the mark fires and the file is removed
//     (kernfs_remove, which waits for readers in flight), then the kernfs
//     reference is dropped. One inode may carry many exposures.
//  4. Writing "rm" (one trailing newline allowed) removes the file from
//     inside its own write (kernfs_remove_self); anything else is EINVAL.
//  5. Reading an exposure in a cgroup directory runs the link's program with
//     ctx {seq @0, cgroup @8}, the directory's cgroup; a prog or map
//     exposure, or a link that is not a cgroup view link, reads EACCES; a
//     program returning 1 gives an empty read; a reader that loses the race
//     with removal gets ENODEV (kernfs). On other kernfs file systems
//     (sysfs) reads are EIO.
//  6. rmdir of a cgroup is not blocked by exposures: they go with the
//     directory, and the later unpin finds them already removed.
//
// # Reference model
//
// The exposure's kernfs node holds nothing; the watch mark holds a plain
// kernfs reference on the node (dropped when the mark fires); the bpffs pin
// holds the object. A view link holds its program.
//
// # Left out
//
// Other view targets than "cgroup"; bpf_link_info for view links (the RFC
// has none); sysfs and other kernfs file systems beyond cgroup2 exist only
// as the generic ops.
package bpfview

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/bpffs"
	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/kobj"
	"github.com/simfs/simfs/seqfile"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// RemoveCmd is what a write must say to remove an exposure (REMOVE_CMD).
const RemoveCmd = "rm"

// View is the RFC's machinery on one machine.
type View struct {
	sys   *bpf.Subsystem
	fs    *bpffs.FS
	objs  *kobj.Objects
	cg    *cgroup.Hierarchy
	bus   *events.Bus
	cgOps *kernfs.Ops
	genOp *kernfs.Ops

	mu        sync.Mutex
	exposures map[*kernfs.Node]*Exposure
}

// Exposure describes one exposed object, for `show` and tests.
type Exposure struct {
	Node    *kernfs.Node
	Path    string
	ObjType bpf.ObjType
	ObjID   uint32
	// Pin is the bpffs inode the exposure watches.
	Pin *vfs.Inode
}

// New registers the view/cgroup program type with sys and returns the
// exposer for BPF_OBJ_PIN. h may be nil (no cgroups: exposures are only
// possible in other kernfs file systems).
func New(sys *bpf.Subsystem, fs *bpffs.FS, objs *kobj.Objects, h *cgroup.Hierarchy) *View {
	x := &View{sys: sys, fs: fs, objs: objs, cg: h, bus: sys.Bus(), exposures: make(map[*kernfs.Node]*Exposure)}
	x.cgOps = &kernfs.Ops{SeqShow: x.cgroupSeqShow, Write: x.write}
	x.genOp = &kernfs.Ops{Read: func(*kernfs.OpenFile, []byte, int64) (int, error) { return 0, unix.EIO }, Write: x.write}
	sys.RegisterProgType(ProgType())
	if h != nil {
		h.AddHook(x.onCgroup)
	}
	return x
}

// IsKernfsDir is dentry_is_kernfs_dir.
func (x *View) IsKernfsDir(dir *vfs.Inode) bool {
	n := kernfs.NodeOf(dir)
	return n != nil && n.IsDir()
}

// Expose is bpf_obj_do_pin_kernfs: it creates name in the kernfs directory
// dir for obj, inside the pin's transaction t. It takes no reference on obj.
func (x *View) Expose(t *vfs.Txn, c *vfs.Caller, dir *vfs.Inode, name string, obj bpf.Object, path string) (*vfs.Inode, error) {
	root := kernfs.RootOf(dir)
	if root == nil {
		return nil, unix.EPERM // not a kernfs file system
	}
	parent := kernfs.NodeOf(dir)
	if parent == nil {
		return nil, unix.EPERM
	}
	pin := bpffs.GetBackingInode(t, obj)
	if pin == nil {
		return nil, unix.ENXIO
	}
	defer t.Put(pin)
	ops := x.genOp
	if root.Statfs().Type == cgroup.SuperMagic {
		ops = x.cgOps
	}
	kn, err := root.CreateFile(t, parent, name, kernfs.Attr{Mode: 0600 &^ c.Umask, Priv: pin}, ops)
	if err != nil {
		return nil, err
	}
	kn.Get() // held by the watch mark
	e := &Exposure{Node: kn, Path: path, ObjType: obj.ObjType(), ObjID: obj.ID(), Pin: pin}
	if err := x.fs.WatchInode(pin, x.pinGone, e); err != nil {
		kn.Put()
		root.Remove(t, kn)
		return nil, err
	}
	root.Activate(t, kn)
	x.mu.Lock()
	x.exposures[kn] = e
	x.mu.Unlock()
	return kn.Inode(), nil
}

// pinGone is kn_watch_free_inode: the bpffs inode died.
func (x *View) pinGone(obj bpf.Object, priv any) {
	e := priv.(*Exposure)
	if x.forget(e.Node) {
		e.Node.Root().Remove(nil, e.Node)
		x.bus.Emit(events.Event{Kind: events.ExposureRemoved, ObjType: e.ObjType.String(), ObjID: e.ObjID, Path: e.Path, Reason: "unpin"})
	}
	e.Node.Put()
}

// forget drops an exposure from the index; false if it was already gone.
func (x *View) forget(kn *kernfs.Node) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.exposures[kn]
	delete(x.exposures, kn)
	return ok
}

// onCgroup notices exposures that went with their cgroup directory.
func (x *View) onCgroup(ch cgroup.Change) {
	if ch.Kind != cgroup.CgroupRemoved || ch.Cgroup == nil {
		return
	}
	dir := ch.Cgroup.Node()
	x.mu.Lock()
	var gone []*Exposure
	for kn, e := range x.exposures {
		if kn.Parent() == dir {
			gone = append(gone, e)
			delete(x.exposures, kn)
		}
	}
	x.mu.Unlock()
	for _, e := range gone {
		x.bus.Emit(events.Event{Kind: events.ExposureRemoved, ObjType: e.ObjType.String(), ObjID: e.ObjID, Path: e.Path, Cgroup: ch.ID, Reason: "rmdir"})
	}
}

// Exposures lists the live exposures.
func (x *View) Exposures() []Exposure {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Exposure, 0, len(x.exposures))
	for _, e := range x.exposures {
		out = append(out, *e)
	}
	return out
}

// ExposureOf returns the object behind an exposure's inode.
func (x *View) ExposureOf(in *vfs.Inode) (Exposure, bool) {
	kn := kernfs.NodeOf(in)
	if kn == nil {
		return Exposure{}, false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	e, ok := x.exposures[kn]
	if !ok {
		return Exposure{}, false
	}
	return *e, true
}

// write is bpf_generic_write: "rm" removes the exposure.
func (x *View) write(of *kernfs.OpenFile, buf []byte, off int64) (int, error) {
	if !sysfsStreq(kernfs.CString(buf), RemoveCmd) {
		return 0, unix.EINVAL
	}
	kn := of.Node()
	if of.RemoveSelf() && x.forget(kn) {
		e := x.exposureInfo(kn)
		x.bus.Emit(events.Event{Kind: events.ExposureRemoved, ObjType: e.ObjType.String(), ObjID: e.ObjID, Path: e.Path, Reason: "rm"})
	}
	return len(buf), nil
}

func (x *View) exposureInfo(kn *kernfs.Node) Exposure {
	pin, _ := kn.Priv().(*vfs.Inode)
	e := Exposure{Node: kn, Path: kn.Path(), Pin: pin}
	if pin != nil {
		if obj, ok := bpffs.ObjectOf(pin); ok {
			e.ObjType, e.ObjID = obj.ObjType(), obj.ID()
		}
	}
	return e
}

// sysfsStreq compares like sysfs_streq: one trailing newline on either side
// is ignored.
func sysfsStreq(a, b string) bool {
	return strings.TrimSuffix(a, "\n") == strings.TrimSuffix(b, "\n")
}

// cgroupSeqShow is bpf_cgroup_seq_show (patch 7).
func (x *View) cgroupSeqShow(of *kernfs.OpenFile, m *seqfile.Buffer) error {
	kn := of.Node()
	cg, ok := kn.Parent().Priv().(*cgroup.Cgroup)
	if !ok {
		return unix.EIO
	}
	pin, _ := kn.Priv().(*vfs.Inode)
	obj, ok := bpffs.ObjectOf(pin)
	if !ok {
		return unix.ENXIO
	}
	link, ok := obj.(*bpf.Link)
	if !ok || !IsCgroupView(link) {
		return unix.EACCES
	}
	return x.run(link.Prog(), cg, m, of.Caller().Task)
}

// run is run_view_prog with ctx {seq, cgroup}.
func (x *View) run(p *bpf.Prog, cg *cgroup.Cgroup, m *seqfile.Buffer, task any) error {
	cgAddr, err := x.objs.Cgroup(cg)
	if err != nil {
		return unix.ENODEV
	}
	seq, err := x.objs.NewSeqFile(m.Size())
	if err != nil {
		return unix.ENOMEM
	}
	defer seq.Free()
	ctx := make([]byte, 16)
	putU64(ctx[0:], seq.Addr)
	putU64(ctx[8:], cgAddr)
	ret, err := p.Run(&bpf.RunContext{Ctx: ctx, Seq: m, SeqAddr: seq.Addr, Task: task})
	if err != nil {
		var errno unix.Errno
		if errors.As(err, &errno) {
			return fmt.Errorf("%w: %v", errno, err)
		}
		return err
	}
	if ret == 1 {
		return seqfile.ErrSkip
	}
	return nil
}

func putU64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}
