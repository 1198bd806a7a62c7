package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// side is one target of the comparison: where its file system is on the
// host and how it does what is not a file operation (pinning, tasks).
type side struct {
	name string
	root string // host path the script's relative paths start from

	// pinMap and pinProg create a new object and pin it at path;
	// pinAgain pins the object at src again at dst (BPF_OBJ_GET +
	// BPF_OBJ_PIN). They return the errno name or "ok".
	pinMap, pinProg func(path string) string
	pinAgain        func(src, dst string) string

	// spawn starts a task in the cgroup directory dir and names it
	// label; pid says its pid; kill ends it.
	spawn func(label, dir string) string
	pid   func(label string) int
	kill  func(label string) string
	// labels are the tasks spawned so far.
	labels []string
}

// needRoot skips unless the test can mount file systems.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount bpffs, cgroup2 and FUSE")
	}
}

// run executes the helper with args in a child process.
func run(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	// A race-enabled helper would sleep 1 s at exit (atexit_sleep_ms).
	cmd.Env = append(os.Environ(), helperEnv+"=1", "GORACE=atexit_sleep_ms=0 "+os.Getenv("GORACE"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper %q: %v: %s%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// shortTempDir is a temporary directory with a short path (unix socket
// paths are limited to 108 bytes), removed at the end.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "simfs-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	// Unprivileged steps walk to the mounts.
	if err := os.Chmod(d, 0755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// mountFS mounts a file system of type fstype on a new directory and
// unmounts it (lazily) when the test ends.
func mountFS(t *testing.T, fstype string) string {
	t.Helper()
	dir := filepath.Join(shortTempDir(t), fstype)
	if err := os.Mkdir(dir, 0755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(fstype, dir, fstype, 0, ""); err != nil {
		t.Skipf("cannot mount %s: %v", fstype, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// ---- the kernel -----------------------------------------------------

// bpfObj is BPF_OBJ_PIN (cmd 6) or BPF_OBJ_GET (cmd 7) with a raw bpf(2).
func bpfObj(cmd uintptr, path string, fd uint32) (int, error) {
	p, err := unix.BytePtrFromString(path)
	if err != nil {
		return -1, err
	}
	attr := struct {
		Pathname  uint64
		BpfFd     uint32
		FileFlags uint32
		PathFd    int32
		_         uint32
	}{Pathname: uint64(uintptr(unsafe.Pointer(p))), BpfFd: fd}
	r, _, e := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(p)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// realBPFFS is a fresh bpffs with an array map and a socket filter to pin
// (cilium/ebpf objects, pinned with a raw BPF_OBJ_PIN).
func realBPFFS(t *testing.T) *side {
	t.Helper()
	needRoot(t)
	dir := mountFS(t, "bpf")
	mp, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Skipf("cannot create a map: %v", err)
	}
	t.Cleanup(func() { mp.Close() })
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Skipf("cannot load a program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	pin := func(fd int) func(string) string {
		return func(path string) string {
			// The pin's mode is 0600 &^ umask; the helper's umask is 022.
			old := unix.Umask(022)
			defer unix.Umask(old)
			_, err := bpfObj(6, path, uint32(fd))
			return errObs(err)
		}
	}
	return &side{
		name:    "bpffs",
		root:    dir,
		pinMap:  pin(mp.FD()),
		pinProg: pin(prog.FD()),
		pinAgain: func(src, dst string) string {
			fd, err := bpfObj(7, src, 0)
			if err != nil {
				return errObs(err)
			}
			defer unix.Close(fd)
			return pin(fd)(dst)
		},
	}
}

// realCgroup2 mounts cgroup2 and creates the work cgroup work in it (the
// hierarchy is the host's: everything happens below work). Tasks are
// `sleep` processes moved by writing their pid to cgroup.procs.
func realCgroup2(t *testing.T, work string) *side {
	t.Helper()
	needRoot(t)
	mnt := mountFS(t, "cgroup2")
	root := filepath.Join(mnt, work)
	if err := unix.Mkdir(root, 0755); err != nil {
		t.Skipf("cannot create a cgroup: %v", err)
	}
	procs := map[string]*exec.Cmd{}
	pids := map[string]int{} // also of the tasks killed since
	var mu sync.Mutex
	t.Cleanup(func() { // runs before the unmount
		mu.Lock()
		for _, cmd := range procs {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		mu.Unlock()
		removeCgroups(t, root)
	})
	return &side{
		name: "cgroup2",
		root: root,
		spawn: func(label, dir string) string {
			cmd := exec.Command("sleep", "1000")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			procs[label] = cmd
			pids[label] = cmd.Process.Pid
			mu.Unlock()
			return run(t, "write", filepath.Join(dir, "cgroup.procs"), strconv.Itoa(cmd.Process.Pid))
		},
		pid: func(label string) int {
			mu.Lock()
			defer mu.Unlock()
			return pids[label]
		},
		kill: func(label string) string {
			mu.Lock()
			cmd := procs[label]
			delete(procs, label)
			mu.Unlock()
			err := cmd.Process.Kill()
			_ = cmd.Wait()
			return errObs(err)
		},
	}
}

// removeCgroups removes dir and the cgroups below it, deepest first,
// retrying while the kernel is still releasing killed tasks.
func removeCgroups(t *testing.T, dir string) {
	var dirs []string
	_ = filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil && de.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		var err error
		for try := 0; try < 200; try++ {
			if err = unix.Rmdir(dirs[i]); err == nil || err == unix.ENOENT {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil && err != unix.ENOENT {
			t.Errorf("cleanup: rmdir %s: %v", dirs[i], err)
		}
	}
}

// ---- simfs ----------------------------------------------------------

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildDir  string
)

// simfsBinary builds cmd/simfs once per test binary run;
// $SIMFS_E2E_BINARY names a binary built elsewhere instead.
func simfsBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("SIMFS_E2E_BINARY"); bin != "" {
		return bin
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "simfs-e2e-bin-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "simfs")
		out, err := exec.Command("go", "build", "-o", buildBin, "github.com/simfs/simfs/cmd/simfs").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/simfs: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// simfsMount is a running `simfs mount DIR` in a child process.
type simfsMount struct {
	t   *testing.T
	bin string
	dir string
	env []string
}

// startSimfs builds simfs, runs `simfs mount DIR --allow-other` with a
// private registry and stops it (SIGTERM, then unmounts whatever is left)
// when the test ends.
func startSimfs(t *testing.T) *simfsMount {
	t.Helper()
	needRoot(t)
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	m := &simfsMount{t: t, bin: simfsBinary(t), dir: shortTempDir(t)}
	m.env = append(os.Environ(), "LC_ALL=C", "SIMFS_SOCKET=", "SIMFS_RUNTIME_DIR="+filepath.Join(m.dir, ".run"))
	cmd := exec.Command(m.bin, "mount", m.dir, "--allow-other", "--json")
	cmd.Env = m.env
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	first := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case first <- sc.Text():
			default:
			}
		}
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("simfs mount did not stop on SIGTERM: %s", stderr.String())
			_ = cmd.Process.Kill()
			<-exited
		}
		for _, mp := range []string{m.p("bpf"), m.p("cgroup")} {
			if mounted(mp) {
				t.Errorf("%s is still mounted after simfs stopped", mp)
				_ = unix.Unmount(mp, unix.MNT_DETACH)
			}
		}
	})
	select {
	case line := <-first:
		var info struct {
			Pid    int
			Mounts []struct{ Host, Transport string }
		}
		if err := json.Unmarshal([]byte(line), &info); err != nil || info.Pid != cmd.Process.Pid {
			t.Fatalf("simfs mount printed %q: %v", line, err)
		}
		if os.Getenv("SIMFS_FUSE_IO_URING") != "" { // make test's io_uring pass
			for _, mt := range info.Mounts {
				if mt.Transport != "io_uring" {
					t.Fatalf("SIMFS_FUSE_IO_URING is set but %s is served over %s: %s", mt.Host, mt.Transport, stderr.String())
				}
			}
		}
	case <-exited:
		if strings.Contains(stderr.String(), "fuse") {
			t.Skipf("cannot mount FUSE: %s", stderr.String())
		}
		t.Fatalf("simfs mount exited: %s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("simfs mount did not come up: %s", stderr.String())
	}
	return m
}

func (m *simfsMount) p(rel string) string { return filepath.Join(m.dir, rel) }

// cli runs a simfs command; it returns its stdout and the errno name it
// failed with ("ok" on success).
func (m *simfsMount) cli(args ...string) (string, string) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, m.bin, args...)
	cmd.Env = m.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	old := unix.Umask(022) // the CLI's process takes its umask from ours
	err := cmd.Run()
	unix.Umask(old)
	if err == nil {
		return stdout.String(), "ok"
	}
	if e := errnoInMessage.FindStringSubmatch(stderr.String()); e != nil {
		return stdout.String(), e[1]
	}
	m.t.Fatalf("simfs %q: %v: %s", args, err, stderr.String())
	return "", ""
}

// errnoInMessage finds the errno name in simfs's error message
// ("simfs: BPF_OBJ_PIN ...: ENXIO (No such device or address)").
var errnoInMessage = regexp.MustCompile(`\b(E[A-Z0-9]+) \(`)

// simfsBPF is simfs's bpffs (DIR/bpf): maps by `simfs map create`,
// programs by `simfs prog load`, pins by `simfs pin`.
func (m *simfsMount) bpfSide() *side {
	prog := filepath.Join(m.dir, "prog.s")
	if err := os.WriteFile(prog, []byte(".type syscall\nmov %r0, 0\nexit\n"), 0644); err != nil {
		m.t.Fatal(err)
	}
	return &side{
		name: "simfs",
		root: m.p("bpf"),
		pinMap: func(path string) string {
			_, e := m.cli("map", "create", path, "--type", "array", "--key", "4", "--value", "8", "--entries", "1")
			return e
		},
		pinProg: func(path string) string {
			_, e := m.cli("prog", "load", prog, path)
			return e
		},
		pinAgain: func(src, dst string) string {
			_, e := m.cli("pin", src, dst)
			return e
		},
	}
}

// cgroupSide is simfs's cgroup2 (DIR/cgroup) with the work cgroup work,
// made through the mount. Tasks are `simfs task spawn` pids.
func (m *simfsMount) cgroupSide(work string) *side {
	root := m.p("cgroup/" + work)
	if r := run(m.t, "mkdir", root, "755"); r != "ok" {
		m.t.Fatalf("mkdir %s: %s", root, r)
	}
	pids := map[string]int{}
	var mu sync.Mutex
	return &side{
		name: "simfs",
		root: root,
		spawn: func(label, dir string) string {
			out, e := m.cli("task", "spawn", dir)
			if e != "ok" {
				return e
			}
			pid, err := strconv.Atoi(strings.TrimSpace(out))
			if err != nil {
				m.t.Fatalf("simfs task spawn printed %q", out)
			}
			mu.Lock()
			pids[label] = pid
			mu.Unlock()
			return "n=all" // what the kernel side's write of the pid says
		},
		pid: func(label string) int {
			mu.Lock()
			defer mu.Unlock()
			return pids[label]
		},
		kill: func(label string) string {
			_, e := m.cli("task", "exit", strconv.Itoa(m.pidOf(pids, &mu, label)))
			return e
		},
	}
}

func (m *simfsMount) pidOf(pids map[string]int, mu *sync.Mutex, label string) int {
	mu.Lock()
	defer mu.Unlock()
	return pids[label]
}

// mounted reports whether dir is a mount point in /proc/self/mounts.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// syncBuffer collects a child's stderr while the test may read it.
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
