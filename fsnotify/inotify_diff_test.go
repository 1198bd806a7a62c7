package fsnotify_test

// Event sequences of inotify on simfs compared with inotify on the running
// kernel (a ramfs in a private mount namespace, see vfs/vfstest), operation
// by operation. Without root the simfs side still runs and its events are
// checked against the expectations written in the table.

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/simfs/simfs/fsnotify"
	"github.com/simfs/simfs/vfs/vfstest"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// istep is an operation, or an inotify action (watch, rmwatch), and the
// events that must be read right after it.
type istep struct {
	op      vfstest.Op
	watch   string // name of a watch to add (path, mask)
	rmwatch string // name of a watch to remove
	path    string
	mask    uint32
	events  []string // expected, as formatted by eventNamer; nil: none
	wantErr syscall.Errno
}

func (s istep) want() syscall.Errno {
	if s.watch != "" || s.rmwatch != "" {
		return s.wantErr
	}
	return s.op.Want
}

func do(o vfstest.Op, events ...string) istep { return istep{op: o, events: events} }

func watch(name, path string, mask uint32, events ...string) istep {
	return istep{watch: name, path: path, mask: mask, events: events}
}

func rmwatch(name string, events ...string) istep {
	return istep{rmwatch: name, events: events}
}

var maskNames = []struct {
	bit  uint32
	name string
}{
	{unix.IN_ACCESS, "ACCESS"},
	{unix.IN_MODIFY, "MODIFY"},
	{unix.IN_ATTRIB, "ATTRIB"},
	{unix.IN_CLOSE_WRITE, "CLOSE_WRITE"},
	{unix.IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"},
	{unix.IN_OPEN, "OPEN"},
	{unix.IN_MOVED_FROM, "MOVED_FROM"},
	{unix.IN_MOVED_TO, "MOVED_TO"},
	{unix.IN_CREATE, "CREATE"},
	{unix.IN_DELETE, "DELETE"},
	{unix.IN_DELETE_SELF, "DELETE_SELF"},
	{unix.IN_MOVE_SELF, "MOVE_SELF"},
	{unix.IN_UNMOUNT, "UNMOUNT"},
	{unix.IN_Q_OVERFLOW, "Q_OVERFLOW"},
	{unix.IN_IGNORED, "IGNORED"},
	{unix.IN_ISDIR, "ISDIR"},
}

func maskString(m uint32) string {
	var parts []string
	for _, n := range maskNames {
		if m&n.bit != 0 {
			parts = append(parts, n.name)
			m &^= n.bit
		}
	}
	if m != 0 {
		parts = append(parts, fmt.Sprintf("%#x", m))
	}
	return strings.Join(parts, "|")
}

// eventNamer formats events with watch names instead of descriptors and
// cookies numbered by first sight.
type eventNamer struct {
	wds     map[int32]string
	cookies map[uint32]string
}

func (n *eventNamer) fmt(wd int32, mask, cookie uint32, name string) string {
	w, ok := n.wds[wd]
	if !ok {
		w = fmt.Sprintf("wd%d", wd)
	}
	s := w + " " + maskString(mask)
	if name != "" {
		s += " " + name
	}
	if cookie != 0 {
		c, ok := n.cookies[cookie]
		if !ok {
			c = fmt.Sprintf("c%d", len(n.cookies)+1)
			n.cookies[cookie] = c
		}
		s += " " + c
	}
	return s
}

// iBackend is an implementation with inotify.
type iBackend interface {
	vfstest.Backend
	addWatch(path string, mask uint32) (int32, syscall.Errno)
	rmWatch(wd int32) syscall.Errno
	read() []string
	close()
	namer() *eventNamer
}

type simInotify struct {
	*vfstest.Simfs
	reg *fsnotify.Registry
	in  *fsnotify.Inotify
	n   eventNamer
}

func newSimInotify() *simInotify {
	b := vfstest.NewSimfs()
	reg := fsnotify.New(b.V)
	return &simInotify{Simfs: b, reg: reg, in: reg.NewInotify(fsnotify.InotifyOptions{}),
		n: eventNamer{wds: map[int32]string{}, cookies: map[uint32]string{}}}
}

func (s *simInotify) namer() *eventNamer { return &s.n }

func (s *simInotify) addWatch(path string, mask uint32) (int32, syscall.Errno) {
	wd, err := s.in.AddWatch(s.C, path, mask)
	if err != nil {
		return -1, err.(syscall.Errno)
	}
	return wd, 0
}

func (s *simInotify) rmWatch(wd int32) syscall.Errno {
	if err := s.in.RmWatch(wd); err != nil {
		return err.(syscall.Errno)
	}
	return 0
}

func (s *simInotify) read() []string {
	var out []string
	for _, e := range s.in.Read() {
		out = append(out, s.n.fmt(e.Wd, e.Mask, e.Cookie, e.Name))
	}
	return out
}

func (s *simInotify) close() {
	s.Simfs.Close()
	s.in.Close()
	s.reg.Close()
}

type kernelInotify struct {
	*vfstest.Kernel
	fd int
	n  eventNamer
}

func newKernelInotify(t *testing.T) *kernelInotify {
	k := vfstest.NewKernel(t, "ramfs")
	b := &kernelInotify{Kernel: k, n: eventNamer{wds: map[int32]string{}, cookies: map[uint32]string{}}}
	var err error
	k.SB.Do(func() { b.fd, err = unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC) })
	require.NoError(t, err)
	return b
}

func (k *kernelInotify) namer() *eventNamer { return &k.n }

func (k *kernelInotify) addWatch(path string, mask uint32) (wd int32, e syscall.Errno) {
	k.SB.Do(func() {
		w, err := unix.InotifyAddWatch(k.fd, path, mask)
		wd, e = int32(w), errnoOf(err)
	})
	return
}

func (k *kernelInotify) rmWatch(wd int32) (e syscall.Errno) {
	k.SB.Do(func() {
		_, err := unix.InotifyRmWatch(k.fd, uint32(wd))
		e = errnoOf(err)
	})
	return
}

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return err.(syscall.Errno)
}

func (k *kernelInotify) read() []string {
	var out []string
	k.SB.Do(func() {
		buf := make([]byte, 1<<16)
		for {
			n, err := unix.Read(k.fd, buf)
			if err != nil || n <= 0 {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				name := ""
				if ev.Len > 0 {
					b := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
					name = strings.TrimRight(string(b), "\x00")
				}
				out = append(out, k.n.fmt(ev.Wd, ev.Mask, ev.Cookie, name))
				off += unix.SizeofInotifyEvent + int(ev.Len)
			}
		}
	})
	return out
}

func (k *kernelInotify) close() {
	k.Kernel.Close()
	k.SB.Do(func() { unix.Close(k.fd) })
}

// run performs the steps and returns, per step, the errno and the events.
func runInotify(b iBackend, steps []istep) (out []string, errs []syscall.Errno) {
	wds := map[string]int32{}
	for _, s := range steps {
		var line string
		switch {
		case s.watch != "":
			wd, e := b.addWatch(s.path, s.mask)
			errs = append(errs, e)
			if e == 0 {
				wds[s.watch] = wd
				b.namer().wds[wd] = s.watch
			}
			line = fmt.Sprintf("watch %s %s %s => %s", s.watch, s.path, maskString(s.mask), vfstest.ErrName(e))
		case s.rmwatch != "":
			e := b.rmWatch(wds[s.rmwatch])
			errs = append(errs, e)
			line = fmt.Sprintf("rmwatch %s => %s", s.rmwatch, vfstest.ErrName(e))
		default:
			_, e := b.Run(s.op)
			errs = append(errs, e)
			line = fmt.Sprintf("%s => %s", s.op, vfstest.ErrName(e))
		}
		evs := b.read()
		out = append(out, line+"\n\t"+strings.Join(evs, "\n\t"))
	}
	return out, errs
}

func expected(steps []istep) []string {
	var out []string
	for _, s := range steps {
		out = append(out, strings.Join(s.events, "\n\t"))
	}
	return out
}

func eventsOnly(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		_, ev, _ := strings.Cut(l, "\n\t")
		out[i] = ev
	}
	return out
}

type iscript struct {
	name  string
	steps []istep
}

func runIScripts(t *testing.T, scripts []iscript) {
	for _, sc := range scripts {
		t.Run(sc.name, func(t *testing.T) {
			sim := newSimInotify()
			got, errs := runInotify(sim, sc.steps)
			sim.close()
			want := expected(sc.steps)
			simEv := eventsOnly(got)
			for i, s := range sc.steps {
				require.Equalf(t, vfstest.ErrName(s.want()), vfstest.ErrName(errs[i]), "simfs errno of step %d:\n%s", i, strings.Join(got[:i+1], "\n"))
				require.Equalf(t, want[i], simEv[i], "simfs events after step %d:\n%s", i, strings.Join(got[:i+1], "\n"))
			}
			if testing.Short() || vfstest.Available() != nil {
				return
			}
			k := newKernelInotify(t)
			kgot, _ := runInotify(k, sc.steps)
			k.close()
			for i := range sc.steps {
				require.Equalf(t, kgot[i], got[i], "step %d: linux vs simfs; linux so far:\n%s", i, strings.Join(kgot[:i+1], "\n"))
			}
		})
	}
}
