package fsnotify_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simfs/simfs/fsnotify"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type env struct {
	v       *vfs.VFS
	c       *vfs.Caller
	reg     *fsnotify.Registry
	evicted map[*vfs.Inode]int
	mu      sync.Mutex
}

func newEnv(t *testing.T) *env {
	e := &env{c: &vfs.Caller{}, evicted: map[*vfs.Inode]int{}}
	fs := &vfs.RamFS{Evicted: func(in *vfs.Inode) {
		e.mu.Lock()
		e.evicted[in]++
		e.mu.Unlock()
	}}
	e.v = vfs.New(fs, vfs.RamDirOps(), 0755, vfs.Options{})
	e.reg = fsnotify.New(e.v)
	t.Cleanup(e.reg.Close)
	return e
}

func (e *env) create(t *testing.T, path string) *vfs.Inode {
	t.Helper()
	f, err := e.v.Open(e.c, path, unix.O_CREAT|unix.O_WRONLY, 0644)
	require.NoError(t, err)
	in := f.Inode()
	require.NoError(t, f.Close())
	return in
}

// recorder collects what happens to marks, in order.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.log
	r.log = nil
	return l
}

func (r *recorder) ops(name string) fsnotify.GroupOps {
	return fsnotify.GroupOps{
		HandleEvent: func(m *fsnotify.Mark, ev fsnotify.Event) {
			s := name + " " + m.Private.(string) + " " + maskString(ev.Mask&^fsnotify.EventOnChild)
			if ev.Mask&fsnotify.EventOnChild != 0 {
				s += " onchild"
			}
			if ev.Name != "" {
				s += " " + ev.Name
			}
			r.add(s)
		},
		FreeingMark: func(m *fsnotify.Mark, why fsnotify.Reason) {
			r.add(name + " freeing " + m.Private.(string) + " " + why.String())
		},
	}
}

func (r *recorder) mark(name string, mask uint32) *fsnotify.Mark {
	return &fsnotify.Mark{Mask: mask, Private: name, Freeing: func(m *fsnotify.Mark, why fsnotify.Reason) {
		r.add("free " + m.Private.(string))
	}}
}

func TestMarkFreedOnceWhenInodeDies(t *testing.T) {
	e := newEnv(t)
	var rec recorder
	g := e.reg.NewGroup(rec.ops("g"))
	f := e.create(t, "/f")
	require.NoError(t, e.v.Link(e.c, "/f", "/g"))
	m1 := rec.mark("m1", unix.IN_DELETE_SELF|unix.IN_ATTRIB)
	m2 := rec.mark("m2", 0)
	require.NoError(t, g.AddInodeMark(f, m1, false))
	require.ErrorIs(t, g.AddInodeMark(f, rec.mark("dup", 0), false), unix.EEXIST)
	require.NoError(t, g.AddInodeMark(f, m2, true))
	require.Equal(t, 2, e.reg.Marks(f))
	require.Equal(t, 2, g.Len())
	require.Same(t, m1, g.FindMark(f))

	// A name goes: IN_ATTRIB only.
	require.NoError(t, e.v.Unlink(e.c, "/g"))
	require.Equal(t, []string{"g m1 ATTRIB"}, rec.take())
	require.True(t, m1.Attached())

	// Open, last name goes: nothing dies while open.
	file, err := e.v.Open(e.c, "/f", unix.O_RDONLY, 0)
	require.NoError(t, err)
	require.NoError(t, e.v.Unlink(e.c, "/f"))
	require.Equal(t, []string{"g m1 ATTRIB"}, rec.take())
	require.Zero(t, e.evicted[f])
	require.NoError(t, file.Close())
	require.Equal(t, []string{
		"g m1 DELETE_SELF",
		"g freeing m1 inode removed", "free m1",
		"g freeing m2 inode removed", "free m2",
	}, rec.take())
	require.Equal(t, 1, e.evicted[f])
	require.False(t, m1.Attached())
	require.False(t, m2.Attached())
	require.Zero(t, e.reg.Marks(f))
	require.Zero(t, g.Len())
	require.False(t, g.DestroyMark(m1), "already destroyed")
	require.Empty(t, rec.take())

	// Dead inodes cannot be watched; marks cannot be reused.
	require.ErrorIs(t, g.AddInodeMark(f, rec.mark("late", 0), true), unix.ENOENT)
	h := e.create(t, "/h")
	require.ErrorIs(t, g.AddInodeMark(h, m1, true), unix.EINVAL)
}

func TestDestroyMarkAndGroupClose(t *testing.T) {
	e := newEnv(t)
	var rec recorder
	g := e.reg.NewGroup(rec.ops("g"))
	f := e.create(t, "/f")
	ms := []*fsnotify.Mark{rec.mark("a", 0), rec.mark("b", 0), rec.mark("c", 0)}
	for _, m := range ms {
		require.NoError(t, g.AddInodeMark(f, m, true))
	}
	require.True(t, g.DestroyMark(ms[1]))
	require.Equal(t, []string{"g freeing b destroyed", "free b"}, rec.take())
	require.False(t, g.DestroyMark(ms[1]))
	other := e.reg.NewGroup(fsnotify.GroupOps{})
	require.False(t, other.DestroyMark(ms[0]), "not its mark")
	g.Close()
	require.Equal(t, []string{"g freeing a group closed", "free a", "g freeing c group closed", "free c"}, rec.take())
	require.ErrorIs(t, g.AddInodeMark(f, rec.mark("d", 0), true), unix.EINVAL)
	require.NoError(t, e.v.Unlink(e.c, "/f"))
	require.Empty(t, rec.take())
	other.Close()
}

func TestRegistryCloseFreesEverything(t *testing.T) {
	e := newEnv(t)
	var rec recorder
	g1 := e.reg.NewGroup(rec.ops("g1"))
	g2 := e.reg.NewGroup(rec.ops("g2"))
	f := e.create(t, "/f")
	require.NoError(t, g1.AddInodeMark(f, rec.mark("x", 0), true))
	require.NoError(t, g2.AddInodeMark(f, rec.mark("y", 0), true))
	e.reg.Close()
	log := rec.take()
	require.ElementsMatch(t, []string{"g1 freeing x group closed", "free x", "g2 freeing y group closed", "free y"}, log)
	// The registry no longer hears the VFS.
	require.NoError(t, e.v.Unlink(e.c, "/f"))
	require.Empty(t, rec.take())
	g3 := e.reg.NewGroup(fsnotify.GroupOps{})
	require.ErrorIs(t, g3.AddInodeMark(e.v.Root(), &fsnotify.Mark{}, true), unix.EINVAL)
}

func TestMarkEventsReachParentAndChild(t *testing.T) {
	e := newEnv(t)
	var rec recorder
	g := e.reg.NewGroup(rec.ops("g"))
	require.NoError(t, e.v.Mkdir(e.c, "/d", 0777))
	d, err := e.v.Resolve(e.c, "/d", true)
	require.NoError(t, err)
	f := e.create(t, "/d/f")
	// A directory mark without EventOnChild hears entry events only.
	require.NoError(t, g.AddInodeMark(d, rec.mark("dir", unix.IN_ALL_EVENTS), false))
	require.NoError(t, e.v.Chmod(e.c, "/d/f", 0600))
	require.Empty(t, rec.take())
	g2 := e.reg.NewGroup(rec.ops("g2"))
	require.NoError(t, g2.AddInodeMark(d, rec.mark("kids", unix.IN_ATTRIB|fsnotify.EventOnChild), false))
	require.NoError(t, g2.AddInodeMark(f, rec.mark("self", unix.IN_ATTRIB), false))
	require.NoError(t, e.v.Chmod(e.c, "/d/f", 0644))
	require.Equal(t, []string{"g2 kids ATTRIB onchild f", "g2 self ATTRIB"}, rec.take())
	require.NoError(t, e.v.Rename(e.c, "/d/f", "/d/g", 0))
	// Entry events reach the directory; "self" does not ask for MOVE_SELF.
	require.Equal(t, []string{"g dir MOVED_FROM f", "g dir MOVED_TO g"}, rec.take())
	// Unmounting hears IN_UNMOUNT only where asked.
	require.NoError(t, e.v.Mkdir(e.c, "/m", 0777))
	require.NoError(t, e.v.Mount(e.c, "/m", vfs.NewRamFS(e.v, 0777)))
	mroot, err := e.v.Resolve(e.c, "/m", true)
	require.NoError(t, err)
	require.NoError(t, g.AddInodeMark(mroot, rec.mark("mnt", unix.IN_UNMOUNT), false))
	require.NoError(t, g2.AddInodeMark(mroot, rec.mark("quiet", 0), false))
	require.NoError(t, e.v.Unmount(e.c, "/m"))
	require.Equal(t, []string{
		"g mnt UNMOUNT|ISDIR",
		"g freeing mnt unmounted", "free mnt",
		"g2 freeing quiet unmounted", "free quiet",
	}, rec.take())
}

// The freeing callback runs with no lock held: it may start VFS
// transactions, add and destroy marks — what bpf_watch_inode's callback
// (kernfs_remove) needs.
func TestFreeingMayReenter(t *testing.T) {
	e := newEnv(t)
	g := e.reg.NewGroup(fsnotify.GroupOps{})
	f := e.create(t, "/f")
	other := e.create(t, "/other")
	var (
		chained  *fsnotify.Mark
		freedAll atomic.Int32
	)
	m := &fsnotify.Mark{Freeing: func(m *fsnotify.Mark, why fsnotify.Reason) {
		assert.Equal(t, fsnotify.ReasonInodeRemoved, why)
		// A new VFS transaction, which itself kills an inode with a mark.
		assert.NoError(t, e.v.Mkdir(e.c, "/made-by-callback", 0700))
		assert.NoError(t, e.v.Unlink(e.c, "/other"))
		chained = &fsnotify.Mark{Freeing: func(*fsnotify.Mark, fsnotify.Reason) { freedAll.Add(1) }}
		assert.ErrorIs(t, g.AddInodeMark(other, chained, true), unix.ENOENT)
		freedAll.Add(1)
	}}
	om := &fsnotify.Mark{Freeing: func(*fsnotify.Mark, fsnotify.Reason) { freedAll.Add(1) }}
	require.NoError(t, g.AddInodeMark(other, om, true))
	require.NoError(t, g.AddInodeMark(f, m, true))
	require.NoError(t, e.v.Unlink(e.c, "/f"))
	require.EqualValues(t, 2, freedAll.Load())
	_, err := e.v.Stat(e.c, "/made-by-callback")
	require.NoError(t, err)
	g.Close()
}

// Inside a transaction (BPF_OBJ_PIN runs in one), marks can be added: the
// registry never takes the VFS lock.
func TestAddMarkInsideTxn(t *testing.T) {
	e := newEnv(t)
	g := e.reg.NewGroup(fsnotify.GroupOps{})
	f := e.create(t, "/f")
	freed := 0
	tx := e.v.Begin()
	require.NoError(t, g.AddInodeMark(f, &fsnotify.Mark{Freeing: func(*fsnotify.Mark, fsnotify.Reason) { freed++ }}, true))
	tx.End()
	require.NoError(t, e.v.Unlink(e.c, "/f"))
	require.Equal(t, 1, freed)
	g.Close()
}

// kernfs-style removal (DetachChild) destroys the inode without a link
// count change: as in Linux, no IN_DELETE_SELF and the marks stay (they
// would pin the inode) until removed.
func TestDetachedInodeKeepsMarks(t *testing.T) {
	e := newEnv(t)
	var rec recorder
	g := e.reg.NewGroup(rec.ops("g"))
	f := e.create(t, "/f")
	require.NoError(t, g.AddInodeMark(f, rec.mark("m", unix.IN_ALL_EVENTS), true))
	tx := e.v.Begin()
	tx.DetachChild(e.v.Root(), "f")
	tx.End()
	require.True(t, f.Destroyed())
	require.Empty(t, rec.take())
	require.Equal(t, 1, e.reg.Marks(f))
	g.Close()
	require.Equal(t, []string{"g freeing m group closed", "free m"}, rec.take())
}

func TestInotifyQueue(t *testing.T) {
	e := newEnv(t)
	in := e.reg.NewInotify(fsnotify.InotifyOptions{MaxQueuedEvents: 3})
	defer in.Close()
	require.NoError(t, e.v.Mkdir(e.c, "/d", 0777))
	wd, err := in.AddWatch(e.c, "/d", unix.IN_CREATE|unix.IN_ATTRIB)
	require.NoError(t, err)
	for _, n := range []string{"/d/a", "/d/b", "/d/c", "/d/e", "/d/f"} {
		e.create(t, n)
	}
	evs := in.Read()
	require.Len(t, evs, 4)
	require.Equal(t, fsnotify.InotifyEvent{Wd: wd, Mask: unix.IN_CREATE, Name: "a"}, evs[0])
	require.Equal(t, fsnotify.InotifyEvent{Wd: -1, Mask: unix.IN_Q_OVERFLOW}, evs[3])
	// Identical consecutive events merge.
	require.NoError(t, e.v.Chmod(e.c, "/d/a", 0600))
	require.NoError(t, e.v.Chmod(e.c, "/d/a", 0600))
	require.NoError(t, e.v.Chmod(e.c, "/d/b", 0600))
	require.Equal(t, []fsnotify.InotifyEvent{
		{Wd: wd, Mask: unix.IN_ATTRIB, Name: "a"},
		{Wd: wd, Mask: unix.IN_ATTRIB, Name: "b"},
	}, in.Read())
	require.Nil(t, in.Read())
	require.Equal(t, 1, in.Watches())
	// Permission: the watcher must be able to read the inode.
	require.NoError(t, e.v.Chmod(e.c, "/d/a", 0600))
	in.Read()
	_, err = in.AddWatch(&vfs.Caller{Cred: vfs.Cred{UID: 1000, GID: 1000}}, "/d/a", unix.IN_ALL_EVENTS)
	require.ErrorIs(t, err, unix.EACCES)
	require.NoError(t, in.Close())
	require.ErrorIs(t, in.Close(), unix.EBADF)
	_, err = in.AddWatch(e.c, "/d", unix.IN_CREATE)
	require.Error(t, err)
}
