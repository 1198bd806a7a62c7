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
// only when its inode died, it was destroyed or its group closed; the
// per-inode and per-group counts follow.

type mfile struct {
	in    *vfs.Inode
	names int
	open  []*vfs.File
	dead  bool
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
	names  map[string]*mfile
	marks  []*mmark
	next   int
}

func newMarkMachine() *markMachine {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	mm := &markMachine{v: v, c: &vfs.Caller{}, reg: fsnotify.New(v), names: map[string]*mfile{}}
	for i := 0; i < 3; i++ {
		mm.groups = append(mm.groups, mm.reg.NewGroup(fsnotify.GroupOps{}))
		mm.closed = append(mm.closed, false)
	}
	return mm
}

func (mm *markMachine) die(f *mfile) {
	if f.names == 0 && len(f.open) == 0 && !f.dead {
		f.dead = true
		for _, k := range mm.marks {
			if k.file == f && k.expect == 0 {
				k.expect = fsnotify.ReasonInodeRemoved
			}
		}
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
	if rapid.Bool().Draw(t, "keep open") {
		mf.open = append(mf.open, f)
	} else {
		f.Close()
	}
	mm.files = append(mm.files, mf)
	mm.names[name] = mf
}

func (mm *markMachine) Link(t *rapid.T) {
	old := mm.nameOf(t)
	name := fmt.Sprintf("/f%d", mm.next)
	mm.next++
	if err := mm.v.Link(mm.c, old, name); err != nil {
		t.Fatal(err)
	}
	mm.names[name] = mm.names[old]
	mm.names[name].names++
}

func (mm *markMachine) Unlink(t *rapid.T) {
	name := mm.nameOf(t)
	if err := mm.v.Unlink(mm.c, name); err != nil {
		t.Fatal(err)
	}
	f := mm.names[name]
	delete(mm.names, name)
	f.names--
	mm.die(f)
}

func (mm *markMachine) Open(t *rapid.T) {
	name := mm.nameOf(t)
	f, err := mm.v.Open(mm.c, name, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	mf := mm.names[name]
	mf.open = append(mf.open, f)
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
	if err := f.open[0].Close(); err != nil {
		t.Fatal(err)
	}
	f.open = f.open[1:]
	mm.die(f)
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
	case f.dead:
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
		if f.in.Destroyed() != f.dead {
			t.Fatalf("inode %d: destroyed %v, model %v", f.in.Ino(), f.in.Destroyed(), f.dead)
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
			o.Close()
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
