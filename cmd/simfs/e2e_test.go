package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/simfs/simfs/daemon"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// The end-to-end tests build the binary, run `simfs mount` as a child
// process and drive the mount with real tools and the CLI, each in a
// process of its own. They need root and /dev/fuse and skip elsewhere.

func needFUSE(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short")
	}
	if why := fuseUnavailable(); why != "" {
		t.Skip("no FUSE: " + why)
	}
	if os.Geteuid() != 0 {
		t.Skip("the end-to-end tests mount directly, as root")
	}
}

// buildSimfs builds the binary once per test.
func buildSimfs(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "simfs")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, string(out))
	return bin
}

// e2e is one test's world: the binary, a private registry, a mount dir.
type e2e struct {
	t   testing.TB
	bin string
	dir string
	reg string
	env []string
}

func newE2E(t testing.TB) *e2e {
	needFUSE(t)
	dir := shortTempDir(t)
	e := &e2e{t: t, bin: buildSimfs(t), dir: dir, reg: filepath.Join(dir, ".reg")}
	e.env = append(os.Environ(), "LC_ALL=C", "SIMFS_RUNTIME_DIR="+e.reg, "SIMFS_SOCKET=",
		"PATH="+filepath.Dir(e.bin)+":"+os.Getenv("PATH"))
	t.Cleanup(func() {
		// Leave nothing mounted, whatever happened.
		for _, mp := range []string{e.p("bpf"), e.p("cgroup")} {
			for unix.Unmount(mp, unix.MNT_DETACH) == nil {
			}
		}
	})
	return e
}

func (e *e2e) p(rel string) string { return filepath.Join(e.dir, rel) }

// daemonProc is a running `simfs mount`.
type daemonProc struct {
	cmd    *exec.Cmd
	info   daemon.DaemonInfo
	stderr *syncBuffer
	done   chan error
}

func (e *e2e) mount(args ...string) *daemonProc {
	e.t.Helper()
	cmd := exec.Command(e.bin, append([]string{"mount", e.dir, "--json"}, args...)...)
	cmd.Env = e.env
	stdout, err := cmd.StdoutPipe()
	require.NoError(e.t, err)
	d := &daemonProc{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = d.stderr
	require.NoError(e.t, cmd.Start())
	go func() {
		// Keep draining so the daemon never blocks on a full pipe.
		sc := bufio.NewScanner(stdout)
		first := true
		lines := make(chan string, 1)
		for sc.Scan() {
			if first {
				lines <- sc.Text()
				first = false
			}
		}
		close(lines)
		d.done <- cmd.Wait()
	}()
	e.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	})
	// The first line is the daemon's description, once it serves.
	deadline := time.Now().Add(30 * time.Second)
	for {
		infos, _ := (&daemon.Registry{Dir: e.reg}).List(false)
		for _, in := range infos {
			if in.Pid == cmd.Process.Pid {
				d.info = in
				if os.Getenv("SIMFS_FUSE_IO_URING") != "" { // make test's io_uring pass
					for _, mt := range in.Mounts {
						require.Equal(e.t, "io_uring", mt.Transport, "%s: %s", mt.Host, d.stderr)
					}
				}
				return d
			}
		}
		select {
		case err := <-d.done:
			e.t.Fatalf("simfs mount exited: %v: %s", err, d.stderr)
		default:
		}
		require.True(e.t, time.Now().Before(deadline), "simfs mount did not come up: %s", d.stderr)
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a buffer that exec's copying goroutine writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type shResult struct {
	out  string
	code int
}

// sh runs a shell line in a child process, in the test's dir.
func (e *e2e) sh(line string) shResult {
	e.t.Helper()
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Env = e.env
	cmd.Dir = e.dir
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(e.t, err)
	}
	return shResult{string(out), code}
}

func (e *e2e) ok(line string) string {
	e.t.Helper()
	r := e.sh(line)
	require.Zero(e.t, r.code, "%s: %s", line, r.out)
	return r.out
}

// fails checks that line fails and says errno (by name, as simfs does, or
// by message, as coreutils do).
func (e *e2e) fails(line string, errno syscall.Errno) {
	e.t.Helper()
	r := e.sh(line)
	require.NotZero(e.t, r.code, "%s succeeded: %s", line, r.out)
	if !strings.Contains(r.out, daemon.ErrnoName(errno)+" (") && !strings.Contains(strings.ToLower(r.out), strings.ToLower(errno.Error())) {
		e.t.Fatalf("%s: want %s, got: %s", line, daemon.ErrnoName(errno), r.out)
	}
}

func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

func TestE2EMountWithTools(t *testing.T) {
	e := newE2E(t)
	d := e.mount()
	require.Len(t, d.info.Mounts, 2)
	for i, want := range []daemon.Mount{{Host: e.p("bpf"), Sim: "/sys/fs/bpf"}, {Host: e.p("cgroup"), Sim: "/sys/fs/cgroup"}} {
		got := d.info.Mounts[i]
		assert.Contains(t, []string{"io_uring", "/dev/fuse"}, got.Transport)
		got.Transport = ""
		assert.Equal(t, want, got)
	}
	st, err := os.Stat(d.info.Socket)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0600), st.Mode().Perm())

	require.NoError(t, os.WriteFile(e.p("p.s"), []byte(".type syscall\nldxw %r0, [%r1]\nexit\n"), 0644))
	assert.Equal(t, "1777 root\n", e.ok("stat -c '%a %U' bpf"))
	out := e.ok("simfs prog load p.s bpf/p --json") // a relative path finds its daemon
	var load daemon.ProgLoadResult
	require.NoError(t, json.Unmarshal([]byte(out), &load))
	assert.Equal(t, e.p("bpf/p"), load.Path, "paths come back as the host sees them")
	assert.Equal(t, "600 1 0 root\n", e.ok("stat -c '%a %h %s %U' bpf/p"))
	e.fails("cat bpf/p", unix.EIO)
	e.fails("touch bpf/new", unix.EACCES) // O_CREAT in bpffs
	e.fails("mkfifo bpf/fifo", unix.EPERM)
	e.ok("mkdir bpf/d && mv bpf/p bpf/d/p && simfs pin bpf/d/p bpf/q && ln bpf/q bpf/d/hard")
	assert.Equal(t, "2\n", e.ok("stat -c %h bpf/q"))
	e.fails("rmdir bpf/d", unix.ENOTEMPTY)
	e.fails("simfs pin bpf/q bpf/q", unix.EEXIST)
	e.fails("simfs pin bpf/q bpf/a.b", unix.EPERM)
	e.fails("simfs pin bpf/nothing bpf/r", unix.ENOENT)
	e.fails("simfs pin bpf/q "+os.TempDir()+"/elsewhere", unix.EXDEV)
	e.fails("ln bpf/q cgroup/q", unix.EXDEV) // link(2) across the two mounts

	var objs []daemon.Object
	require.NoError(t, json.Unmarshal([]byte(e.ok("simfs prog show --json")), &objs))
	require.Len(t, objs, 1)
	assert.Equal(t, []string{e.p("bpf/d/hard"), e.p("bpf/d/p"), e.p("bpf/q")}, objs[0].Pinned)
	assert.Equal(t, "retval 7 (0x7)", strings.SplitN(e.ok("simfs prog run bpf/q --ctx 07000000"), "\n", 2)[0])

	// Two CLI clients at once.
	e.ok("simfs prog load p.s bpf/x1 & simfs prog load p.s bpf/x2 & wait; ls bpf/x1 bpf/x2")
	e.ok("rm -r bpf/d bpf/q bpf/x1 bpf/x2")
	assert.Equal(t, "[]\n", e.ok("simfs prog show --json"), "every unpinned program was freed")

	// Maps.
	e.ok("simfs map create bpf/m --type array --key 4 --value 8 --entries 2 && simfs map update bpf/m --key-u32 1 --value-u64 9")
	assert.Equal(t, "key: 01 00 00 00  value: 09 00 00 00 00 00 00 00\n", e.ok("simfs map lookup bpf/m 01000000"))
	e.fails("cat bpf/m", unix.EIO) // a map without BTF has no seq_show, as in the kernel

	// cgroup2.
	e.ok("mkdir -p cgroup/a/b")
	pid := strings.TrimSpace(e.ok("simfs task spawn cgroup/a"))
	assert.Equal(t, pid+"\n", e.ok("cat cgroup/a/cgroup.procs"))
	var tk daemon.TaskResult
	require.NoError(t, json.Unmarshal([]byte(e.ok("simfs task spawn cgroup/a/b --json")), &tk))
	assert.Equal(t, e.p("cgroup/a/b"), tk.Cgroup)
	e.fails("rmdir cgroup/a/b", unix.EBUSY)
	e.ok(fmt.Sprintf("echo %d > cgroup/a/cgroup.procs", tk.Pid))
	assert.Contains(t, e.ok("cat cgroup/a/cgroup.procs"), fmt.Sprint(tk.Pid))
	e.ok("rmdir cgroup/a/b")
	e.ok("simfs task exit " + pid)
	e.ok(fmt.Sprintf("simfs task exit %d", tk.Pid))
	e.ok("rmdir cgroup/a")

	// SIGTERM: a clean unmount, the registry entry and socket gone.
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-d.done:
		require.NoError(t, err, d.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("simfs mount did not stop on SIGTERM")
	}
	assert.False(t, mounted(e.p("bpf")))
	assert.False(t, mounted(e.p("cgroup")))
	assert.NoFileExists(t, d.info.Socket)
	assert.NoFileExists(t, filepath.Join(e.reg, d.info.ID+".json"))
}

func TestE2EKilledDaemonAndRestart(t *testing.T) {
	e := newE2E(t)
	d := e.mount()
	require.NoError(t, os.WriteFile(e.p("p.s"), []byte(".type syscall\nmov %r0, 0\nexit\n"), 0644))
	e.ok("simfs prog load p.s bpf/p")
	require.NoError(t, d.cmd.Process.Kill())
	<-d.done
	if d.info.Mounts[0].Transport == "io_uring" {
		// The rings hold the connection's /dev/fuse file until the
		// kernel's io_uring teardown (a work item) releases them; a
		// request that comes before is ended with ECONNABORTED when the
		// connection is then aborted.
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if _, err := os.Stat(e.p("bpf/p")); errors.Is(err, unix.ENOTCONN) {
				break
			}
		}
	}
	e.fails("stat bpf/p", unix.ENOTCONN) // the stale mount a killed daemon leaves
	e.fails("simfs prog show", unix.ENOENT)

	d2 := e.mount()
	assert.Contains(t, d2.stderr.String(), "replaced a stale mount on "+e.p("bpf"))
	assert.Equal(t, "maps.debug\nprogs.debug\n", e.ok("ls bpf"), "a new machine")
	e.ok("simfs prog load p.s bpf/p && stat bpf/p")
	infos, err := (&daemon.Registry{Dir: e.reg}).List(false)
	require.NoError(t, err)
	require.Len(t, infos, 1, "the dead daemon's entry was pruned")
	assert.Equal(t, d2.info.ID, infos[0].ID)

	// A second daemon on the same directory is refused.
	cmd := exec.Command(e.bin, "mount", e.dir)
	cmd.Env = e.env
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "EBUSY")

	require.NoError(t, d2.cmd.Process.Signal(syscall.SIGINT))
	require.NoError(t, <-d2.done)
	assert.False(t, mounted(e.p("bpf")))
}

// TestE2EDemoAsTheREADMESays runs the README's first command from the
// repository root, as a new user would.
func TestE2EDemoAsTheREADMESays(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	tmp := t.TempDir()
	cmd := exec.Command("go", "run", "./cmd/simfs", "demo", "--once")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "SIMFS_RUNTIME_DIR="+filepath.Join(tmp, "reg"), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "steps went as the RFC says")
	assert.NotContains(t, string(out), "UNEXPECTED")
	if fuseUnavailable() == "" {
		assert.Contains(t, string(out), "served over FUSE")
	} else {
		assert.Contains(t, string(out), "FUSE is not used")
	}
	b, _ := os.ReadFile("/proc/self/mounts")
	assert.NotContains(t, string(b), tmp, "the demo left a mount behind")
}

// seedObjectPath is the committed object of the RFC selftest's programs.
func seedObjectPath(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs("../../examples/pinning_kernfs/pinning_kernfs.bpf.o")
	require.NoError(t, err)
	return p
}

// eventsStream runs `simfs events --json` in a child process until stop.
type eventsStream struct {
	cmd *exec.Cmd
	out *syncBuffer
}

func (e *e2e) events() *eventsStream {
	e.t.Helper()
	s := &eventsStream{cmd: exec.Command(e.bin, "events", "--json", e.p("bpf")), out: &syncBuffer{}}
	s.cmd.Env = e.env
	s.cmd.Stdout = s.out
	s.cmd.Stderr = s.out
	require.NoError(e.t, s.cmd.Start())
	e.t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			_ = s.cmd.Process.Kill()
			_ = s.cmd.Wait()
		}
	})
	return s
}

// until waits for an event that matches and returns every event so far.
func (s *eventsStream) until(t *testing.T, match func(map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var evs []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(s.out.String()), "\n") {
			var ev map[string]any
			if json.Unmarshal([]byte(l), &ev) == nil {
				evs = append(evs, ev)
			}
		}
		for _, ev := range evs {
			if match(ev) {
				return evs
			}
		}
		require.True(t, time.Now().Before(deadline), "no such event in: %s", s.out)
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLine parses the seed's view output, "<cgroup id> <max wait ns>\n".
func waitLine(t *testing.T, out string) (id, wait uint64) {
	t.Helper()
	n, err := fmt.Sscanf(out, "%d %d\n", &id, &wait)
	require.NoError(t, err, "%q", out)
	require.Equal(t, 2, n, "unexpected_seq_show_output: %q", out)
	return id, wait
}

// Removals made inside a FUSE request (a write of "rm", an unlink that
// takes exposures with it) reach the kernel's caches a few microseconds
// after the request is answered (fusefs's invalidation worker), so right
// after one these tests look with open(2) (cat), which always asks the
// simulator, rather than with stat(1), which may still see cached
// attributes for that moment.

// TestE2ESeedSelftest is the RFC's selftest (prog_tests/pinning_kernfs.c)
// through the shell on the mount, with its own programs: check_pinning
// for a program, a map and a tracing link, then check_cgroup_seq_show
// with tasks the simulated scheduler runs; then the rest of the
// lifecycle's errnos, rmdir with an exposure, and the events that say why
// each exposure went.
func TestE2ESeedSelftest(t *testing.T) {
	e := newE2E(t)
	e.mount("--sched-every", "0") // the scheduler runs on `simfs sched run` only
	ev := e.events()
	obj := seedObjectPath(t)

	e.ok("mkdir cgroup/pinning_test bpf/pinning_test")
	e.ok("simfs prog loadall " + obj + " bpf/pk")
	assert.Equal(t, "_rodata\nwait_map\nwait_record\nwait_show\n", e.ok("ls bpf/pk"))
	kfile := "cgroup/pinning_test/bpf_obj"
	bfile := "bpf/pinning_test/bpf_obj"

	// Test 1: pinning in kernfs before bpffs.
	e.fails("simfs prog load "+obj+" "+kfile+" --prog wait_show", unix.ENXIO)
	e.fails("stat "+kfile, unix.ENOENT)

	// Tests 2 and 3: a program, then a map: pin in bpffs, expose, read
	// (EACCES), write anything but rm (EINVAL), write "rm\0", unpin.
	for _, src := range []string{"bpf/pk/wait_show", "bpf/pk/wait_map"} {
		e.ok("simfs pin " + src + " " + bfile)
		out := e.ok("simfs pin " + bfile + " " + kfile)
		assert.Contains(t, out, "exposed at "+e.p(kfile))
		assert.Equal(t, "-rw------- 1 root 0\n", e.ok("stat -c '%A %h %U %s' "+kfile))
		e.fails("cat "+kfile, unix.EACCES)
		e.fails("/usr/bin/printf 'xxx\\0' > "+kfile, unix.EINVAL)
		e.fails("/bin/echo xxx > "+kfile, unix.EINVAL)
		e.fails("simfs pin "+bfile+" "+kfile, unix.EEXIST)
		e.ok("printf 'rm\\0' > " + kfile) // the selftest writes sizeof("rm")
		e.fails("cat "+kfile, unix.ENOENT)
		e.ok("rm " + bfile)
	}

	// Test 4: a tp_btf link (not a view link): unlinking its bpffs pin
	// removes the exposure (the fsnotify watcher).
	e.ok("simfs link create bpf/pk/wait_record " + bfile)
	e.ok("simfs pin " + bfile + " " + kfile)
	e.fails("cat "+kfile, unix.EACCES)
	e.fails("/bin/echo xxx > "+kfile, unix.EINVAL)
	e.ok("rm " + bfile)
	e.fails("cat "+kfile, unix.ENOENT) // unpin_bpffs_first

	// check_cgroup_seq_show: wait_record attached, tasks in the cgroup
	// (threaded, as the selftest makes it), the scheduler runs them.
	e.ok("simfs link create bpf/pk/wait_record bpf/pk/record")
	e.ok("echo threaded > cgroup/pinning_test/cgroup.type")
	for range 3 {
		e.ok("simfs task spawn cgroup/pinning_test")
	}
	e.ok("mkdir cgroup/idle")
	assert.Contains(t, e.ok("simfs sched run 500"), "3 tasks, sched_stat_wait fired")
	e.ok("simfs link create bpf/pk/wait_show " + bfile)
	e.ok("simfs pin " + bfile + " " + kfile)
	e.ok("simfs pin " + bfile + " cgroup/idle/bpf_obj")
	id, wait := waitLine(t, e.ok("cat "+kfile))
	assert.Equal(t, strings.TrimSpace(e.ok("stat -c %i cgroup/pinning_test")), fmt.Sprint(id))
	assert.NotZero(t, wait, "three tasks on one CPU wait")
	// The number is what wait_map holds for the cgroup, and the longest
	// wait the scheduler counted for its tasks.
	var entry struct{ Value string }
	require.NoError(t, json.Unmarshal([]byte(e.ok(fmt.Sprintf("simfs map lookup bpf/pk/wait_map --key-u64 %d --json", id))), &entry))
	assert.Equal(t, hexBytes(le(wait, 8)), entry.Value)
	var st daemon.SchedResult
	require.NoError(t, json.Unmarshal([]byte(e.ok("simfs sched show --json")), &st))
	var longest uint64
	for _, tk := range st.Tasks {
		assert.Equal(t, e.p("cgroup/pinning_test"), tk.Cgroup)
		longest = max(longest, uint64(tk.MaxWait))
	}
	assert.Equal(t, longest, wait)
	idleID, idleWait := waitLine(t, e.ok("cat cgroup/idle/bpf_obj"))
	assert.Equal(t, strings.TrimSpace(e.ok("stat -c %i cgroup/idle")), fmt.Sprint(idleID))
	assert.Zero(t, idleWait)
	// More time, longer or equal waits.
	e.ok("simfs sched run 500")
	_, later := waitLine(t, e.ok("cat "+kfile))
	assert.GreaterOrEqual(t, later, wait)

	// A non-root reader of the 0600 root-owned exposure: EACCES (the
	// mount honours the caller; it is not allow_other, so other users are
	// refused by the kernel itself).
	e.fails("setpriv --reuid=65534 --regid=65534 --clear-groups cat "+e.p(kfile), unix.EACCES)

	// do_unpin, then the bpffs unlink.
	e.ok("echo rm > " + kfile)
	e.fails("cat "+kfile, unix.ENOENT)
	e.ok("simfs pin " + bfile + " " + kfile) // re-expose
	assert.Contains(t, e.ok("simfs link show"), "exposed "+e.p(kfile))
	e.ok("rm " + bfile)
	e.fails("cat "+kfile, unix.ENOENT)
	e.fails("cat cgroup/idle/bpf_obj", unix.ENOENT)
	assert.NotContains(t, e.ok("simfs link show"), "exposed")

	// rmdir of a cgroup with an exposure works; the later unpin does not
	// fail.
	e.ok("simfs link create bpf/pk/wait_show bpf/pinning_test/v2 && simfs pin bpf/pinning_test/v2 cgroup/idle/v2")
	e.ok("rmdir cgroup/idle")
	e.ok("rm bpf/pinning_test/v2")

	// Clean up as the selftest does, and the mount is empty again.
	e.fails("/bin/echo 1 > cgroup/pinning_test/cgroup.kill", unix.EOPNOTSUPP) // a threaded cgroup
	e.ok("for p in $(cat cgroup/pinning_test/cgroup.threads); do simfs task exit $p; done && rmdir cgroup/pinning_test")
	e.ok("rm -r bpf/pk bpf/pinning_test")
	assert.Equal(t, "[]\n", e.ok("simfs link show --json"))
	assert.Equal(t, "[]\n", e.ok("simfs prog show --json"))

	// The events said why each exposure went.
	evs := ev.until(t, func(m map[string]any) bool {
		return m["kind"] == "free" && m["obj_type"] == "prog" && m["name"] == "wait_show"
	})
	reasons := map[string]int{}
	for _, m := range evs {
		if m["kind"] == "expose_removed" {
			reasons[fmt.Sprint(m["reason"])]++
			assert.Contains(t, m, "obj_id")
		}
		if m["kind"] == "expose" {
			assert.True(t, strings.HasPrefix(fmt.Sprint(m["path"]), e.p("cgroup")+"/"), "host paths: %v", m["path"])
		}
	}
	assert.Equal(t, map[string]int{"rm": 3, "unpin": 3, "rmdir": 1}, reasons)
}

// TestE2ESeedWithTheDaemonsScheduler is the README's C workflow: the
// daemon's scheduler ticks in the background, so after loadall, link
// create, task spawn and pin, cat soon shows a non-zero wait.
func TestE2ESeedWithTheDaemonsScheduler(t *testing.T) {
	e := newE2E(t)
	e.mount("--sched-every", "1ms", "--cpus", "2")
	e.ok("simfs prog loadall " + seedObjectPath(t) + " bpf/pk")
	e.ok("simfs link create bpf/pk/wait_record bpf/pk/record")
	e.ok("mkdir cgroup/x && for i in 1 2 3 4; do simfs task spawn cgroup/x; done")
	e.ok("simfs link create bpf/pk/wait_show bpf/pk/show && simfs pin bpf/pk/show cgroup/x/wait")
	id := strings.TrimSpace(e.ok("stat -c %i cgroup/x"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		gotID, wait := waitLine(t, e.ok("cat cgroup/x/wait"))
		assert.Equal(t, id, fmt.Sprint(gotID))
		if wait > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "four tasks on two CPUs never waited")
		time.Sleep(20 * time.Millisecond)
	}
	out := e.ok("simfs sched show")
	assert.Contains(t, out, "2 CPUs, 4 tasks")
	assert.Contains(t, out, "a tick every 1ms of wall-clock time")
	assert.Contains(t, out, e.p("cgroup/x"))
}

// TestE2EPassthroughMount: `simfs mount --passthrough` serves a view's
// output from a snapshot the kernel reads itself: each cat runs the view
// for its own cgroup, the file still says size 0, and `echo rm >` still
// removes it (write opens go to the simulator).
func TestE2EPassthroughMount(t *testing.T) {
	e := newE2E(t)
	e.mount("--passthrough")
	e.ok("simfs prog loadall " + seedObjectPath(t) + " bpf/pk && mkdir cgroup/a cgroup/b && " +
		"simfs link create bpf/pk/wait_show bpf/pk/show && simfs pin bpf/pk/show cgroup/a/wait && simfs pin bpf/pk/show cgroup/b/wait")
	ida, _ := waitLine(t, e.ok("cat cgroup/a/wait"))
	idb, _ := waitLine(t, e.ok("cat cgroup/b/wait"))
	again, _ := waitLine(t, e.ok("cat cgroup/a/wait"))
	assert.Equal(t, ida, again)
	assert.NotEqual(t, ida, idb, "each exposure runs the view for its own cgroup")
	assert.Equal(t, strconv.FormatUint(ida, 10)+"\n", e.ok("stat -c %i cgroup/a"))
	assert.Equal(t, "0\n", e.ok("stat -c %s cgroup/a/wait"))
	e.ok("echo rm > cgroup/a/wait")
	e.fails("cat cgroup/a/wait", unix.ENOENT)
}
