package vfs_test

import (
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

// The model: a tree of nodes with link and open counts, and the errno
// Linux gives for each operation (checked against the kernel by the script
// tests; here it is the oracle for random sequences).

type mkind int

const (
	mDir mkind = iota
	mFile
	mLink
)

type mnode struct {
	id       int
	kind     mkind
	nlink    int
	open     int
	children map[string]*mnode // dirs
	ents     map[string]*ment  // dirs: the entries (dentries) of children
	parent   *mnode            // dirs
	removed  bool              // InodeRemoved: no links, and the entry that lost the last one is not held
	dead     bool              // evicted: no links, not open
}

// ment is a directory entry; open files hold the one they came through.
type ment struct {
	node   *mnode
	opens  int
	linked bool
}

type model struct {
	root  *mnode
	nodes []*mnode
}

func newModel() *model {
	m := &model{}
	m.root = m.node(mDir)
	m.root.nlink = 2
	return m
}

func (m *model) node(k mkind) *mnode {
	n := &mnode{id: len(m.nodes), kind: k, nlink: 1}
	if k == mDir {
		n.children = map[string]*mnode{}
		n.ents = map[string]*ment{}
		n.nlink = 2
	}
	m.nodes = append(m.nodes, n)
	return n
}

// parent resolves all but the last component of p ("/a/b/c" → dir of "c").
// Symlinks point nowhere (their target's parent does not exist): walking
// through one is ENOENT.
func (m *model) parent(p string) (*mnode, string, syscall.Errno) {
	comps := strings.Split(strings.Trim(p, "/"), "/")
	dir := m.root
	for _, c := range comps[:len(comps)-1] {
		n := dir.children[c]
		switch {
		case n == nil:
			return nil, "", unix.ENOENT
		case n.kind == mLink:
			return nil, "", unix.ENOENT
		case n.kind != mDir:
			return nil, "", unix.ENOTDIR
		}
		dir = n
	}
	return dir, comps[len(comps)-1], 0
}

func isAncestorOrSelf(a, d *mnode) bool {
	for x := d; x != nil; x = x.parent {
		if x == a {
			return true
		}
	}
	return false
}

// add links name in dir to n.
func (m *model) add(dir *mnode, name string, n *mnode) {
	dir.children[name] = n
	dir.ents[name] = &ment{node: n, linked: true}
}

// remove unlinks name from dir: the node loses a link (a directory both).
func (m *model) remove(dir *mnode, name string) {
	n := dir.children[name]
	e := dir.ents[name]
	delete(dir.children, name)
	delete(dir.ents, name)
	e.linked = false
	if n.kind == mDir {
		n.nlink = 0
	} else {
		n.nlink--
	}
	m.gone(e)
}

// gone is dentry_unlink_inode: an unlinked entry that nothing holds makes
// an inode without links removed; without links nor open files it dies.
func (m *model) gone(e *ment) {
	n := e.node
	if !e.linked && e.opens == 0 && n.nlink == 0 {
		n.removed = true
	}
	if n.nlink == 0 && n.open == 0 {
		n.dead = true
	}
}

func (m *model) mkdir(p string) syscall.Errno {
	dir, name, e := m.parent(p)
	if e != 0 {
		return e
	}
	if dir.children[name] != nil {
		return unix.EEXIST
	}
	n := m.node(mDir)
	n.parent = dir
	m.add(dir, name, n)
	dir.nlink++
	return 0
}

func (m *model) symlink(p string) syscall.Errno {
	dir, name, e := m.parent(p)
	if e != 0 {
		return e
	}
	if dir.children[name] != nil {
		return unix.EEXIST
	}
	m.add(dir, name, m.node(mLink))
	return 0
}

func (m *model) rmdir(p string) syscall.Errno {
	dir, name, e := m.parent(p)
	if e != 0 {
		return e
	}
	n := dir.children[name]
	switch {
	case n == nil:
		return unix.ENOENT
	case n.kind != mDir:
		return unix.ENOTDIR
	case len(n.children) != 0:
		return unix.ENOTEMPTY
	}
	dir.nlink--
	m.remove(dir, name)
	return 0
}

func (m *model) unlink(p string) syscall.Errno {
	dir, name, e := m.parent(p)
	if e != 0 {
		return e
	}
	n := dir.children[name]
	switch {
	case n == nil:
		return unix.ENOENT
	case n.kind == mDir:
		return unix.EISDIR
	}
	m.remove(dir, name)
	return 0
}

func (m *model) link(oldp, newp string) syscall.Errno {
	odir, oname, e := m.parent(oldp)
	if e != 0 {
		return e
	}
	old := odir.children[oname]
	if old == nil {
		return unix.ENOENT
	}
	dir, name, e := m.parent(newp)
	if e != 0 {
		return e
	}
	if dir.children[name] != nil {
		return unix.EEXIST
	}
	if old.kind == mDir {
		return unix.EPERM
	}
	m.add(dir, name, old)
	old.nlink++
	return 0
}

func (m *model) rename(oldp, newp string, flags uint32) syscall.Errno {
	odir, oname, e := m.parent(oldp)
	if e != 0 {
		return e
	}
	ndir, nname, e := m.parent(newp)
	if e != 0 {
		return e
	}
	src := odir.children[oname]
	if src == nil {
		return unix.ENOENT
	}
	dst := ndir.children[nname]
	if flags&unix.RENAME_NOREPLACE != 0 && dst != nil {
		return unix.EEXIST
	}
	exchange := flags&unix.RENAME_EXCHANGE != 0
	if exchange && dst == nil {
		return unix.ENOENT
	}
	if src.kind == mDir && isAncestorOrSelf(src, ndir) {
		return unix.EINVAL
	}
	if dst != nil && dst.kind == mDir && isAncestorOrSelf(dst, odir) {
		if exchange {
			return unix.EINVAL
		}
		return unix.ENOTEMPTY
	}
	if src == dst {
		return 0
	}
	if exchange {
		odir.children[oname], ndir.children[nname] = dst, src
		odir.ents[oname], ndir.ents[nname] = ndir.ents[nname], odir.ents[oname]
		if src.kind == mDir {
			src.parent = ndir
		}
		if dst.kind == mDir {
			dst.parent = odir
		}
		if odir != ndir && (src.kind == mDir) != (dst.kind == mDir) {
			if src.kind == mDir {
				odir.nlink--
				ndir.nlink++
			} else {
				odir.nlink++
				ndir.nlink--
			}
		}
		return 0
	}
	if dst != nil {
		switch {
		case src.kind == mDir && dst.kind != mDir:
			return unix.ENOTDIR
		case src.kind != mDir && dst.kind == mDir:
			return unix.EISDIR
		case dst.kind == mDir && len(dst.children) != 0:
			return unix.ENOTEMPTY
		}
		// The rename holds the target's entry until after its
		// events; the end result is the same as a plain removal.
		if dst.kind == mDir {
			ndir.nlink--
		}
		m.remove(ndir, nname)
	}
	ent := odir.ents[oname]
	delete(odir.children, oname)
	delete(odir.ents, oname)
	ndir.children[nname] = src
	ndir.ents[nname] = ent
	if src.kind == mDir {
		src.parent = ndir
		if odir != ndir {
			odir.nlink--
			ndir.nlink++
		}
	}
	return 0
}

// open returns the opened node and the entry it was opened through.
func (m *model) open(p string, create bool) (*mnode, *ment, syscall.Errno) {
	dir, name, e := m.parent(p)
	if e != 0 {
		return nil, nil, e
	}
	n := dir.children[name]
	switch {
	case n == nil && !create:
		return nil, nil, unix.ENOENT
	case n == nil:
		n = m.node(mFile)
		m.add(dir, name, n)
	case n.kind == mLink:
		return nil, nil, unix.ENOENT // dangling, its target's parent is missing
	case n.kind == mDir && create:
		return nil, nil, unix.EISDIR
	}
	n.open++
	ent := dir.ents[name]
	ent.opens++
	return n, ent, 0
}

// machine drives vfs and the model with the same operations.
type machine struct {
	v     *vfs.VFS
	c     *vfs.Caller
	m     *model
	inode map[int]*vfs.Inode // model id → inode
	files []openFile

	mu      sync.Mutex
	evicted map[*vfs.Inode]int
	removed map[*vfs.Inode]int
}

type openFile struct {
	f  *vfs.File
	id int
	e  *ment
}

type countNotifier struct{ mc *machine }

func (n countNotifier) Notify(vfs.Event) {}
func (n countNotifier) InodeRemoved(in *vfs.Inode) {
	n.mc.mu.Lock()
	n.mc.removed[in]++
	n.mc.mu.Unlock()
}
func (n countNotifier) Unmounted(*vfs.Inode) {}

func newMachine() *machine {
	mc := &machine{c: &vfs.Caller{}, m: newModel(), inode: map[int]*vfs.Inode{},
		evicted: map[*vfs.Inode]int{}, removed: map[*vfs.Inode]int{}}
	fs := &vfs.RamFS{Evicted: func(in *vfs.Inode) {
		mc.mu.Lock()
		mc.evicted[in]++
		mc.mu.Unlock()
	}}
	mc.v = vfs.New(fs, vfs.RamDirOps(), 0755, vfs.Options{})
	mc.v.AddNotifier(countNotifier{mc})
	mc.inode[0] = mc.v.Root()
	return mc
}

var pathGen = rapid.Custom(func(t *rapid.T) string {
	// Mostly shallow, so that operations meet each other's names.
	n := rapid.SampledFrom([]int{1, 1, 1, 2, 2, 3}).Draw(t, "depth")
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString("/")
		sb.WriteString(rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "name"))
	}
	return sb.String()
})

func (mc *machine) check(t *rapid.T, what string, got error, want syscall.Errno) {
	if vfs.Errno(got) != want {
		t.Fatalf("%s: simfs %v, model %v", what, vfstestErr(vfs.Errno(got)), vfstestErr(want))
	}
}

func vfstestErr(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return unix.ErrnoName(e)
}

// learn maps the node now at p to its inode.
func (mc *machine) learn(t *rapid.T, p string) {
	dir, name, e := mc.m.parent(p)
	if e != 0 {
		return
	}
	n := dir.children[name]
	if n == nil {
		return
	}
	if _, ok := mc.inode[n.id]; ok {
		return
	}
	in, err := mc.v.Resolve(mc.c, p, false)
	if err != nil {
		t.Fatalf("resolve %s: %v", p, err)
	}
	mc.inode[n.id] = in
}

func (mc *machine) Mkdir(t *rapid.T) {
	p := pathGen.Draw(t, "path")
	mc.check(t, "mkdir "+p, mc.v.Mkdir(mc.c, p, 0777), mc.m.mkdir(p))
	mc.learn(t, p)
}

func (mc *machine) Rmdir(t *rapid.T) {
	p := pathGen.Draw(t, "path")
	mc.check(t, "rmdir "+p, mc.v.Rmdir(mc.c, p), mc.m.rmdir(p))
}

func (mc *machine) Unlink(t *rapid.T) {
	p := pathGen.Draw(t, "path")
	mc.check(t, "unlink "+p, mc.v.Unlink(mc.c, p), mc.m.unlink(p))
}

func (mc *machine) Link(t *rapid.T) {
	a, b := pathGen.Draw(t, "old"), pathGen.Draw(t, "new")
	mc.check(t, "link "+a+" "+b, mc.v.Link(mc.c, a, b), mc.m.link(a, b))
}

func (mc *machine) Symlink(t *rapid.T) {
	p := pathGen.Draw(t, "path")
	mc.check(t, "symlink "+p, mc.v.Symlink(mc.c, "/zz/zz", p), mc.m.symlink(p))
	mc.learn(t, p)
}

func (mc *machine) Rename(t *rapid.T) {
	a, b := pathGen.Draw(t, "old"), pathGen.Draw(t, "new")
	flags := rapid.SampledFrom([]uint32{0, 0, unix.RENAME_NOREPLACE, unix.RENAME_EXCHANGE}).Draw(t, "flags")
	mc.check(t, "rename "+a+" "+b, mc.v.Rename(mc.c, a, b, flags), mc.m.rename(a, b, flags))
}

func (mc *machine) Open(t *rapid.T) {
	p := pathGen.Draw(t, "path")
	create := rapid.Bool().Draw(t, "create")
	flags := unix.O_RDONLY
	if create {
		flags = unix.O_CREAT | unix.O_RDWR
	}
	f, err := mc.v.Open(mc.c, p, flags, 0644)
	n, ent, want := mc.m.open(p, create)
	mc.check(t, "open "+p, err, want)
	if err != nil {
		return
	}
	if in, ok := mc.inode[n.id]; !ok {
		mc.inode[n.id] = f.Inode()
	} else if in != f.Inode() {
		t.Fatalf("open %s: got inode %d, model says node %d (inode %d)", p, f.Inode().Ino(), n.id, in.Ino())
	}
	mc.files = append(mc.files, openFile{f, n.id, ent})
}

func (mc *machine) Close(t *rapid.T) {
	if len(mc.files) == 0 {
		t.Skip("nothing open")
	}
	i := rapid.IntRange(0, len(mc.files)-1).Draw(t, "file")
	of := mc.files[i]
	mc.files = append(mc.files[:i], mc.files[i+1:]...)
	if err := of.f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	n := mc.m.nodes[of.id]
	n.open--
	of.e.opens--
	mc.m.gone(of.e)
}

// Check: link counts, destruction exactly once and only for dead nodes, the
// tree and readdir equal the model's, no destroyed inode reachable.
func (mc *machine) Check(t *rapid.T) {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	for _, n := range mc.m.nodes {
		in, ok := mc.inode[n.id]
		if !ok {
			continue
		}
		st := mc.v.Getattr(in)
		if int(st.Nlink) != n.nlink {
			t.Fatalf("node %d (ino %d): nlink %d, model %d", n.id, st.Ino, st.Nlink, n.nlink)
		}
		once := func(b bool) int {
			if b {
				return 1
			}
			return 0
		}
		if mc.evicted[in] != once(n.dead) {
			t.Fatalf("node %d (ino %d): evicted %d times, model dead=%v", n.id, st.Ino, mc.evicted[in], n.dead)
		}
		if mc.removed[in] != once(n.removed) {
			t.Fatalf("node %d (ino %d): InodeRemoved %d times, model removed=%v", n.id, st.Ino, mc.removed[in], n.removed)
		}
		if in.Destroyed() != n.dead || in.Removed() != n.removed {
			t.Fatalf("node %d: Destroyed() %v Removed() %v, model %v %v", n.id, in.Destroyed(), in.Removed(), n.dead, n.removed)
		}
	}
	var walk func(p string, n *mnode)
	walk = func(p string, n *mnode) {
		in, err := mc.v.Resolve(mc.c, p, false)
		if err != nil {
			t.Fatalf("resolve %s: %v", p, err)
		}
		if in.Destroyed() {
			t.Fatalf("%s reaches a destroyed inode", p)
		}
		if mapped, ok := mc.inode[n.id]; ok && mapped != in {
			t.Fatalf("%s: inode %d, model node %d is inode %d", p, in.Ino(), n.id, mapped.Ino())
		}
		if n.kind != mDir {
			return
		}
		ents, err := mc.v.ReadDir(mc.c, p)
		if err != nil {
			t.Fatalf("readdir %s: %v", p, err)
		}
		var got, want []string
		for _, e := range ents {
			got = append(got, e.Name)
		}
		for name := range n.children {
			want = append(want, name)
		}
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("readdir %s: %v, model %v", p, got, want)
		}
		for _, name := range want {
			walk(strings.TrimSuffix(p, "/")+"/"+name, n.children[name])
		}
	}
	walk("/", mc.m.root)
}

func (mc *machine) cleanup() {
	for _, of := range mc.files {
		of.f.Close()
	}
}

func TestVFSModel(t *testing.T) {
	// Some interleavings (a file open through one hard link while the last
	// other name goes) need a few hundred sequences to turn up: run ten
	// times rapid's default unless -short.
	rounds := 10
	if testing.Short() {
		rounds = 1
	}
	for i := 0; i < rounds; i++ {
		rapid.Check(t, func(t *rapid.T) {
			mc := newMachine()
			defer mc.cleanup()
			t.Repeat(rapid.StateMachineActions(mc))
		})
	}
}
