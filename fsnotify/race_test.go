package fsnotify_test

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/simfs/simfs/fsnotify"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// trackedMark counts its freeing calls.
type trackedMark struct {
	m     *fsnotify.Mark
	inode *vfs.Inode
	freed atomic.Int32
	why   atomic.Uint32
	early atomic.Bool // freed by InodeRemoved before the inode was removed
}

// Many goroutines unlink, open and close files that carry marks while
// others destroy marks, add new ones and read inotify events: every mark
// that was added is freed exactly once, before DestroyMark returns when
// DestroyMark wins, and an inode-removal free only once the inode is
// removed (with hard links, that can be while it is still open).
func TestExactlyOnceUnderRace(t *testing.T) {
	e := newEnv(t)
	const files = 48
	const marksPer = 6
	g := e.reg.NewGroup(fsnotify.GroupOps{})
	ino := e.reg.NewInotify(fsnotify.InotifyOptions{})
	defer ino.Close()
	require.NoError(t, e.v.Mkdir(e.c, "/d", 0777))
	_, err := ino.AddWatch(e.c, "/d", unix.IN_ALL_EVENTS)
	require.NoError(t, err)

	var (
		mu      sync.Mutex
		tracked []*trackedMark
	)
	newTracked := func(in *vfs.Inode) *trackedMark {
		tm := &trackedMark{inode: in}
		tm.m = &fsnotify.Mark{Mask: unix.IN_DELETE_SELF | unix.IN_ATTRIB, Freeing: func(m *fsnotify.Mark, why fsnotify.Reason) {
			if why == fsnotify.ReasonInodeRemoved && !tm.inode.Removed() {
				tm.early.Store(true)
			}
			tm.why.Store(uint32(why))
			tm.freed.Add(1)
		}}
		return tm
	}
	inodes := make([]*vfs.Inode, files)
	for i := range inodes {
		inodes[i] = e.create(t, fmt.Sprintf("/d/f%d", i))
		_, err := ino.AddWatch(e.c, fmt.Sprintf("/d/f%d", i), unix.IN_ALL_EVENTS)
		require.NoError(t, err)
		for j := 0; j < marksPer; j++ {
			tm := newTracked(inodes[i])
			require.NoError(t, g.AddInodeMark(inodes[i], tm.m, true))
			tracked = append(tracked, tm)
		}
	}

	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Unlinkers: open, unlink, write, close; sometimes a hard link first.
	for i := 0; i < files; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := fmt.Sprintf("/d/f%d", i)
			f, err := e.v.Open(e.c, p, unix.O_RDWR, 0)
			if err != nil {
				t.Error(err)
				return
			}
			if i%3 == 0 {
				if err := e.v.Link(e.c, p, p+"x"); err != nil {
					t.Error(err)
				}
			}
			if err := e.v.Unlink(e.c, p); err != nil {
				t.Error(err)
			}
			f.Write([]byte("x"))
			if i%3 == 0 {
				if err := e.v.Unlink(e.c, p+"x"); err != nil {
					t.Error(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Error(err)
			}
		}(i)
	}
	// Destroyers race the unlinkers for the same marks.
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for k := 0; k < files*marksPer; k++ {
				mu.Lock()
				tm := tracked[r.Intn(len(tracked))]
				mu.Unlock()
				if g.DestroyMark(tm.m) && tm.freed.Load() != 1 {
					t.Errorf("DestroyMark returned before the callback ran")
				}
			}
		}(int64(w))
	}
	// Adders put more marks on inodes that may be dying.
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewSource(99))
		for k := 0; k < files*4; k++ {
			in := inodes[r.Intn(files)]
			tm := newTracked(in)
			switch err := g.AddInodeMark(in, tm.m, true); err {
			case nil:
				mu.Lock()
				tracked = append(tracked, tm)
				mu.Unlock()
			case unix.ENOENT:
				if !in.Removed() {
					t.Errorf("ENOENT for an inode not removed")
				}
			default:
				t.Error(err)
			}
		}
	}()
	// A reader drains inotify and stats paths meanwhile.
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			ino.Read()
			e.v.ReadDir(e.c, "/d")
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()

	for _, in := range inodes {
		require.True(t, in.Destroyed())
		require.Zero(t, e.reg.Marks(in))
		require.Equal(t, 1, e.evicted[in])
	}
	require.Zero(t, g.Len())
	g.Close()
	for i, tm := range tracked {
		require.EqualValues(t, 1, tm.freed.Load(), "mark %d", i)
		require.False(t, tm.early.Load(), "mark %d freed before its inode died", i)
		why := fsnotify.Reason(tm.why.Load())
		require.Contains(t, []fsnotify.Reason{fsnotify.ReasonInodeRemoved, fsnotify.ReasonDestroyed}, why)
	}
	// Every inotify watch on a file ended with IN_IGNORED, once.
	ino.Read()
	require.Equal(t, 1, ino.Watches())
}
