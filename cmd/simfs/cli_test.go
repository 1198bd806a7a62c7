package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/simfs/simfs/daemon"
	"github.com/simfs/simfs/internal/benchread"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// benchReaderEnv makes the test binary the benchmarks' reader process
// (internal/benchread): a process must not read a mount its own process
// serves, and the daemon here is a child anyway.
const benchReaderEnv = "SIMFS_BENCH_READER"

func TestMain(m *testing.M) {
	if os.Getenv(benchReaderEnv) != "" {
		os.Exit(benchread.Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

type result struct {
	out, err string
	rc       int
}

func simfs(args ...string) result {
	var out, errb bytes.Buffer
	rc := run(args, &out, &errb)
	return result{out.String(), errb.String(), rc}
}

// startServe runs `simfs serve` (the daemon without FUSE) in-process with
// a private registry, until the test ends.
func startServe(t *testing.T) string {
	t.Helper()
	return startServeWith(t, daemonOpts{})
}

// startServeWith is startServe with the machine and scheduler options of o.
func startServeWith(t *testing.T, o daemonOpts) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "simfscli")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	t.Setenv("SIMFS_RUNTIME_DIR", filepath.Join(dir, "reg"))
	t.Setenv("SIMFS_SOCKET", "")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	go func() {
		o.json = true
		o.ready = func(info daemon.DaemonInfo, _ *kernel.Machine) error {
			ready <- info.Socket
			return nil
		}
		done <- runDaemon(ctx, &env{stdout: &out, stderr: &out}, o)
	}()
	var sock string
	select {
	case sock = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v: %s", err, out.String())
	}
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		infos := daemon.ListAll()
		assert.Empty(t, infos, "the daemon unregisters")
	})
	return sock
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(text), 0644))
	return p
}

func TestCLIWithoutFUSE(t *testing.T) {
	sock := startServe(t)
	prog := writeFile(t, "p.s", ".type syscall\nldxw %r0, [%r1]\nadd %r0, 1\nexit\n")

	// The only daemon running is found without --socket.
	r := simfs("prog", "load", prog, "/sys/fs/bpf/p", "--json")
	require.Zero(t, r.rc, r.err)
	var load daemon.ProgLoadResult
	require.NoError(t, json.Unmarshal([]byte(r.out), &load))
	assert.Equal(t, "syscall", load.Type)
	assert.Equal(t, "/sys/fs/bpf/p", load.Path)
	assert.NotZero(t, load.ID)

	r = simfs("pin", "/sys/fs/bpf/p", "/sys/fs/bpf/q", "--socket", sock)
	require.Zero(t, r.rc, r.err)
	assert.Equal(t, fmt.Sprintf("prog %d pinned at /sys/fs/bpf/q\n", load.ID), r.out)

	r = simfs("prog", "show", "--json")
	require.Zero(t, r.rc, r.err)
	var objs []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.out), &objs))
	require.Len(t, objs, 1)
	assert.Equal(t, []any{"/sys/fs/bpf/p", "/sys/fs/bpf/q"}, objs[0]["pinned"])
	assert.Equal(t, "prog", objs[0]["obj_type"])
	assert.Equal(t, "syscall", objs[0]["type"])

	r = simfs("prog", "show")
	require.Zero(t, r.rc, r.err)
	assert.Regexp(t, `^\d+: syscall  name p  tag [0-9a-f]{16}  license GPL\n\tloaded_at \S+  insns 3  refs 2\n\tpinned /sys/fs/bpf/p\n\tpinned /sys/fs/bpf/q\n$`, r.out)

	r = simfs("prog", "run", "/sys/fs/bpf/p", "--ctx", "29 00 00 00", "--json")
	require.Zero(t, r.rc, r.err)
	var run map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.out), &run))
	assert.Equal(t, float64(42), run["retval"])

	// Errors: exit 1, the errno by name.
	r = simfs("pin", "/sys/fs/bpf/p", "/sys/fs/bpf/q")
	assert.Equal(t, 1, r.rc)
	assert.Equal(t, "simfs: BPF_OBJ_PIN /sys/fs/bpf/q: EEXIST (File exists)\n", r.err)
	// The RFC: a pinned program can be exposed in a cgroup directory...
	r = simfs("pin", "/sys/fs/bpf/p", "/sys/fs/cgroup/x")
	assert.Equal(t, 0, r.rc, r.err)
	// ...but not twice under one name.
	r = simfs("pin", "/sys/fs/bpf/p", "/sys/fs/cgroup/x")
	assert.Equal(t, 1, r.rc)
	assert.Equal(t, "simfs: BPF_OBJ_PIN /sys/fs/cgroup/x: EEXIST (File exists)\n", r.err)
	r = simfs("pin", "/sys/fs/bpf/p", "/elsewhere/x")
	assert.Equal(t, 1, r.rc)
	assert.Contains(t, r.err, "EXDEV (Invalid cross-device link)")
	r = simfs("pin", "/sys/fs/bpf/p")
	assert.Equal(t, 2, r.rc, "usage")
	assert.Contains(t, r.err, "usage: simfs pin SRC DST")
	r = simfs("prog", "frobnicate")
	assert.Equal(t, 2, r.rc)

	// Maps.
	r = simfs("map", "create", "/sys/fs/bpf/m", "--type", "hash", "--key", "4", "--value", "8", "--entries", "8", "--json")
	require.Zero(t, r.rc, r.err)
	var mres daemon.ObjResult
	require.NoError(t, json.Unmarshal([]byte(r.out), &mres))
	assert.Equal(t, "map", mres.ObjType)
	assert.Equal(t, "/sys/fs/bpf/m", mres.Path)
	assert.NotZero(t, mres.ID)
	r = simfs("map", "update", "/sys/fs/bpf/m", "--key-u32", "1", "--value-u64", "258")
	require.Zero(t, r.rc, r.err)
	assert.Empty(t, r.out)
	r = simfs("map", "update", "/sys/fs/bpf/m", "02 00 00 00", "0x05 0 0 0 0 0 0 0")
	require.Zero(t, r.rc, r.err)
	r = simfs("map", "update", "/sys/fs/bpf/m", "--noexist", "02000000", "0000000000000000")
	assert.Equal(t, 1, r.rc)
	assert.Contains(t, r.err, "EEXIST")
	r = simfs("map", "lookup", "/sys/fs/bpf/m", "--key-u32", "1", "--json")
	require.Zero(t, r.rc, r.err)
	assert.JSONEq(t, `{"key":"01 00 00 00","value":"02 01 00 00 00 00 00 00"}`, r.out)
	r = simfs("map", "dump", "/sys/fs/bpf/m")
	require.Zero(t, r.rc, r.err)
	assert.Equal(t, "key: 01 00 00 00  value: 02 01 00 00 00 00 00 00\nkey: 02 00 00 00  value: 05 00 00 00 00 00 00 00\nFound 2 elements\n", r.out)
	r = simfs("map", "dump", "/sys/fs/bpf/m", "--json")
	require.Zero(t, r.rc, r.err)
	var entries []map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.out), &entries))
	assert.Len(t, entries, 2)
	r = simfs("map", "delete", "/sys/fs/bpf/m", "--key-u32", "1")
	require.Zero(t, r.rc, r.err)
	r = simfs("map", "lookup", "/sys/fs/bpf/m", "01000000")
	assert.Equal(t, 1, r.rc)
	assert.Contains(t, r.err, "ENOENT (No such file or directory)")
	r = simfs("map", "show", "--json")
	require.Zero(t, r.rc, r.err)
	assert.Contains(t, r.out, `"map_type": "hash"`)

	// A program that references the map by .map.
	counter := writeFile(t, "c.s", ".type syscall\n.map m /sys/fs/bpf/m\nlddw %r1, map:m\nmov %r0, 0\nexit\n")
	r = simfs("prog", "load", counter, "/sys/fs/bpf/c")
	require.Zero(t, r.rc, r.err)
	assert.Regexp(t, `^prog \d+ \(syscall\) c pinned at /sys/fs/bpf/c\n$`, r.out)

	// Tasks.
	r = simfs("task", "spawn", "/sys/fs/cgroup", "--json")
	require.Zero(t, r.rc, r.err)
	var tk daemon.TaskResult
	require.NoError(t, json.Unmarshal([]byte(r.out), &tk))
	assert.Equal(t, "/sys/fs/cgroup", tk.Cgroup)
	assert.Equal(t, uint64(1), tk.CgroupID)
	r = simfs("task", "exit", "1000000")
	assert.Equal(t, 1, r.rc)
	assert.Contains(t, r.err, "ESRCH")

	r = simfs("btf", "dump")
	require.Zero(t, r.rc)
	assert.Contains(t, r.out, "struct kernfs_node {")
	r = simfs("status", "--json")
	require.Zero(t, r.rc)
	var infos []daemon.DaemonInfo
	require.NoError(t, json.Unmarshal([]byte(r.out), &infos))
	require.Len(t, infos, 1)
	assert.Equal(t, sock, infos[0].Socket)
}

func TestCLIEvents(t *testing.T) {
	startServe(t)
	prog := writeFile(t, "p.s", ".type syscall\nmov %r0, 0\nexit\n")
	done := make(chan result, 1)
	go func() { done <- simfs("events", "--json", "--count", "4") }()
	// The stream may start in the middle of a round of load, pin, unpin
	// and free: any four events in a row of these rounds are the four
	// kinds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		require.Zero(t, simfs("prog", "load", prog, "/sys/fs/bpf/p").rc)
		require.NoError(t, unpin("/sys/fs/bpf/p"))
		var r result
		select {
		case r = <-done:
		default:
			require.True(t, time.Now().Before(deadline), "no events")
			continue
		}
		require.Zero(t, r.rc, r.err)
		lines := strings.Split(strings.TrimSpace(r.out), "\n")
		require.Len(t, lines, 4, r.out)
		var kinds []string
		for _, l := range lines {
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(l), &ev))
			kinds = append(kinds, ev["kind"].(string))
			assert.Contains(t, ev, "seq")
			assert.Contains(t, ev, "time")
		}
		assert.ElementsMatch(t, []string{"prog_load", "pin", "unpin", "free"}, kinds)
		return
	}
}

// unpin removes a pin through a library-level client (the CLI has no rm:
// with FUSE that is rm(1)).
func unpin(p string) error {
	infos := daemon.ListAll()
	c, err := daemon.Dial(infos[0].Socket, "rm")
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Call(daemon.OpUnlink, daemon.PathArgs{Path: p}, nil)
}

func TestHostPathsInMessages(t *testing.T) {
	mounts := []daemon.Mount{{Host: "/tmp/s/bpf", Sim: "/sys/fs/bpf"}, {Host: "/tmp/s/cgroup", Sim: "/sys/fs/cgroup"}}
	assert.Equal(t, "BPF_OBJ_PIN /tmp/s/cgroup/a/x: thing", hostPaths(mounts, "BPF_OBJ_PIN /sys/fs/cgroup/a/x: thing"))
	assert.Equal(t, `open "/tmp/s/bpf/x", (/tmp/s/bpf)`, hostPaths(mounts, `open "/sys/fs/bpf/x", (/sys/fs/bpf)`))
	assert.Equal(t, "/sys/fs/bpfx stays", hostPaths(mounts, "/sys/fs/bpfx stays"))
}

func TestParseHex(t *testing.T) {
	for in, want := range map[string][]byte{
		"01 00 00 00": {1, 0, 0, 0},
		"01000000":    {1, 0, 0, 0},
		"0x01 0x2":    {1, 2},
		"1,2,3":       {1, 2, 3},
		"":            nil,
	} {
		got, err := parseHex(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := parseHex("zz")
	assert.Error(t, err)
	_, err = parseHex("123")
	assert.Error(t, err)
}

func TestModeString(t *testing.T) {
	assert.Equal(t, "drwxrwxrwt", modeString(0o41777))
	assert.Equal(t, "-rw-------", modeString(0o100600))
	assert.Equal(t, "drwxr-xr-x", modeString(0o40755))
}

func TestSplitWords(t *testing.T) {
	w, err := splitWords(`simfs pin '/a b' /c && x`)
	require.NoError(t, err)
	assert.Equal(t, []string{"simfs", "pin", "/a b", "/c", "&&", "x"}, w)
	_, err = splitWords(`'open`)
	assert.Error(t, err)
}

// TestDemoLibrary runs the demo without FUSE: the walkthrough through the
// library, which is what machines without root or /dev/fuse get.
func TestDemoLibrary(t *testing.T) {
	t.Setenv("SIMFS_RUNTIME_DIR", filepath.Join(t.TempDir(), "reg"))
	r := simfs("demo", "--once", "--library", "--dir", shortTempDir(t))
	require.Zero(t, r.rc, r.out+r.err)
	assert.Contains(t, r.out, "FUSE is not used (--library was given)")
	assert.Contains(t, r.out, "steps went as the RFC says")
	assert.NotContains(t, r.out, "UNEXPECTED")
}

func shortTempDir(t testing.TB) string {
	d, err := os.MkdirTemp("", "simfsdemo")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// The demo embeds a copy of the example's committed object; it must be
// the same bytes (cp examples/pinning_kernfs/pinning_kernfs.bpf.o
// cmd/simfs/demodata/ after `make examples`).
func TestDemoObjectIsTheExample(t *testing.T) {
	ex, err := os.ReadFile("../../examples/pinning_kernfs/pinning_kernfs.bpf.o")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(ex, seedObject), "cmd/simfs/demodata/pinning_kernfs.bpf.o differs from the example's object")
}

// TestBTFDumpCompiles: `simfs btf dump` is a vmlinux.h that clang builds
// the seed's C source against, and the object runs on the simulator with
// no relocation to do. It needs clang and libbpf's headers.
func TestBTFDumpCompiles(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("no clang")
	}
	dir := t.TempDir()
	probe := exec.Command(clang, "-target", "bpf", "-E", "-x", "c", "-")
	probe.Stdin = strings.NewReader("#include <bpf/bpf_helpers.h>\n")
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("no <bpf/bpf_helpers.h> (libbpf-dev): %s", out)
	}
	r := simfs("btf", "dump")
	require.Zero(t, r.rc, r.err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vmlinux.h"), []byte(r.out), 0644))
	obj := filepath.Join(dir, "pk.bpf.o")
	out, err := exec.Command(clang, "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-D__TARGET_ARCH_x86", "-Wall", "-Werror",
		"-I", dir, "-c", "../../examples/pinning_kernfs/pinning_kernfs.bpf.c", "-o", obj).CombinedOutput()
	require.NoError(t, err, "clang: %s", out)

	sock := startServe(t)
	r = simfs("prog", "loadall", obj, "/sys/fs/bpf/pk", "--socket", sock)
	require.Zero(t, r.rc, r.err)
	for _, args := range [][]string{
		{"link", "create", "/sys/fs/bpf/pk/wait_record", "/sys/fs/bpf/pk/record"},
		{"task", "spawn", "/sys/fs/cgroup"}, {"task", "spawn", "/sys/fs/cgroup"},
		{"sched", "run", "300"},
		{"link", "create", "/sys/fs/bpf/pk/wait_show", "/sys/fs/bpf/pk/show"},
		{"pin", "/sys/fs/bpf/pk/show", "/sys/fs/cgroup/wait"},
	} {
		r = simfs(args...)
		require.Zero(t, r.rc, "%v: %s", args, r.err)
	}
	c, err := daemon.Dial(sock, "cat")
	require.NoError(t, err)
	defer c.Close()
	var f daemon.FileResult
	require.NoError(t, c.Call(daemon.OpReadFile, daemon.FileArgs{Path: "/sys/fs/cgroup/wait"}, &f))
	var id, wait uint64
	_, err = fmt.Sscanf(string(f.Data), "%d %d\n", &id, &wait)
	require.NoError(t, err, "%q", f.Data)
	assert.Equal(t, uint64(1), id)
	assert.NotZero(t, wait)
}

func TestSchedCommands(t *testing.T) {
	sock := startServe(t)
	r := simfs("sched", "show", "--socket", sock)
	require.Zero(t, r.rc, r.err)
	assert.Equal(t, "simulated time 0s (0 ticks of 4ms), 1 CPU, 0 tasks, sched_stat_wait fired 0 times\nno background ticks: `simfs sched run N` advances it\n", r.out)
	for range 2 {
		require.Zero(t, simfs("task", "spawn", "/sys/fs/cgroup").rc)
	}
	r = simfs("sched", "run", "10")
	require.Zero(t, r.rc, r.err)
	assert.Equal(t, "ran 10 ticks: simulated time 40ms (10 ticks of 4ms), 1 CPU, 2 tasks, sched_stat_wait fired 0 times\n", r.out,
		"no program attached: nothing fires")
	r = simfs("sched", "show")
	require.Zero(t, r.rc, r.err)
	assert.Regexp(t, `(?m)^PID +STATE +CPU +RUN +WAIT +WAITS +MAX_WAIT_NS  CGROUP\n\d+ +\w+ +0 .* /sys/fs/cgroup\n`, r.out)
	r = simfs("sched", "show", "--json")
	require.Zero(t, r.rc, r.err)
	var res daemon.SchedResult
	require.NoError(t, json.Unmarshal([]byte(r.out), &res))
	assert.Len(t, res.Tasks, 2)
	assert.Equal(t, 40*time.Millisecond, res.Now)
	r = simfs("sched", "run", "x")
	assert.Equal(t, 2, r.rc)
	r = simfs("sched", "run", "2000000")
	assert.Equal(t, 1, r.rc)
	assert.Contains(t, r.err, "EINVAL")
}

// The daemon's scheduler ticks in the background until the daemon stops
// (TestMain's goleak checks its goroutine ends).
func TestServeSchedulesInTheBackground(t *testing.T) {
	startServeWith(t, daemonOpts{seed: 3, sched: sched.Options{CPUs: 2}, schedEvery: time.Millisecond})
	for range 3 {
		require.Zero(t, simfs("task", "spawn", "/sys/fs/cgroup").rc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := simfs("sched", "show", "--json")
		require.Zero(t, r.rc, r.err)
		var res daemon.SchedResult
		require.NoError(t, json.Unmarshal([]byte(r.out), &res))
		assert.Equal(t, 2, res.CPUs)
		assert.Equal(t, uint64(3), res.Seed)
		assert.Equal(t, time.Millisecond, res.Background)
		if res.Ticks >= 20 {
			break
		}
		require.True(t, time.Now().Before(deadline), "no background ticks")
		time.Sleep(5 * time.Millisecond)
	}
}
