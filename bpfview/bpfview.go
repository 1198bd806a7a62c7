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

	// mu guards the index: the live exposures in a list per directory
	// (so that an rmdir finds its directory's exposures without scanning
	// them all, and a node finds its record through its priv), and the
	// watch state of every bpffs inode that exposures watch.
	mu    sync.Mutex
	live  int
	byDir map[*kernfs.Node]*dirList
	byPin map[*vfs.Inode]*pinWatch
}

// dirList is the list of a directory's live exposures. It stays in byDir
// when it empties, so that removing an exposure touches its record and its
// list and no map: a list goes when its cgroup is removed, or when empty
// lists outnumber the live exposures (see link).
type dirList struct {
	head *exposure
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

// exposure is the record of an exposure, the kernfs node's priv (the RFC
// stores the bpffs inode there; the record names it). A live exposure is
// in its directory's list; one removed by "rm" or with its directory
// leaves the list but stays counted in its pin's pinWatch until its mark
// fires.
type exposure struct {
	Exposure
	root       *kernfs.Root // Node's
	list       *dirList     // the directory's list
	watch      *pinWatch    // the watch state of Pin
	prev, next *exposure    // in the directory's list
	linked     bool         // in the list: live
}

// pinWatch is what bpfview knows of the watch marks on one bpffs inode:
// how many have not fired yet, and the exposures whose marks have. The
// marks of an inode are destroyed together (the inode died, or its file
// system was unmounted), so the last one to fire removes the whole batch
// at once: one kernfs transaction and one drain pass for all of them.
type pinWatch struct {
	marks int
	fired batch
}

// batch is what removing fired exposures takes: their nodes, and what
// their removal events say, gathered while each record is in cache.
type batch struct {
	nodes []*kernfs.Node
	gone  []goneExposure
	root  *kernfs.Root // the nodes' root, if they have one
	mixed bool         // they do not
}

// New registers the view/cgroup program type with sys and returns the
// exposer for BPF_OBJ_PIN. h may be nil (no cgroups: exposures are only
// possible in other kernfs file systems).
func New(sys *bpf.Subsystem, fs *bpffs.FS, objs *kobj.Objects, h *cgroup.Hierarchy) *View {
	x := &View{sys: sys, fs: fs, objs: objs, cg: h, bus: sys.Bus(),
		byDir: make(map[*kernfs.Node]*dirList),
		byPin: make(map[*vfs.Inode]*pinWatch),
	}
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
	e := &exposure{Exposure: Exposure{Path: path, ObjType: obj.ObjType(), ObjID: obj.ID(), Pin: pin}, root: root}
	kn, err := root.CreateFile(t, parent, name, kernfs.Attr{Mode: 0600 &^ c.Umask, Priv: e}, ops)
	if err != nil {
		return nil, err
	}
	e.Node = kn
	kn.Get() // held by the watch mark
	// Count the mark before adding it. It cannot fire before t ends (the
	// inode is alive and only a transaction can kill it), but keep the
	// count right whatever happens.
	x.mu.Lock()
	w := x.byPin[pin]
	if w == nil {
		w = &pinWatch{}
		x.byPin[pin] = w
	}
	w.marks++
	e.watch = w
	x.mu.Unlock()
	if err := x.fs.WatchInode(pin, x.pinGone, e); err != nil {
		x.mu.Lock()
		w.marks--
		b := x.takeBatch(pin, w)
		x.mu.Unlock()
		x.removeBatch(b)
		kn.Put()
		root.Remove(t, kn)
		return nil, err
	}
	root.Activate(t, kn)
	x.mu.Lock()
	x.link(e, parent)
	x.mu.Unlock()
	return kn.Inode(), nil
}

// pinGone is kn_watch_free_inode: the bpffs inode died (or its file system
// went), and the mark of one exposure was destroyed. The exposure leaves
// the index now and the tree with the rest of the inode's, when the last of
// their marks fires.
func (x *View) pinGone(obj bpf.Object, priv any) {
	e := priv.(*exposure)
	x.mu.Lock()
	w := e.watch
	live := x.unlink(e)
	if live {
		if w.fired.nodes == nil {
			// The marks of an inode fire together: room for all.
			w.fired.nodes = make([]*kernfs.Node, 0, w.marks)
			w.fired.gone = make([]goneExposure, 0, w.marks)
		}
		if len(w.fired.nodes) == 0 {
			w.fired.root = e.root
		} else if e.root != w.fired.root {
			w.fired.mixed = true
		}
		w.fired.nodes = append(w.fired.nodes, e.Node)
		w.fired.gone = append(w.fired.gone, goneExposure{objType: e.ObjType, objID: e.ObjID, path: e.Path})
	}
	w.marks--
	b := x.takeBatch(e.Pin, w)
	x.mu.Unlock()
	if !live {
		e.Node.Put() // removed already (rm, rmdir): drop the mark's reference
	}
	x.removeBatch(b)
}

// takeBatch returns the exposures whose marks on pin fired, once none is
// left to fire, and forgets the pin. Caller holds x.mu.
func (x *View) takeBatch(pin *vfs.Inode, w *pinWatch) batch {
	if w.marks > 0 {
		return batch{}
	}
	delete(x.byPin, pin)
	return w.fired
}

// removeBatch removes the exposures of batch — each kernfs root's in one
// transaction, which waits for their readers in flight — drops the kernfs
// references their marks held, and emits their removal.
func (x *View) removeBatch(b batch) {
	if len(b.nodes) == 0 {
		return
	}
	nodes := b.nodes
	if !b.mixed {
		// One root, as in practice (cgroup2): no pass over the nodes
		// to sort them.
		b.root.RemoveNodes(nil, nodes, true)
		nodes = nil
	}
	// One transaction per kernfs root.
	for len(nodes) > 0 {
		root := nodes[0].Root()
		same, rest := nodes, []*kernfs.Node(nil)
		for i, kn := range nodes {
			if kn.Root() != root {
				same = nodes[:i:i]
				for _, kn := range nodes[i:] {
					if kn.Root() == root {
						same = append(same, kn)
					} else {
						rest = append(rest, kn)
					}
				}
				break
			}
		}
		root.RemoveNodes(nil, same, true)
		nodes = rest
	}
	// The events go in chunks: one bus lock and timestamp for each.
	gone := b.gone
	evs := make([]events.Event, min(len(gone), 256))
	for len(gone) > 0 {
		chunk := evs[:min(len(gone), len(evs))]
		for i, g := range gone[:len(chunk)] {
			chunk[i] = events.Event{Kind: events.ExposureRemoved, ObjType: g.objType.String(), ObjID: g.objID, Path: g.path, Reason: "unpin"}
		}
		x.bus.EmitAll(chunk)
		gone = gone[len(chunk):]
	}
}

// goneExposure is what the removal event of an exposure says.
type goneExposure struct {
	path    string
	objID   uint32
	objType bpf.ObjType
}

// link adds a new exposure to the list of its directory, dir. Caller
// holds x.mu.
func (x *View) link(e *exposure, dir *kernfs.Node) {
	l := x.byDir[dir]
	if l == nil {
		if len(x.byDir) > 2*x.live+1024 {
			x.pruneLists()
		}
		l = &dirList{}
		x.byDir[dir] = l
	}
	if head := l.head; head != nil {
		head.prev = e
		e.next = head
	}
	l.head = e
	e.list = l
	e.linked = true
	x.live++
}

// pruneLists forgets the empty directory lists, which the directories
// of sysfs-like roots (no rmdir hook) would otherwise leave behind. It is
// called when they outnumber the live exposures, so its cost is spread over
// the exposures that emptied them. Caller holds x.mu.
func (x *View) pruneLists() {
	for dir, l := range x.byDir {
		if l.head == nil {
			delete(x.byDir, dir)
		}
	}
}

// unlink drops an exposure from the index; false if it was gone already.
// Caller holds x.mu.
func (x *View) unlink(e *exposure) bool {
	if !e.linked {
		return false
	}
	e.linked = false
	x.live--
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		e.list.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	}
	e.prev, e.next = nil, nil
	return true
}

// onCgroup notices exposures that went with their cgroup directory.
func (x *View) onCgroup(ch cgroup.Change) {
	if ch.Kind != cgroup.CgroupRemoved || ch.Cgroup == nil {
		return
	}
	dir := ch.Cgroup.Node()
	x.mu.Lock()
	var gone []*exposure
	if l := x.byDir[dir]; l != nil {
		for e := l.head; e != nil; {
			next := e.next
			x.unlink(e)
			gone = append(gone, e)
			e = next
		}
		delete(x.byDir, dir)
	}
	x.mu.Unlock()
	for i := len(gone) - 1; i >= 0; i-- { // in the order they were made
		e := gone[i]
		x.bus.Emit(events.Event{Kind: events.ExposureRemoved, ObjType: e.ObjType.String(), ObjID: e.ObjID, Path: e.Path, Cgroup: ch.ID, Reason: "rmdir"})
	}
}

// Exposures lists the live exposures.
func (x *View) Exposures() []Exposure {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]Exposure, 0, x.live)
	for _, l := range x.byDir {
		for e := l.head; e != nil; e = e.next {
			out = append(out, e.Exposure)
		}
	}
	return out
}

// ExposureOf returns the object behind an exposure's inode.
func (x *View) ExposureOf(in *vfs.Inode) (Exposure, bool) {
	e := exposureOf(kernfs.NodeOf(in))
	if e == nil {
		return Exposure{}, false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if !e.linked {
		return Exposure{}, false
	}
	return e.Exposure, true
}

// exposureOf returns the record of an exposure's node, or nil.
func exposureOf(kn *kernfs.Node) *exposure {
	if kn == nil {
		return nil
	}
	e, _ := kn.Priv().(*exposure)
	return e
}

// write is bpf_generic_write: "rm" removes the exposure.
func (x *View) write(of *kernfs.OpenFile, buf []byte, off int64) (int, error) {
	if !sysfsStreq(kernfs.CString(buf), RemoveCmd) {
		return 0, unix.EINVAL
	}
	if of.RemoveSelf() {
		e := exposureOf(of.Node())
		x.mu.Lock()
		live := x.unlink(e)
		x.mu.Unlock()
		if live {
			x.bus.Emit(events.Event{Kind: events.ExposureRemoved, ObjType: e.ObjType.String(), ObjID: e.ObjID, Path: e.Path, Reason: "rm"})
		}
	}
	return len(buf), nil
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
	obj, ok := bpffs.ObjectOf(exposureOf(kn).Pin)
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
