package fsnotify_test

import (
	"fmt"
	"testing"

	"github.com/simfs/simfs/fsnotify"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

// A state machine over files (names, hard links, open descriptors), groups
// and marks: every mark is freed exactly once, for the right reason, and
// only when its inode was removed, it was destroyed or its group closed;
// the per-inode and per-group counts follow.
//
// An inode is removed (fsnotify_inoderemove) when it has no links left and
// the entry that lost the last one is not held open, or, if it is, when
// that entry's last open file closes (dentry_unlink_inode); it is dead
// (evicted) when it has no links and no open files.

type mfile struct {
	in      *vfs.Inode
	names   int
	open    []openEnt
	removed bool
	dead    bool
}

// mentry is one name of a file, which open files hold.
type mentry struct {
	f      *mfile
	opens  int
	linked bool
}

type openEnt struct {
	file *vfs.File
	e    *mentry
}

type mmark struct {
	m      *fsnotify.Mark
	file   *mfile
	group  int
	freed  int
	why    fsnotify.Reason
	expect fsnotify.Reason // 0 while it should be attached
}

type markMachine struct {
	v      *vfs.VFS
	c      *vfs.Caller
	reg    *fsnotify.Registry
	groups []*fsnotify.Group
	closed []bool
	files  []*mfile
	names  map[string]*mentry
	marks  []*mmark
	next   int
}

func newMarkMachine() *markMachine {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	mm := &markMachine{v: v, c: &vfs.Caller{}, reg: fsnotify.New(v), names: map[string]*mentry{}}
	for i := 0; i < 3; i++ {
		mm.groups = append(mm.groups, mm.reg.NewGroup(fsnotify.GroupOps{}))
		mm.closed = append(mm.closed, false)
	}
	return mm
}

// gone is called when e lost its name or an open file.
func (mm *markMachine) gone(e *mentry) {
	f := e.f
	if f.names == 0 && e.opens == 0 && !e.linked && !f.removed {
		f.removed = true
		for _, k := range mm.marks {
			if k.file == f && k.expect == 0 {
				k.expect = fsnotify.ReasonInodeRemoved
			}
		}
	}
	if f.names == 0 && len(f.open) == 0 {
		f.dead = true
	}
}

func (mm *markMachine) nameOf(t *rapid.T) string {
	var names []string
	for n := range mm.names {
		names = append(names, n)
	}
	if len(names) == 0 {
		t.Skip("no names")
	}
	// Map order is random; sort for reproducible draws.
	sortStrings(names)
	return rapid.SampledFrom(names).Draw(t, "name")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (mm *markMachine) Create(t *rapid.T) {
	name := fmt.Sprintf("/f%d", mm.next)
	mm.next++
	f, err := mm.v.Open(mm.c, name, unix.O_CREAT|unix.O_RDWR, 0644)
	if err != nil {
		t.Fatal(err)
	}
	mf := &mfile{in: f.Inode(), names: 1}
	e := &mentry{f: mf, linked: true}
	if rapid.Bool().Draw(t, "keep open") {
		mf.open = append(mf.open, openEnt{f, e})
		e.opens++
	} else {
		f.Close()
	}
	mm.files = append(mm.files, mf)
	mm.names[name] = e
}

func (mm *markMachine) Link(t *rapid.T) {
	old := mm.nameOf(t)
	name := fmt.Sprintf("/f%d", mm.next)
	mm.next++
	if err := mm.v.Link(mm.c, old, name); err != nil {
		t.Fatal(err)
	}
	f := mm.names[old].f
	mm.names[name] = &mentry{f: f, linked: true}
	f.names++
}

func (mm *markMachine) Unlink(t *rapid.T) {
	name := mm.nameOf(t)
	if err := mm.v.Unlink(mm.c, name); err != nil {
		t.Fatal(err)
	}
	e := mm.names[name]
	delete(mm.names, name)
	e.linked = false
	e.f.names--
	mm.gone(e)
}

func (mm *markMachine) Open(t *rapid.T) {
	name := mm.nameOf(t)
	f, err := mm.v.Open(mm.c, name, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	e := mm.names[name]
	e.opens++
	e.f.open = append(e.f.open, openEnt{f, e})
}

func (mm *markMachine) Close(t *rapid.T) {
	var open []*mfile
	for _, f := range mm.files {
		if len(f.open) > 0 {
			open = append(open, f)
		}
	}
	if len(open) == 0 {
		t.Skip("nothing open")
	}
	f := rapid.SampledFrom(open).Draw(t, "file")
	i := rapid.IntRange(0, len(f.open)-1).Draw(t, "descriptor")
	oe := f.open[i]
	if err := oe.file.Close(); err != nil {
		t.Fatal(err)
	}
	f.open = append(f.open[:i], f.open[i+1:]...)
	oe.e.opens--
	mm.gone(oe.e)
}

func (mm *markMachine) AddMark(t *rapid.T) {
	if len(mm.files) == 0 {
		t.Skip("no files")
	}
	f := rapid.SampledFrom(mm.files).Draw(t, "file")
	gi := rapid.IntRange(0, len(mm.groups)-1).Draw(t, "group")
	dups := rapid.Bool().Draw(t, "allowDups")
	k := &mmark{file: f, group: gi}
	k.m = &fsnotify.Mark{Mask: unix.IN_DELETE_SELF, Freeing: func(m *fsnotify.Mark, why fsnotify.Reason) {
		k.freed++
		k.why = why
	}}
	err := mm.groups[gi].AddInodeMark(f.in, k.m, dups)
	var want error
	switch {
	case mm.closed[gi]:
		want = unix.EINVAL
	case f.removed:
		want = unix.ENOENT
	case !dups && mm.hasMark(f, gi):
		want = unix.EEXIST
	}
	if err != want {
		t.Fatalf("AddInodeMark: %v, want %v", err, want)
	}
	if err == nil {
		mm.marks = append(mm.marks, k)
	}
}

func (mm *markMachine) hasMark(f *mfile, gi int) bool {
	for _, k := range mm.marks {
		if k.file == f && k.group == gi && k.expect == 0 {
			return true
		}
	}
	return false
}

func (mm *markMachine) DestroyMark(t *rapid.T) {
	if len(mm.marks) == 0 {
		t.Skip("no marks")
	}
	k := rapid.SampledFrom(mm.marks).Draw(t, "mark")
	got := mm.groups[k.group].DestroyMark(k.m)
	if got != (k.expect == 0) {
		t.Fatalf("DestroyMark = %v for a mark expected %v", got, k.expect)
	}
	if got {
		k.expect = fsnotify.ReasonDestroyed
	}
}

func (mm *markMachine) CloseGroup(t *rapid.T) {
	gi := rapid.IntRange(0, len(mm.groups)-1).Draw(t, "group")
	mm.groups[gi].Close()
	mm.closed[gi] = true
	for _, k := range mm.marks {
		if k.group == gi && k.expect == 0 {
			k.expect = fsnotify.ReasonGroupClosed
		}
	}
}

func (mm *markMachine) Check(t *rapid.T) {
	perInode := map[*vfs.Inode]int{}
	perGroup := make([]int, len(mm.groups))
	for i, k := range mm.marks {
		if k.expect == 0 {
			if k.freed != 0 || !k.m.Attached() {
				t.Fatalf("mark %d freed %d times (%v) but should be attached", i, k.freed, k.why)
			}
			perInode[k.file.in]++
			perGroup[k.group]++
			continue
		}
		if k.freed != 1 || k.why != k.expect {
			t.Fatalf("mark %d freed %d times for %v, want once for %v", i, k.freed, k.why, k.expect)
		}
		if k.m.Attached() {
			t.Fatalf("mark %d freed but attached", i)
		}
	}
	for _, f := range mm.files {
		if got := mm.reg.Marks(f.in); got != perInode[f.in] {
			t.Fatalf("inode %d: %d marks, model %d", f.in.Ino(), got, perInode[f.in])
		}
		if f.in.Destroyed() != f.dead || f.in.Removed() != f.removed {
			t.Fatalf("inode %d: destroyed %v removed %v, model %v %v", f.in.Ino(), f.in.Destroyed(), f.in.Removed(), f.dead, f.removed)
		}
	}
	for i, g := range mm.groups {
		if g.Len() != perGroup[i] {
			t.Fatalf("group %d: %d marks, model %d", i, g.Len(), perGroup[i])
		}
	}
}

func (mm *markMachine) cleanup() {
	for _, f := range mm.files {
		for _, o := range f.open {
			o.file.Close()
		}
	}
	mm.reg.Close()
}

func TestMarkModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mm := newMarkMachine()
		defer mm.cleanup()
		t.Repeat(rapid.StateMachineActions(mm))
	})
}
