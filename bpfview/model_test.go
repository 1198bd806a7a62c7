package bpfview_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/kernel"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

// The model of the RFC's lifecycle. Everything is addressed by path, from
// small fixed universes of names, so that names collide, get reused and
// outlive what they named.

// What a loaded object is.
const (
	kView = "view" // a view/cgroup program
	kTp   = "tp"   // a tp_btf program (its links are not view links)
	kSys  = "sys"  // a syscall program
	kMap  = "map"  // a hash map, 8-byte keys and values
	kLink = "link"
)

// mobj is a BPF object.
type mobj struct {
	kind  string
	obj   bpf.Object
	prog  *mobj   // a link's program
	maps  []*mobj // the maps a program uses
	dflt  int64   // a view program's default value
	ret   int32   // a view program's return value
	vals  map[uint64]int64
	pin   *mpin // the back pointer: first bpffs pin since it was last nil
	freed bool
}

// view reports whether reading an exposure of o runs a program.
func (o *mobj) view() bool { return o.kind == kLink && o.prog.kind == kView }

// mpin is a bpffs pin inode.
type mpin struct {
	obj   *mobj
	ino   uint64
	names int // links to it
}

// mcg is a cgroup.
type mcg struct {
	path  string // under /sys/fs/cgroup ("" for the root)
	id    uint64
	tasks map[int]bool
}

// mexp is an exposure.
type mexp struct {
	path string // full path
	cg   *mcg
	obj  *mobj
	pin  *mpin // the inode it watches
	ino  uint64
}

// mfd is an fd of a process holding an object.
type mfd struct {
	proc *kernel.Process
	fd   int
	obj  *mobj
}

// mopen is an open file of an exposure.
type mopen struct {
	fd  int
	exp *mexp
}

var (
	bpffsNames   = []string{"a", "b", "c", "d"}
	cgroupNames  = []string{"c1", "c2", "v"}
	exposedNames = []string{"v", "w", "c1", "cgroup.procs"}
)

type lifecycleModel struct {
	m     *kernel.Machine
	p     *kernel.Process // root, umask 022
	q     *kernel.Process // a second process; exits and is replaced
	rec   *events.Recorder
	seen  int // events already checked
	objs  []*mobj
	fds   []*mfd
	pins  map[string]*mpin  // bpffs name → inode
	cgs   map[string]*mcg   // live cgroups by path
	exps  map[string]*mexp  // live exposures by path
	tasks map[int]*mcg      // live tasks
	opens []*mopen          // open exposure files of p
	freed map[string]bool   // "type/id" of freed objects
	gone  map[string]string // exposures removed by the last step: path → reason
	unpin int               // pin inodes destroyed by the last step
}

func (lm *lifecycleModel) init(t *rapid.T) {
	m, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	lm.m = m
	lm.rec = m.Events().Record()
	lm.p = m.NewProcess(kernel.ProcessOptions{Umask: 022})
	lm.q = m.NewProcess(kernel.ProcessOptions{})
	lm.pins = map[string]*mpin{}
	lm.cgs = map[string]*mcg{"": {path: "", id: 1, tasks: map[int]bool{}}}
	lm.exps = map[string]*mexp{}
	lm.tasks = map[int]*mcg{}
	lm.freed = map[string]bool{}
	lm.gone = map[string]string{}
	// A start that lets most actions do something at once: a map, a
	// view program, a tp_btf program, a view link and a cgroup.
	lm.MapCreate(t)
	lm.LoadOther(t)
	lm.LoadView(t)
	for _, f := range lm.fds {
		if f.obj.kind == kView {
			lfd, err := lm.p.LinkCreate(f.fd, kernel.LinkCreateAttr{})
			if err != nil {
				t.Fatal(err)
			}
			lm.newObj(t, lm.p, lfd, &mobj{kind: kLink, prog: f.obj})
			break
		}
	}
	if err := lm.p.Mkdir(cgPath("/c1"), 0755); err != nil {
		t.Fatal(err)
	}
	st, err := lm.p.Stat(cgPath("/c1"))
	if err != nil {
		t.Fatal(err)
	}
	lm.cgs["/c1"] = &mcg{path: "/c1", id: st.Ino, tasks: map[int]bool{}}
	lm.seen = len(lm.rec.Events())
}

func (lm *lifecycleModel) cleanup() {
	lm.p.Exit()
	lm.q.Exit()
}

func cgPath(rel string) string { return kernel.CgroupPath + rel }

func errIs(err error, want unix.Errno) bool {
	if want == 0 {
		return err == nil
	}
	return errors.Is(err, want)
}

func expect(t *rapid.T, what string, err error, want unix.Errno) {
	t.Helper()
	if !errIs(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, errName(want))
	}
}

func errName(e unix.Errno) string {
	if e == 0 {
		return "success"
	}
	return unix.ErrnoName(e)
}

// refs is the model's reference count of o.
func (lm *lifecycleModel) refs(o *mobj) int64 {
	var n int64
	for _, f := range lm.fds {
		if f.obj == o {
			n++
		}
	}
	seen := map[*mpin]bool{}
	for _, pn := range lm.pins {
		if pn.obj == o && !seen[pn] {
			seen[pn] = true
			n++
		}
	}
	for _, x := range lm.objs {
		if x.freed {
			continue
		}
		if x.prog == o {
			n++
		}
		for _, mp := range x.maps {
			if mp == o {
				n++
			}
		}
	}
	return n
}

// settle frees, in the model, every object left without references, as
// the kernel does in cascade (a link frees its program, a program its maps).
func (lm *lifecycleModel) settle() {
	for changed := true; changed; {
		changed = false
		for _, o := range lm.objs {
			if !o.freed && lm.refs(o) == 0 {
				o.freed = true
				o.pin = nil
				lm.freed[objKey(o.obj)] = false // freed, event not yet seen
				changed = true
			}
		}
	}
}

func objKey(o bpf.Object) string { return fmt.Sprintf("%s/%d", o.ObjType(), o.ID()) }

// newObj registers the object behind proc's new fd.
func (lm *lifecycleModel) newObj(t *rapid.T, proc *kernel.Process, fd int, o *mobj) {
	info, err := proc.ObjInfo(fd)
	if err != nil {
		t.Fatal(err)
	}
	var obj bpf.Object
	switch info.ObjType {
	case "prog":
		obj, err = lm.m.BPF().ProgByID(info.ID)
	case "map":
		obj, err = lm.m.BPF().MapByID(info.ID)
	default:
		obj, err = lm.m.BPF().LinkByID(info.ID)
	}
	if err != nil {
		t.Fatal(err)
	}
	obj.Put() // keep the pointer only: Freed and Refs stay observable
	o.obj = obj
	lm.objs = append(lm.objs, o)
	lm.fds = append(lm.fds, &mfd{proc: proc, fd: fd, obj: o})
}

func (lm *lifecycleModel) pickFD(t *rapid.T, label string, pred func(*mfd) bool) *mfd {
	var c []*mfd
	for _, f := range lm.fds {
		if pred == nil || pred(f) {
			c = append(c, f)
		}
	}
	if len(c) == 0 {
		c = lm.fds // nothing fits: any fd
	}
	if len(c) == 0 {
		return nil
	}
	return rapid.SampledFrom(c).Draw(t, label)
}

func (lm *lifecycleModel) LoadView(t *rapid.T) {
	dflt := rapid.Int64Range(0, 1000).Draw(t, "dflt")
	ret := rapid.SampledFrom([]int32{0, 0, 0, 1}).Draw(t, "ret")
	o := &mobj{kind: kView, dflt: dflt, ret: ret}
	var insns asm.Instructions
	if rapid.Bool().Draw(t, "withMap") {
		mf := lm.pickFD(t, "map", func(f *mfd) bool { return f.proc == lm.p && f.obj.kind == kMap })
		if mf == nil || mf.proc != lm.p || mf.obj.kind != kMap {
			lm.MapCreate(t)
			mf = lm.fds[len(lm.fds)-1]
		}
		insns = viewMapProg(t, lm.m.Layout(), mf.fd, dflt, ret)
		o.maps = []*mobj{mf.obj}
	} else {
		insns = viewProg(t, lm.m.Layout(), dflt, ret)
	}
	fd, log, err := lm.p.ProgLoad(kernel.ProgLoadAttr{Section: "view/cgroup", Name: "wait_show", License: "GPL", Insns: insns})
	if err != nil {
		t.Fatalf("load: %v\n%s", err, log)
	}
	lm.newObj(t, lm.p, fd, o)
}

func (lm *lifecycleModel) LoadOther(t *rapid.T) {
	kind := rapid.SampledFrom([]string{kTp, kSys}).Draw(t, "kind")
	sec := "syscall"
	if kind == kTp {
		sec = "tp_btf/sched_stat_wait"
	}
	fd, log, err := lm.p.ProgLoad(kernel.ProgLoadAttr{Section: sec, License: "GPL", Insns: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Fatalf("load: %v\n%s", err, log)
	}
	lm.newObj(t, lm.p, fd, &mobj{kind: kind})
}

func (lm *lifecycleModel) MapCreate(t *rapid.T) {
	fd, err := lm.p.MapCreate(bpf.MapSpec{Type: bpf.MapHash, KeySize: 8, ValueSize: 8, MaxEntries: 64})
	if err != nil {
		t.Fatal(err)
	}
	lm.newObj(t, lm.p, fd, &mobj{kind: kMap, vals: map[uint64]int64{}})
}

func (lm *lifecycleModel) MapUpdate(t *rapid.T) {
	f := lm.pickFD(t, "map", func(f *mfd) bool { return f.obj.kind == kMap })
	if f == nil || f.obj.kind != kMap {
		return
	}
	var ids []uint64
	for _, cg := range lm.cgs {
		ids = append(ids, cg.id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	key := rapid.SampledFrom(ids).Draw(t, "cgroup id")
	val := rapid.Int64Range(0, 1<<40).Draw(t, "value")
	k, v := make([]byte, 8), make([]byte, 8)
	binary.LittleEndian.PutUint64(k, key)
	binary.LittleEndian.PutUint64(v, uint64(val))
	if err := f.proc.MapUpdate(f.fd, k, v, bpf.UpdateAny); err != nil {
		t.Fatal(err)
	}
	f.obj.vals[key] = val
}

func (lm *lifecycleModel) LinkCreate(t *rapid.T) {
	f := lm.pickFD(t, "prog", func(f *mfd) bool { return f.obj.kind == kView || f.obj.kind == kTp })
	if f == nil || (f.obj.kind != kView && f.obj.kind != kTp) {
		return
	}
	lfd, err := f.proc.LinkCreate(f.fd, kernel.LinkCreateAttr{})
	if err != nil {
		t.Fatal(err)
	}
	lm.newObj(t, f.proc, lfd, &mobj{kind: kLink, prog: f.obj})
}

// Close closes an fd of p or q.
func (lm *lifecycleModel) Close(t *rapid.T) {
	f := lm.pickFD(t, "fd", nil)
	if f == nil {
		return
	}
	if err := f.proc.Close(f.fd); err != nil {
		t.Fatal(err)
	}
	lm.dropFD(f)
}

func (lm *lifecycleModel) dropFD(f *mfd) {
	for i, x := range lm.fds {
		if x == f {
			lm.fds = append(lm.fds[:i:i], lm.fds[i+1:]...)
			return
		}
	}
}

// ExitQ ends the second process (closing its fds) and starts another.
func (lm *lifecycleModel) ExitQ(t *rapid.T) {
	lm.q.Exit()
	var keep []*mfd
	for _, f := range lm.fds {
		if f.proc != lm.q {
			keep = append(keep, f)
		}
	}
	lm.fds = keep
	lm.q = lm.m.NewProcess(kernel.ProcessOptions{})
}

// ObjGet opens a pin (or anything in bpffs) into p or q.
func (lm *lifecycleModel) ObjGet(t *rapid.T) {
	name := lm.pickPinName(t, "name")
	proc := rapid.SampledFrom([]*kernel.Process{lm.p, lm.q}).Draw(t, "proc")
	fd, err := proc.ObjGet(kernel.BPFFSPath+"/"+name, 0)
	pn := lm.pins[name]
	if pn == nil {
		expect(t, "obj get "+name, err, unix.ENOENT)
		return
	}
	expect(t, "obj get "+name, err, 0)
	lm.fds = append(lm.fds, &mfd{proc: proc, fd: fd, obj: pn.obj})
}

// Pin is BPF_OBJ_PIN into bpffs.
func (lm *lifecycleModel) Pin(t *rapid.T) {
	f := lm.pickFD(t, "fd", nil)
	if f == nil {
		return
	}
	name := rapid.SampledFrom(bpffsNames).Draw(t, "name")
	err := f.proc.ObjPin(f.fd, kernel.BPFFSPath+"/"+name)
	if lm.pins[name] != nil {
		expect(t, "pin "+name, err, unix.EEXIST)
		return
	}
	expect(t, "pin "+name, err, 0)
	st, err := lm.p.Stat(kernel.BPFFSPath + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	pn := &mpin{obj: f.obj, ino: st.Ino, names: 1}
	lm.pins[name] = pn
	if f.obj.pin == nil {
		f.obj.pin = pn // bpf_mkobj_ops: cond_set_backing_inode(NULL, inode)
	}
}

// HardLink is link(2) in bpffs.
func (lm *lifecycleModel) HardLink(t *rapid.T) {
	oldName := lm.pickPinName(t, "old")
	newName := rapid.SampledFrom(bpffsNames).Draw(t, "new")
	err := lm.p.Link(kernel.BPFFSPath+"/"+oldName, kernel.BPFFSPath+"/"+newName)
	switch {
	case lm.pins[oldName] == nil:
		expect(t, "link", err, unix.ENOENT)
	case lm.pins[newName] != nil:
		expect(t, "link", err, unix.EEXIST)
	default:
		expect(t, "link", err, 0)
		lm.pins[newName] = lm.pins[oldName]
		lm.pins[newName].names++
	}
}

// dropName removes a name of a pin inode.
func (lm *lifecycleModel) dropName(name string) {
	pn := lm.pins[name]
	delete(lm.pins, name)
	lm.loseLink(pn)
}

// loseLink drops one link of a pin inode; it dies with its last.
func (lm *lifecycleModel) loseLink(pn *mpin) {
	pn.names--
	if pn.names > 0 {
		return
	}
	lm.unpin++
	// Its watch marks fire: every exposure made while it was the object's
	// back pointer goes, even if another pin of the object remains.
	for p, e := range lm.exps {
		if e.pin == pn {
			lm.removeExp(p, "unpin")
		}
	}
	if pn.obj.pin == pn {
		pn.obj.pin = nil // bpf_free_inode: cond_set_backing_inode(inode, NULL)
	}
}

func (lm *lifecycleModel) removeExp(p, reason string) {
	delete(lm.exps, p)
	lm.gone[p] = reason
}

// Unlink is unlink(2) in bpffs.
func (lm *lifecycleModel) Unlink(t *rapid.T) {
	name := lm.pickPinName(t, "name")
	err := lm.p.Unlink(kernel.BPFFSPath + "/" + name)
	if lm.pins[name] == nil {
		expect(t, "unlink", err, unix.ENOENT)
		return
	}
	expect(t, "unlink", err, 0)
	lm.dropName(name)
}

// Rename is renameat2(2) in bpffs, with no flag, RENAME_NOREPLACE or
// RENAME_EXCHANGE.
func (lm *lifecycleModel) Rename(t *rapid.T) {
	oldName := lm.pickPinName(t, "old")
	newName := rapid.SampledFrom(bpffsNames).Draw(t, "new")
	flags := rapid.SampledFrom([]uint32{0, unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE}).Draw(t, "flags")
	err := lm.p.Rename(kernel.BPFFSPath+"/"+oldName, kernel.BPFFSPath+"/"+newName, flags)
	src, dst := lm.pins[oldName], lm.pins[newName]
	what := fmt.Sprintf("rename %s %s %#x", oldName, newName, flags)
	switch {
	case src == nil:
		expect(t, what, err, unix.ENOENT)
	case flags == unix.RENAME_EXCHANGE && dst == nil:
		expect(t, what, err, unix.ENOENT)
	case flags == unix.RENAME_NOREPLACE && dst != nil:
		expect(t, what, err, unix.EEXIST)
	case src == dst:
		// The same inode (or the same name): nothing happens.
		expect(t, what, err, 0)
	case flags == unix.RENAME_EXCHANGE:
		expect(t, what, err, 0)
		lm.pins[oldName], lm.pins[newName] = dst, src
	default:
		expect(t, what, err, 0)
		delete(lm.pins, oldName)
		lm.pins[newName] = src
		if dst != nil {
			lm.loseLink(dst) // replaced
		}
	}
}

// pickCgroupPath draws a path from the universe: live or not.
func pickCgroupPath(t *rapid.T, label string) string {
	p := ""
	depth := rapid.IntRange(0, 2).Draw(t, label+" depth")
	for i := 0; i < depth; i++ {
		p += "/" + rapid.SampledFrom(cgroupNames).Draw(t, label)
	}
	return p
}

// pickPinName draws a bpffs name, an existing one three times out of
// four.
func (lm *lifecycleModel) pickPinName(t *rapid.T, label string) string {
	if len(lm.pins) > 0 && rapid.IntRange(0, 3).Draw(t, label+" existing") > 0 {
		var ns []string
		for n := range lm.pins {
			ns = append(ns, n)
		}
		sort.Strings(ns)
		return rapid.SampledFrom(ns).Draw(t, label)
	}
	return rapid.SampledFrom(bpffsNames).Draw(t, label)
}

// pickDir draws a cgroup path, a live one three times out of four.
func (lm *lifecycleModel) pickDir(t *rapid.T) string {
	if rapid.IntRange(0, 3).Draw(t, "live dir") > 0 {
		return lm.pickLiveCgroup(t, "dir").path
	}
	return pickCgroupPath(t, "dir")
}

// taken reports what occupies the cgroup2 path rel: "cgroup", "exposure",
// "file" or "".
func (lm *lifecycleModel) taken(rel string) string {
	if lm.cgs[rel] != nil {
		return "cgroup"
	}
	if lm.exps[cgPath(rel)] != nil {
		return "exposure"
	}
	if rel != "" && lm.cgs[parentRel(rel)] != nil && strings.HasPrefix(path.Base(rel), "cgroup.") {
		return "file"
	}
	return ""
}

// missing is the errno of a lookup of rel when nothing is there: ENOTDIR
// if a component on the way is a file, ENOENT otherwise.
func (lm *lifecycleModel) missing(rel string) unix.Errno {
	for d := parentRel(rel); d != ""; d = parentRel(d) {
		if lm.cgs[d] != nil {
			break
		}
		if k := lm.taken(d); k == "exposure" || k == "file" {
			return unix.ENOTDIR
		}
	}
	return unix.ENOENT
}

func parentRel(rel string) string {
	d := path.Dir(rel)
	if d == "/" {
		return ""
	}
	return d
}

// Expose is BPF_OBJ_PIN into a cgroup directory.
func (lm *lifecycleModel) Expose(t *rapid.T) {
	var f *mfd
	if rapid.IntRange(0, 3).Draw(t, "pinned fd") > 0 {
		f = lm.pickFD(t, "fd", func(f *mfd) bool { return f.obj.pin != nil })
	} else {
		f = lm.pickFD(t, "fd", nil)
	}
	if f == nil {
		return
	}
	dir := lm.pickDir(t)
	name := rapid.SampledFrom(exposedNames).Draw(t, "name")
	rel := dir + "/" + name
	full := cgPath(rel)
	err := f.proc.ObjPin(f.fd, full)
	cg := lm.cgs[dir]
	switch {
	case cg == nil && (lm.taken(dir) == "exposure" || lm.taken(dir) == "file"):
		expect(t, "expose "+full, err, unix.ENOTDIR)
	case cg == nil:
		expect(t, "expose "+full, err, lm.missing(rel))
	case lm.taken(rel) != "":
		expect(t, "expose "+full, err, unix.EEXIST)
	case f.obj.pin == nil:
		expect(t, "expose "+full, err, unix.ENXIO)
	default:
		expect(t, "expose "+full, err, 0)
		st, err := lm.p.Stat(full)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode != unix.S_IFREG|0600 || st.UID != 0 || st.Nlink != 1 {
			t.Fatalf("exposure %s: mode %o uid %d nlink %d", full, st.Mode, st.UID, st.Nlink)
		}
		lm.exps[full] = &mexp{path: full, cg: cg, obj: f.obj, pin: f.obj.pin, ino: st.Ino}
	}
}

func (lm *lifecycleModel) Mkdir(t *rapid.T) {
	rel := pickCgroupPath(t, "path")
	if rel == "" {
		return
	}
	err := lm.p.Mkdir(cgPath(rel), 0755)
	switch {
	case lm.cgs[parentRel(rel)] == nil:
		expect(t, "mkdir "+rel, err, lm.missing(rel))
	case lm.taken(rel) != "":
		expect(t, "mkdir "+rel, err, unix.EEXIST)
	default:
		expect(t, "mkdir "+rel, err, 0)
		st, err := lm.p.Stat(cgPath(rel))
		if err != nil {
			t.Fatal(err)
		}
		lm.cgs[rel] = &mcg{path: rel, id: st.Ino, tasks: map[int]bool{}}
	}
}

func (lm *lifecycleModel) Rmdir(t *rapid.T) {
	rel := lm.pickDir(t)
	if rel == "" {
		return
	}
	err := lm.p.Rmdir(cgPath(rel))
	cg := lm.cgs[rel]
	switch {
	case cg == nil && lm.taken(rel) != "":
		expect(t, "rmdir "+rel, err, unix.ENOTDIR)
	case cg == nil:
		expect(t, "rmdir "+rel, err, lm.missing(rel))
	case len(cg.tasks) > 0 || lm.hasChildren(rel):
		expect(t, "rmdir "+rel, err, unix.EBUSY)
	default:
		expect(t, "rmdir "+rel, err, 0)
		delete(lm.cgs, rel)
		for p, e := range lm.exps {
			if e.cg == cg {
				lm.removeExp(p, "rmdir")
			}
		}
	}
}

func (lm *lifecycleModel) hasChildren(rel string) bool {
	for p := range lm.cgs {
		if p != rel && strings.HasPrefix(p, rel+"/") {
			return true
		}
	}
	return false
}

func (lm *lifecycleModel) pickLiveCgroup(t *rapid.T, label string) *mcg {
	var ps []string
	for p := range lm.cgs {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return lm.cgs[rapid.SampledFrom(ps).Draw(t, label)]
}

func (lm *lifecycleModel) Spawn(t *rapid.T) {
	cg := lm.pickLiveCgroup(t, "cgroup")
	pid, err := lm.p.TaskSpawn(cgPath(cg.path))
	if err != nil {
		t.Fatalf("spawn in %q: %v", cg.path, err)
	}
	cg.tasks[pid] = true
	lm.tasks[pid] = cg
}

func (lm *lifecycleModel) pickTask(t *rapid.T) int {
	var pids []int
	for pid := range lm.tasks {
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		return 0
	}
	sort.Ints(pids)
	return rapid.SampledFrom(pids).Draw(t, "pid")
}

// Move writes a task's pid to another cgroup's cgroup.procs.
func (lm *lifecycleModel) Move(t *rapid.T) {
	pid := lm.pickTask(t)
	if pid == 0 {
		return
	}
	dst := lm.pickLiveCgroup(t, "dst")
	fd, err := lm.p.Open(cgPath(dst.path)+"/cgroup.procs", unix.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lm.p.Write(fd, []byte(fmt.Sprint(pid)))
	_ = lm.p.Close(fd)
	if err != nil {
		t.Fatalf("move %d to %q: %v", pid, dst.path, err)
	}
	delete(lm.tasks[pid].tasks, pid)
	dst.tasks[pid] = true
	lm.tasks[pid] = dst
}

func (lm *lifecycleModel) TaskExit(t *rapid.T) {
	pid := lm.pickTask(t)
	if pid == 0 {
		return
	}
	if err := lm.p.TaskExit(pid); err != nil {
		t.Fatal(err)
	}
	delete(lm.tasks[pid].tasks, pid)
	delete(lm.tasks, pid)
}

// pickExposedPath draws a path where an exposure may be.
func (lm *lifecycleModel) pickExposedPath(t *rapid.T) (string, string) {
	if len(lm.exps) > 0 && rapid.Bool().Draw(t, "live") {
		var ps []string
		for p := range lm.exps {
			ps = append(ps, p)
		}
		sort.Strings(ps)
		full := rapid.SampledFrom(ps).Draw(t, "exposure")
		return strings.TrimPrefix(full, kernel.CgroupPath), full
	}
	rel := lm.pickDir(t) + "/" + rapid.SampledFrom(exposedNames).Draw(t, "name")
	return rel, cgPath(rel)
}

// output is what reading e gives, or the errno.
func (lm *lifecycleModel) output(e *mexp) (string, unix.Errno) {
	o := e.obj
	if !o.view() {
		return "", unix.EACCES
	}
	prog := o.prog
	if prog.ret == 1 {
		return "", 0
	}
	v := prog.dflt
	if len(prog.maps) > 0 {
		if x, ok := prog.maps[0].vals[e.cg.id]; ok {
			v = x
		}
	}
	return fmt.Sprintf("%d %d\n", e.cg.id, v), 0
}

// ReadView reads a path where an exposure may be (open, read, close).
func (lm *lifecycleModel) ReadView(t *rapid.T) {
	rel, full := lm.pickExposedPath(t)
	got, err := lm.p.ReadFile(full)
	e := lm.exps[full]
	switch {
	case e != nil:
		want, errno := lm.output(e)
		expect(t, "read "+full, err, errno)
		if errno == 0 && string(got) != want {
			t.Fatalf("read %s: %q, want %q", full, got, want)
		}
	case lm.taken(rel) == "cgroup":
		expect(t, "read "+full, err, unix.EISDIR)
	case lm.taken(rel) == "file":
		expect(t, "read "+full, err, 0)
	default:
		expect(t, "read "+full, err, lm.missing(rel))
	}
}

// BPF_OBJ_GET of an exposure: not a bpffs inode.
func (lm *lifecycleModel) ObjGetExposure(t *rapid.T) {
	_, full := lm.pickExposedPath(t)
	fd, err := lm.p.ObjGet(full, 0)
	if err == nil {
		_ = lm.p.Close(fd)
	}
	if lm.exps[full] != nil {
		expect(t, "obj get "+full, err, unix.EACCES)
	}
}

var (
	rmWrites      = []string{"rm", "rm\n", "rm\x00", "rm\x00junk", "rm\n\x00\n"}
	garbageWrites = []string{"xxx", "rm\n\n", "rm ", " rm", "r", "rmx", "RM", "\nrm", "rm\r\n"}
)

// Write writes "rm" or garbage to a path where an exposure may be.
func (lm *lifecycleModel) Write(t *rapid.T) {
	rel, full := lm.pickExposedPath(t)
	rm := rapid.Bool().Draw(t, "rm")
	data := rapid.SampledFrom(garbageWrites).Draw(t, "garbage")
	if rm {
		data = rapid.SampledFrom(rmWrites).Draw(t, "rm write")
	}
	e := lm.exps[full]
	if e == nil && lm.taken(rel) != "" {
		return // not an exposure
	}
	fd, err := lm.p.Open(full, unix.O_WRONLY, 0)
	if e == nil {
		expect(t, "open "+full, err, lm.missing(rel))
		return
	}
	expect(t, "open "+full, err, 0)
	n, err := lm.p.Write(fd, []byte(data))
	_ = lm.p.Close(fd)
	if !rm {
		expect(t, fmt.Sprintf("write %q to %s", data, full), err, unix.EINVAL)
		return
	}
	expect(t, fmt.Sprintf("write %q to %s", data, full), err, 0)
	if n != len(data) {
		t.Fatalf("write %q: %d bytes", data, n)
	}
	lm.removeExp(full, "rm")
}

// Open keeps an exposure open in p.
func (lm *lifecycleModel) Open(t *rapid.T) {
	if len(lm.exps) == 0 {
		return
	}
	var ps []string
	for p := range lm.exps {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	full := rapid.SampledFrom(ps).Draw(t, "exposure")
	fd, err := lm.p.Open(full, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	lm.opens = append(lm.opens, &mopen{fd: fd, exp: lm.exps[full]})
}

// ReadOpen reads an open exposure at offset 0: the output while it
// exists, ENODEV once it is gone.
func (lm *lifecycleModel) ReadOpen(t *rapid.T) {
	if len(lm.opens) == 0 {
		return
	}
	o := rapid.SampledFrom(lm.opens).Draw(t, "open")
	buf := make([]byte, 4096)
	n, err := lm.p.Pread(o.fd, buf, 0)
	if lm.exps[o.exp.path] != o.exp {
		expect(t, "pread "+o.exp.path, err, unix.ENODEV)
		return
	}
	want, errno := lm.output(o.exp)
	expect(t, "pread "+o.exp.path, err, errno)
	if errno == 0 && string(buf[:n]) != want {
		t.Fatalf("pread %s: %q, want %q", o.exp.path, buf[:n], want)
	}
}

func (lm *lifecycleModel) CloseOpen(t *rapid.T) {
	if len(lm.opens) == 0 {
		return
	}
	i := rapid.IntRange(0, len(lm.opens)-1).Draw(t, "open")
	if err := lm.p.Close(lm.opens[i].fd); err != nil {
		t.Fatal(err)
	}
	lm.opens = append(lm.opens[:i:i], lm.opens[i+1:]...)
}

// Check compares the machine with the model after every step.
func (lm *lifecycleModel) Check(t *rapid.T) {
	lm.settle()
	// Exposures: exactly the model's, each where the model says.
	live := map[uint64]string{}
	for _, x := range lm.m.View().Exposures() {
		live[x.Node.ID()] = x.Path
	}
	if len(live) != len(lm.exps) {
		t.Fatalf("%d exposures, model has %d: %v", len(live), len(lm.exps), live)
	}
	for p, e := range lm.exps {
		if live[e.ino] != p {
			t.Fatalf("exposure %s (ino %d) is not listed: %v", p, e.ino, live)
		}
		st, err := lm.p.Stat(p)
		if err != nil || st.Ino != e.ino {
			t.Fatalf("stat %s: %v ino %d, want ino %d", p, err, st.Ino, e.ino)
		}
	}
	// Objects: exact reference counts, freed exactly when unreferenced,
	// back pointers on the model's first pin.
	for _, o := range lm.objs {
		if o.freed {
			if !o.obj.Freed() {
				t.Fatalf("%s %s not freed, refs %d", o.kind, objKey(o.obj), o.obj.Refs())
			}
			continue
		}
		if o.obj.Freed() {
			t.Fatalf("%s %s freed while referenced (model refs %d)", o.kind, objKey(o.obj), lm.refs(o))
		}
		if want := lm.refs(o); o.obj.Refs() != want {
			t.Fatalf("%s %s: refs %d, want %d", o.kind, objKey(o.obj), o.obj.Refs(), want)
		}
		var want uint64
		if o.pin != nil {
			want = o.pin.ino
		}
		var got uint64
		if in := o.obj.BackingInode(); in != nil {
			got = in.Ino()
		}
		if got != want {
			t.Fatalf("%s %s: back pointer ino %d, want %d", o.kind, objKey(o.obj), got, want)
		}
	}
	// The event stream: every free once, the exposure removals of the
	// step with their paths and reasons, one unpin per dead pin inode.
	evs := lm.rec.Events()
	gone := map[string]string{}
	unpins := 0
	for _, ev := range evs[lm.seen:] {
		switch ev.Kind {
		case events.ObjectFreed:
			k := fmt.Sprintf("%s/%d", ev.ObjType, ev.ObjID)
			if seen, ok := lm.freed[k]; !ok || seen {
				t.Fatalf("unexpected free event %s (model: known %v, seen %v)", k, ok, seen)
			}
			lm.freed[k] = true
		case events.ExposureRemoved:
			if _, dup := gone[ev.Path]; dup {
				t.Fatalf("exposure %s removed twice", ev.Path)
			}
			gone[ev.Path] = ev.Reason
		case events.Unpinned:
			unpins++
		}
	}
	lm.seen = len(evs)
	for k, seen := range lm.freed {
		if !seen {
			t.Fatalf("no free event for %s", k)
		}
	}
	if fmt.Sprint(gone) != fmt.Sprint(lm.gone) {
		t.Fatalf("exposures removed: events %v, model %v", gone, lm.gone)
	}
	if unpins != lm.unpin {
		t.Fatalf("%d unpin events, model %d", unpins, lm.unpin)
	}
	lm.gone = map[string]string{}
	lm.unpin = 0
}

func TestLifecycleModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		lm := &lifecycleModel{}
		lm.init(t)
		defer lm.cleanup()
		// Some actions twice or three times: they build the states
		// the others need.
		t.Repeat(map[string]func(*rapid.T){
			"":               lm.Check,
			"loadView2":      lm.LoadView,
			"linkCreate2":    lm.LinkCreate,
			"pin2":           lm.Pin,
			"pin3":           lm.Pin,
			"expose2":        lm.Expose,
			"expose3":        lm.Expose,
			"mkdir2":         lm.Mkdir,
			"readView2":      lm.ReadView,
			"loadView":       lm.LoadView,
			"loadOther":      lm.LoadOther,
			"mapCreate":      lm.MapCreate,
			"mapUpdate":      lm.MapUpdate,
			"linkCreate":     lm.LinkCreate,
			"close":          lm.Close,
			"exitQ":          lm.ExitQ,
			"objGet":         lm.ObjGet,
			"pin":            lm.Pin,
			"hardLink":       lm.HardLink,
			"unlink":         lm.Unlink,
			"rename":         lm.Rename,
			"expose":         lm.Expose,
			"mkdir":          lm.Mkdir,
			"rmdir":          lm.Rmdir,
			"spawn":          lm.Spawn,
			"move":           lm.Move,
			"taskExit":       lm.TaskExit,
			"readView":       lm.ReadView,
			"objGetExposure": lm.ObjGetExposure,
			"write":          lm.Write,
			"open":           lm.Open,
			"readOpen":       lm.ReadOpen,
			"closeOpen":      lm.CloseOpen,
		})
	})
}
