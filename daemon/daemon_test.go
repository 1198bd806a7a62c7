package daemon

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testDaemon is a daemon on a real unix socket, over an in-process
// machine, without FUSE.
type testDaemon struct {
	m      *kernel.Machine
	srv    *Server
	socket string
	rec    *events.Recorder
}

func startDaemon(t *testing.T) *testDaemon {
	t.Helper()
	m, err := kernel.Boot(kernel.Config{Seed: 1})
	require.NoError(t, err)
	// The scheduler runs only when a sched.run request says so.
	s, err := sched.New(m, sched.Options{})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	// Socket paths are limited to 108 bytes; t.TempDir's can be longer.
	dir, err := os.MkdirTemp("", "simfsd")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	mounts := []Mount{{Host: "/mnt/sim/bpf", Sim: kernel.BPFFSPath}, {Host: "/mnt/sim/cgroup", Sim: kernel.CgroupPath}}
	srv := New(Config{Machine: m, Sched: s, Info: DaemonInfo{ID: "t", Pid: os.Getpid(), Socket: sock, Mounts: mounts}})
	l, err := Listen(sock)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, srv.Close())
		require.NoError(t, <-done)
	})
	return &testDaemon{m: m, srv: srv, socket: sock, rec: m.Events().Record()}
}

func (d *testDaemon) dial(t *testing.T) *Client {
	t.Helper()
	c, err := Dial(d.socket, "test")
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

const retAsm = ".type syscall\nmov %r0, 7\nexit\n"

func loadProg(t *testing.T, c *Client, pin string) ProgLoadResult {
	t.Helper()
	var res ProgLoadResult
	require.NoError(t, c.Call(OpProgLoad, ProgLoadArgs{Path: pin, Asm: retAsm}, &res))
	return res
}

// eventually waits for cond, which depends on another goroutine (the
// daemon's handler of a connection that was closed).
func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSocketIsOwnerOnly(t *testing.T) {
	d := startDaemon(t)
	st, err := os.Stat(d.socket)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSocket|0600, st.Mode()&(os.ModeType|os.ModePerm))
	_, err = Listen(d.socket)
	assert.ErrorIs(t, err, unix.EADDRINUSE, "a live daemon's socket is not taken over")
}

func TestHelloMakesAProcess(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	h := c.Hello()
	assert.Equal(t, Version, h.Version)
	// The client runs as the daemon's own user (SO_PEERCRED), who is
	// root inside the machine whatever their host uid.
	assert.Equal(t, uint32(0), h.UID, "the daemon's user is root in its machine")
	assert.Equal(t, uint32(0), h.GID)
	assert.NotZero(t, h.Pid)
	assert.Equal(t, d.socket, h.Daemon.Socket)
	assert.Contains(t, h.Daemon.Features, "cgroup2")
	assert.Contains(t, h.Daemon.Features, "prog:syscall")

	// The client's umask is the process's: a pin is 0600 &^ umask.
	old := unix.Umask(0o077)
	c2, err := Dial(d.socket, "umask")
	unix.Umask(old)
	require.NoError(t, err)
	defer c2.Close()
	loadProg(t, c2, "/sys/fs/bpf/p")
	var st StatResult
	require.NoError(t, c2.Call(OpStat, PathArgs{Path: "/sys/fs/bpf/p"}, &st))
	assert.Equal(t, uint32(unix.S_IFREG|0600), st.Mode)
	assert.Equal(t, uint32(1), st.Nlink)
}

// TestDisconnectClosesFDs: a connection is a process; when it goes, its
// fds close and the references they held are dropped.
func TestDisconnectClosesFDs(t *testing.T) {
	d := startDaemon(t)
	a := d.dial(t)
	res := loadProg(t, a, "/sys/fs/bpf/p")

	holder, err := Dial(d.socket, "holder")
	require.NoError(t, err)
	var fd FDResult
	require.NoError(t, holder.Call(OpObjGet, ObjGetArgs{Path: "/sys/fs/bpf/p"}, &fd))
	assert.Equal(t, FDResult{FD: 3, ObjType: "prog", ID: res.ID}, fd)
	var fds FDsResult
	require.NoError(t, holder.Call(OpFDs, nil, &fds))
	assert.Equal(t, []int{3}, fds.FDs)

	// Unpinned, the program lives on through the holder's fd. (Asked
	// through the recorder, not Machine.Objects: reading an object's info
	// while another goroutine frees it is a data race in package bpf,
	// Prog.Maps against Prog.free.)
	require.NoError(t, a.Call(OpUnlink, PathArgs{Path: "/sys/fs/bpf/p"}, nil))
	kinds := d.rec.Kinds()
	assert.Equal(t, events.Unpinned, kinds[len(kinds)-1], "unpinned, not freed")

	// The holder dies without closing anything: its process exits.
	require.NoError(t, holder.Close())
	// Wait through the recorder: it is written synchronously by the
	// freeing goroutine, under its own lock.
	eventually(t, func() bool {
		kinds := d.rec.Kinds()
		return kinds[len(kinds)-1] == events.ObjectFreed
	}, "the fd of a closed connection still holds the program")
	assert.Empty(t, d.m.Objects(bpf.TypeProg))
}

func TestTwoClientsAtOnce(t *testing.T) {
	d := startDaemon(t)
	const n = 8
	var wg sync.WaitGroup
	pids := make(chan int, 2*n)
	errs := make(chan error, 2*n)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(d.socket, "client")
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			pids <- c.Hello().Pid
			for j := range n {
				var res ProgLoadResult
				if err := c.Call(OpProgLoad, ProgLoadArgs{Path: fmt.Sprintf("/sys/fs/bpf/c%d_%d", i, j), Asm: retAsm}, &res); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(pids)
	for err := range errs {
		t.Error(err)
	}
	seen := map[int]bool{}
	for p := range pids {
		assert.False(t, seen[p], "two connections share pid %d", p)
		seen[p] = true
	}
	c := d.dial(t)
	var show ShowResult
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "prog"}, &show))
	assert.Len(t, show.Objects, 2*n)
	for _, o := range show.Objects {
		assert.Len(t, o.Pinned, 1)
		assert.Equal(t, int64(1), o.Refs, "only the pin holds it: the loaders' fds were closed")
	}
}

func TestErrnosRoundTrip(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	loadProg(t, c, "/sys/fs/bpf/p")
	cases := []struct {
		op   string
		args any
		want syscall.Errno
	}{
		{OpPin, PinArgs{Src: "/sys/fs/bpf/p", Dst: "/sys/fs/bpf/p"}, unix.EEXIST},
		{OpPin, PinArgs{Src: "/sys/fs/bpf/p", Dst: "/sys/fs/bpf/a.b"}, unix.EPERM},
		{OpPin, PinArgs{Src: "/sys/fs/bpf/nothing", Dst: "/sys/fs/bpf/q"}, unix.ENOENT},
		{OpPin, PinArgs{Src: "/sys/fs/bpf/p", Dst: "/tmp/q"}, unix.EPERM},
		{OpReadFile, FileArgs{Path: "/sys/fs/bpf/p"}, unix.EIO},
		{OpRmdir, PathArgs{Path: "/sys/fs/bpf"}, unix.EBUSY},
		{OpMapDump, PathArgs{Path: "/sys/fs/bpf/p"}, unix.EINVAL},
		{OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/x", Asm: "mov %r0, 0\nexit"}, unix.EINVAL},
		{OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/x", Asm: ".type syscall\nlddw %r1, map:nope\nexit"}, unix.EINVAL},
		{OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/x", Asm: ".type syscall\n.map m /sys/fs/bpf/p\nlddw %r1, map:m\nmov %r0, 0\nexit"}, unix.EINVAL},
		{OpTaskExit, TaskArgs{Pid: 999999}, unix.ESRCH},
		{"no.such.op", nil, unix.ENOSYS},
	}
	for _, tc := range cases {
		err := c.Call(tc.op, tc.args, nil)
		var de *Error
		require.ErrorAs(t, err, &de, "%s %+v", tc.op, tc.args)
		assert.ErrorIs(t, err, tc.want, "%s %+v: %v", tc.op, tc.args, err)
		assert.Contains(t, err.Error(), ErrnoString(tc.want))
	}
	// BPF_PROG_TEST_RUN on a type without a runner leaks the kernel's
	// ENOTSUPP (524), which has no libc name.
	assert.Equal(t, "ENOTSUPP", ErrnoName(bpf.ENOTSUPP))
}

func TestErrnoNames(t *testing.T) {
	for e := syscall.Errno(1); e < 134; e++ {
		n := ErrnoName(e)
		back, ok := ErrnoByName(n)
		assert.True(t, ok, n)
		assert.Equal(t, e, back, n)
	}
	for _, e := range []syscall.Errno{524, 3000} {
		back, ok := ErrnoByName(ErrnoName(e))
		assert.True(t, ok)
		assert.Equal(t, e, back)
	}
	assert.Equal(t, "ENXIO (No such device or address)", ErrnoString(unix.ENXIO))
	assert.Equal(t, unix.EINVAL, ErrnoOf(errors.New("no errno")))
	assert.Equal(t, unix.ENXIO, ErrnoOf(fmt.Errorf("wrapped: %w", unix.ENXIO)))
}

func TestProtocolErrors(t *testing.T) {
	d := startDaemon(t)
	call := func(lines ...string) []Response {
		nc, err := net.Dial("unix", d.socket)
		require.NoError(t, err)
		defer nc.Close()
		for _, l := range lines {
			_, err := nc.Write([]byte(l + "\n"))
			require.NoError(t, err)
		}
		require.NoError(t, nc.(*net.UnixConn).CloseWrite())
		dec := json.NewDecoder(nc)
		var out []Response
		for {
			var r Response
			if dec.Decode(&r) != nil {
				return out
			}
			out = append(out, r)
		}
	}
	r := call(`{"v":1,"id":1,"op":"show","args":{"type":"prog"}}`)
	require.Len(t, r, 1)
	assert.Equal(t, "EPROTO", r[0].Errno, "the first request must be hello")
	r = call(`{"v":2,"id":1,"op":"hello","args":{"version":2}}`)
	require.Len(t, r, 1)
	assert.Equal(t, "EPROTONOSUPPORT", r[0].Errno)
	r = call(`{"v":1,"id":1,"op":"hello","args":{"version":2}}`)
	require.Len(t, r, 1)
	assert.Equal(t, "EPROTONOSUPPORT", r[0].Errno)
	r = call(`not json`)
	require.Len(t, r, 1)
	assert.Equal(t, "EBADMSG", r[0].Errno)
	r = call(`{"v":1,"id":1,"op":"hello","args":{"version":1,"umask":18}}`, `{"v":1,"id":2,"op":"fds"}`)
	require.Len(t, r, 2, "the connection stays open after a good hello")
	assert.True(t, r[0].OK)
	assert.Equal(t, uint64(2), r[1].ID)
	assert.JSONEq(t, `{"fds":[]}`, string(r[1].Result))
}

func TestMapsAndAsmReferences(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	var m ObjResult
	require.NoError(t, c.Call(OpMapCreate, MapCreateArgs{Path: "/sys/fs/bpf/counts", Type: "hash", KeySize: 4, ValueSize: 8, MaxEntries: 4}, &m))
	assert.Equal(t, "map", m.ObjType)
	var arr ObjResult
	require.NoError(t, c.Call(OpMapCreate, MapCreateArgs{Path: "/sys/fs/bpf/arr", Type: "array", KeySize: 4, ValueSize: 8, MaxEntries: 1}, &arr))

	// A syscall program: counts[ctx.key] = ctx.val via the map helper, and
	// arr[0] += 1 through a map_value: reference.
	prog := `.type syscall
.map counts /sys/fs/bpf/counts
.map arr /sys/fs/bpf/arr
mov %r6, %r1
lddw %r1, map:counts
mov %r2, %r6
mov %r3, %r6
add %r3, 4
mov %r4, 0
call 2                # bpf_map_update_elem(counts, &ctx[0], &ctx[4], BPF_ANY)
lddw %r2, map_value:arr+0
ldxdw %r3, [%r2]
add %r3, 1
stxdw [%r2], %r3
exit
`
	var res ProgLoadResult
	require.NoError(t, c.Call(OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/setter", Asm: prog}, &res))
	assert.Equal(t, map[string]uint32{"counts": m.ID, "arr": arr.ID}, res.Maps)
	assert.Equal(t, "syscall", res.Type)
	assert.Equal(t, "setter", res.Name, "the default name is the pin's")

	ctx := []byte{1, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0}
	var run ProgRunResult
	require.NoError(t, c.Call(OpProgRun, ProgRunArgs{Path: "/sys/fs/bpf/setter", Ctx: ctx, Repeat: 2}, &run))
	assert.Equal(t, uint64(0), run.Retval)
	assert.Equal(t, ctx, run.CtxOut)

	var dump MapDumpResult
	require.NoError(t, c.Call(OpMapDump, PathArgs{Path: "/sys/fs/bpf/counts"}, &dump))
	assert.Equal(t, []MapEntry{{Key: []byte{1, 0, 0, 0}, Value: []byte{42, 0, 0, 0, 0, 0, 0, 0}}}, dump.Entries)
	require.NoError(t, c.Call(OpMapDump, PathArgs{Path: "/sys/fs/bpf/arr"}, &dump))
	assert.Equal(t, []MapEntry{{Key: []byte{0, 0, 0, 0}, Value: []byte{2, 0, 0, 0, 0, 0, 0, 0}}}, dump.Entries)

	key := []byte{2, 0, 0, 0}
	require.NoError(t, c.Call(OpMapUpdate, MapKeyArgs{Path: "/sys/fs/bpf/counts", Key: key, Value: []byte{9, 0, 0, 0, 0, 0, 0, 0}}, nil))
	var e MapEntry
	require.NoError(t, c.Call(OpMapLookup, MapKeyArgs{Path: "/sys/fs/bpf/counts", Key: key}, &e))
	assert.Equal(t, []byte{9, 0, 0, 0, 0, 0, 0, 0}, e.Value)
	err := c.Call(OpMapUpdate, MapKeyArgs{Path: "/sys/fs/bpf/counts", Key: key, Value: make([]byte, 8), Flags: bpf.UpdateNoExist}, nil)
	assert.ErrorIs(t, err, unix.EEXIST)
	require.NoError(t, c.Call(OpMapDelete, MapKeyArgs{Path: "/sys/fs/bpf/counts", Key: key}, nil))
	assert.ErrorIs(t, c.Call(OpMapLookup, MapKeyArgs{Path: "/sys/fs/bpf/counts", Key: key}, nil), unix.ENOENT)
	assert.ErrorIs(t, c.Call(OpMapLookup, MapKeyArgs{Path: "/sys/fs/bpf/counts", Key: []byte{1}}, nil), unix.EINVAL)

	// The program holds its maps: unpinning them frees nothing.
	require.NoError(t, c.Call(OpUnlink, PathArgs{Path: "/sys/fs/bpf/counts"}, nil))
	var show ShowResult
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "map"}, &show))
	require.Len(t, show.Objects, 2)
	assert.Empty(t, show.Objects[0].Pinned)
	assert.Equal(t, []string{"/sys/fs/bpf/arr"}, show.Objects[1].Pinned)
}

func TestPinAgainAndShow(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	res := loadProg(t, c, "/sys/fs/bpf/p")
	require.NoError(t, c.Call(OpMkdir, MkdirArgs{Path: "/sys/fs/bpf/dir"}, nil))
	var pin ObjResult
	require.NoError(t, c.Call(OpPin, PinArgs{Src: "/sys/fs/bpf/p", Dst: "/sys/fs/bpf/dir/q"}, &pin))
	assert.Equal(t, ObjResult{ObjType: "prog", ID: res.ID, Path: "/sys/fs/bpf/dir/q"}, pin)
	require.NoError(t, c.Call(OpRename, RenameArgs{Old: "/sys/fs/bpf/dir/q", New: "/sys/fs/bpf/dir/r"}, nil))
	var show ShowResult
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "prog"}, &show))
	require.Len(t, show.Objects, 1)
	o := show.Objects[0]
	assert.Equal(t, []string{"/sys/fs/bpf/dir/r", "/sys/fs/bpf/p"}, o.Pinned)
	assert.Equal(t, int64(2), o.Refs)
	assert.Equal(t, "syscall", o.ProgType)

	var ents ReadDirResult
	require.NoError(t, c.Call(OpReadDir, PathArgs{Path: "/sys/fs/bpf"}, &ents))
	names := map[string]string{}
	for _, e := range ents.Entries {
		names[e.Name] = e.Type
	}
	// bpffs's preloaded iterators are there too, as in the kernel.
	assert.Equal(t, map[string]string{"p": "file", "dir": "dir", "maps.debug": "file", "progs.debug": "file"}, names)

	// The JSON shape clients and scripts rely on.
	b, err := json.Marshal(o)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"obj_type", "id", "name", "refs", "type", "tag", "insns", "pinned"} {
		assert.Contains(t, m, k)
	}
}

func TestTasks(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	require.NoError(t, c.Call(OpMkdir, MkdirArgs{Path: "/sys/fs/cgroup/work"}, nil))
	var st StatResult
	require.NoError(t, c.Call(OpStat, PathArgs{Path: "/sys/fs/cgroup/work"}, &st))
	var tk TaskResult
	require.NoError(t, c.Call(OpTaskSpawn, TaskSpawnArgs{Cgroup: "/sys/fs/cgroup/work"}, &tk))
	assert.Equal(t, "/sys/fs/cgroup/work", tk.Cgroup)
	assert.Equal(t, st.Ino, tk.CgroupID, "a cgroup's id is its directory's inode number")
	var procs FileResult
	require.NoError(t, c.Call(OpReadFile, FileArgs{Path: "/sys/fs/cgroup/work/cgroup.procs"}, &procs))
	assert.Equal(t, fmt.Sprintf("%d\n", tk.Pid), string(procs.Data))
	assert.ErrorIs(t, c.Call(OpRmdir, PathArgs{Path: "/sys/fs/cgroup/work"}, nil), unix.EBUSY)
	// Moving a task is a write to cgroup.procs.
	require.NoError(t, c.Call(OpWriteFile, FileArgs{Path: "/sys/fs/cgroup/cgroup.procs", Data: []byte(fmt.Sprint(tk.Pid))}, nil))
	var exit TaskResult
	require.NoError(t, c.Call(OpTaskExit, TaskArgs{Pid: tk.Pid}, &exit))
	assert.Equal(t, "/sys/fs/cgroup", exit.Cgroup)
	assert.ErrorIs(t, c.Call(OpTaskExit, TaskArgs{Pid: tk.Pid}, nil), unix.ESRCH)
	require.NoError(t, c.Call(OpRmdir, PathArgs{Path: "/sys/fs/cgroup/work"}, nil))
	assert.ErrorIs(t, c.Call(OpTaskSpawn, TaskSpawnArgs{Cgroup: "/sys/fs/cgroup/work"}, nil), unix.ENOENT)
	assert.ErrorIs(t, c.Call(OpTaskSpawn, TaskSpawnArgs{Cgroup: "/sys/fs/bpf"}, nil), unix.ENOTDIR)

	assert.Equal(t, []events.Kind{events.CgroupCreated, events.TaskSpawned, events.TaskMoved, events.TaskExited, events.CgroupRemoved}, d.rec.Kinds())
}

func TestEventsStream(t *testing.T) {
	d := startDaemon(t)
	c := d.dial(t)
	watcher, err := Dial(d.socket, "events")
	require.NoError(t, err)
	got := make(chan events.Event, 16)
	done := make(chan error, 1)
	go func() {
		done <- watcher.Events(16, func(ev events.Event, _ uint64) bool {
			got <- ev
			return ev.Kind != events.ObjectFreed
		})
	}()
	// The stream is live once the daemon has answered; wait for the
	// subscription before acting.
	eventually(t, func() bool { return d.subscribers() > 0 }, "no subscription")
	loadProg(t, c, "/sys/fs/bpf/p")
	require.NoError(t, c.Call(OpUnlink, PathArgs{Path: "/sys/fs/bpf/p"}, nil))
	var kinds []events.Kind
	for ev := range got {
		kinds = append(kinds, ev.Kind)
		if ev.Kind == events.ObjectFreed {
			break
		}
	}
	require.NoError(t, <-done)
	require.NoError(t, watcher.Close())
	assert.Equal(t, []events.Kind{events.ProgLoaded, events.Pinned, events.Unpinned, events.ObjectFreed}, kinds)
}

// subscribers counts the daemon's connections that stream events.
func (d *testDaemon) subscribers() int {
	d.srv.mu.Lock()
	defer d.srv.mu.Unlock()
	n := 0
	for c := range d.srv.conns {
		if c.streaming.Load() {
			n++
		}
	}
	return n
}

func TestCloseHangsUpOnClients(t *testing.T) {
	m, err := kernel.Boot(kernel.Config{})
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "simfsd")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s")
	srv := New(Config{Machine: m})
	l, err := Listen(sock)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	c, err := Dial(sock, "x")
	require.NoError(t, err)
	defer c.Close()
	var fd FDResult
	require.NoError(t, c.Call(OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/p", Asm: retAsm}, nil))
	require.NoError(t, c.Call(OpObjGet, ObjGetArgs{Path: "/sys/fs/bpf/p"}, &fd))
	require.NoError(t, srv.Close())
	require.NoError(t, <-done)
	err = c.Call(OpFDs, nil, nil)
	assert.ErrorIs(t, err, unix.ECONNRESET)
	progs := m.Objects(bpf.TypeProg)
	require.Len(t, progs, 1)
	assert.Equal(t, int64(1), progs[0].Refs, "the client's process exited with the daemon")
	assert.NotContains(t, srv.Info().Features, "sched", "no scheduler given")
	assert.Contains(t, srv.Info().Features, "expose", "the machine always has the RFC")
}

func TestELFObjects(t *testing.T) {
	d := startDaemon(t)
	obj, err := os.ReadFile("../examples/pinning_kernfs/pinning_kernfs.bpf.o")
	require.NoError(t, err)
	c := d.dial(t)

	err = c.Call(OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/x", Object: obj}, nil)
	assert.ErrorIs(t, err, unix.EINVAL, "two programs: which one?")
	assert.ErrorContains(t, err, "wait_record (tp_btf/sched_stat_wait)")
	err = c.Call(OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/x", Object: obj, Program: "nope"}, nil)
	assert.ErrorIs(t, err, unix.ENOENT)

	var res ProgLoadResult
	require.NoError(t, c.Call(OpProgLoad, ProgLoadArgs{Path: "/sys/fs/bpf/record", Object: obj, Program: "wait_record"}, &res))
	assert.Equal(t, "tp_btf/sched_stat_wait", res.Type)
	assert.Equal(t, "wait_record", res.Name)
	assert.Contains(t, res.Maps, "wait_map")
	var show ShowResult
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "map"}, &show))
	var names []string
	for _, o := range show.Objects {
		names = append(names, o.Name)
		if o.Name == "wait_map" {
			assert.Equal(t, "hash", o.MapType)
			assert.Equal(t, uint32(8), o.KeySize)
			assert.Empty(t, o.Pinned, "prog load pins the program only")
		}
	}
	assert.Contains(t, names, "wait_map")

	var link ObjResult
	require.NoError(t, c.Call(OpLinkCreate, LinkCreateArgs{Prog: "/sys/fs/bpf/record", Link: "/sys/fs/bpf/record_link"}, &link))
	assert.Equal(t, "link", link.ObjType)
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "link"}, &show))
	require.Len(t, show.Objects, 1)
	assert.Equal(t, res.ID, show.Objects[0].ProgID)
	assert.Equal(t, []string{"/sys/fs/bpf/record_link"}, show.Objects[0].Pinned)

	// loadall pins every program and map.
	var all ObjLoadResult
	require.NoError(t, c.Call(OpObjLoad, ObjLoadArgs{Object: obj, Dir: "/sys/fs/bpf/pk"}, &all))
	var pinned []string
	for _, p := range all.Pinned {
		pinned = append(pinned, p.Path)
	}
	assert.Subset(t, pinned, []string{"/sys/fs/bpf/pk/wait_record", "/sys/fs/bpf/pk/wait_show", "/sys/fs/bpf/pk/wait_map", "/sys/fs/bpf/pk/_rodata"})
}

// The seed's programs through the protocol: loadall, attach wait_record,
// tasks in a cgroup, the scheduler run by request, the view link exposed
// in the cgroup and read; show lists the exposure; the events say why each
// exposure went.
func TestSeedThroughTheDaemon(t *testing.T) {
	d := startDaemon(t)
	obj, err := os.ReadFile("../examples/pinning_kernfs/pinning_kernfs.bpf.o")
	require.NoError(t, err)
	c := d.dial(t)
	require.NoError(t, c.Call(OpObjLoad, ObjLoadArgs{Object: obj, Dir: "/sys/fs/bpf/pk"}, nil))
	require.NoError(t, c.Call(OpLinkCreate, LinkCreateArgs{Prog: "/sys/fs/bpf/pk/wait_record", Link: "/sys/fs/bpf/pk/record"}, nil))
	require.NoError(t, c.Call(OpMkdir, MkdirArgs{Path: "/sys/fs/cgroup/work"}, nil))
	require.NoError(t, c.Call(OpMkdir, MkdirArgs{Path: "/sys/fs/cgroup/idle"}, nil))
	for range 3 {
		require.NoError(t, c.Call(OpTaskSpawn, TaskSpawnArgs{Cgroup: "/sys/fs/cgroup/work"}, nil))
	}
	var run SchedResult
	require.NoError(t, c.Call(OpSchedRun, SchedRunArgs{Ticks: 250}, &run))
	assert.Equal(t, 250*sched.DefaultTick, run.Now)
	assert.Equal(t, 3, run.NrTasks)
	assert.Positive(t, run.Fired)
	assert.Zero(t, run.Errors)
	assert.ErrorIs(t, c.Call(OpSchedRun, SchedRunArgs{Ticks: -1}, nil), unix.EINVAL)
	assert.ErrorIs(t, c.Call(OpSchedRun, SchedRunArgs{Ticks: MaxSchedRun + 1}, nil), unix.EINVAL)

	var st StatResult
	require.NoError(t, c.Call(OpStat, PathArgs{Path: "/sys/fs/cgroup/work"}, &st))
	var show SchedResult
	require.NoError(t, c.Call(OpSchedShow, nil, &show))
	require.Len(t, show.Tasks, 3)
	var longest time.Duration
	for _, tk := range show.Tasks {
		assert.Equal(t, "/sys/fs/cgroup/work", tk.Cgroup)
		assert.Equal(t, st.Ino, tk.CgroupID)
		longest = max(longest, tk.MaxWait)
	}

	// Exposing before pinning in bpffs: link create pins at LINK_PATH, a
	// cgroup directory here, so the new link has no bpffs pin.
	err = c.Call(OpLinkCreate, LinkCreateArgs{Prog: "/sys/fs/bpf/pk/wait_show", Link: "/sys/fs/cgroup/work/wait"}, nil)
	assert.ErrorIs(t, err, unix.ENXIO)
	var view ObjResult
	require.NoError(t, c.Call(OpLinkCreate, LinkCreateArgs{Prog: "/sys/fs/bpf/pk/wait_show", Link: "/sys/fs/bpf/pk/show"}, &view))
	for _, dir := range []string{"work", "idle"} {
		require.NoError(t, c.Call(OpPin, PinArgs{Src: "/sys/fs/bpf/pk/show", Dst: "/sys/fs/cgroup/" + dir + "/wait"}, nil))
	}
	var out FileResult
	require.NoError(t, c.Call(OpReadFile, FileArgs{Path: "/sys/fs/cgroup/work/wait"}, &out))
	assert.Equal(t, fmt.Sprintf("%d %d\n", st.Ino, longest), string(out.Data))
	assert.NotZero(t, longest)
	var entry MapEntry
	require.NoError(t, c.Call(OpMapLookup, MapKeyArgs{Path: "/sys/fs/bpf/pk/wait_map", Key: binary.LittleEndian.AppendUint64(nil, st.Ino)}, &entry))
	assert.Equal(t, uint64(longest), binary.LittleEndian.Uint64(entry.Value))
	var idle StatResult
	require.NoError(t, c.Call(OpStat, PathArgs{Path: "/sys/fs/cgroup/idle"}, &idle))
	require.NoError(t, c.Call(OpReadFile, FileArgs{Path: "/sys/fs/cgroup/idle/wait"}, &out))
	assert.Equal(t, fmt.Sprintf("%d 0\n", idle.Ino), string(out.Data))

	var links ShowResult
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "link"}, &links))
	var exposed []string
	for _, o := range links.Objects {
		if o.ID == view.ID {
			exposed = o.Exposed
		}
	}
	assert.Equal(t, []string{"/sys/fs/cgroup/idle/wait", "/sys/fs/cgroup/work/wait"}, exposed)

	// Each way an exposure goes, with its reason.
	require.NoError(t, c.Call(OpWriteFile, FileArgs{Path: "/sys/fs/cgroup/work/wait", Data: []byte("rm\n")}, nil))
	require.NoError(t, c.Call(OpRmdir, PathArgs{Path: "/sys/fs/cgroup/idle"}, nil))
	require.NoError(t, c.Call(OpPin, PinArgs{Src: "/sys/fs/bpf/pk/show", Dst: "/sys/fs/cgroup/work/wait"}, nil))
	require.NoError(t, c.Call(OpUnlink, PathArgs{Path: "/sys/fs/bpf/pk/show"}, nil))
	var reasons []string
	for _, ev := range d.rec.Events() {
		if ev.Kind == events.ExposureRemoved {
			assert.Equal(t, view.ID, ev.ObjID)
			reasons = append(reasons, ev.Reason)
		}
	}
	assert.Equal(t, []string{"rm", "rmdir", "unpin"}, reasons)
	require.NoError(t, c.Call(OpShow, ShowArgs{Type: "link"}, &links))
	for _, o := range links.Objects {
		assert.Empty(t, o.Exposed)
	}
}

func TestNoScheduler(t *testing.T) {
	m, err := kernel.Boot(kernel.Config{})
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "simfsd")
	require.NoError(t, err)
	defer os.RemoveAll(dir)
	srv := New(Config{Machine: m})
	l, err := Listen(filepath.Join(dir, "s"))
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	c, err := Dial(filepath.Join(dir, "s"), "x")
	require.NoError(t, err)
	assert.ErrorIs(t, c.Call(OpSchedRun, SchedRunArgs{Ticks: 1}, nil), unix.ENOSYS)
	assert.ErrorIs(t, c.Call(OpSchedShow, nil, nil), unix.ENOSYS)
	c.Close()
	require.NoError(t, srv.Close())
	require.NoError(t, <-done)
}
