package fusefs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/simfs/simfs/internal/benchread"
	"github.com/simfs/simfs/vfs"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

// The test binary doubles as a helper that runs in child processes, so
// that the serving process never touches its own mount: FUSEFS_HELPER
// names the mode.
const helperEnv = "FUSEFS_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

func helper(mode string, args []string) int {
	switch mode {
	case "rename": // OLD NEW FLAGS: renameat2(2), prints the errno name or OK
		flags, _ := strconv.ParseUint(args[2], 0, 32)
		err := unix.Renameat2(unix.AT_FDCWD, args[0], unix.AT_FDCWD, args[1], uint(flags))
		fmt.Println(errnoName(err))
		return 0
	case "bench": // PATH N: open+read-to-EOF+close N times, prints nanoseconds
		return benchread.Main(args, os.Stdout, os.Stderr)
	case "ops": // FILE DIR: the less common system calls, one errno name each
		return opsHelper(args[0], args[1])
	case "serve": // DIR: serve a ramfs on DIR until killed
		v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
		srv, err := Serve(v, v.Root(), args[0], Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("serving")
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM)
		<-ch
		_ = srv.Unmount()
		srv.Wait()
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}

func opsHelper(file, dir string) int {
	out := func(name string, err error) { fmt.Printf("%s=%s\n", name, errnoName(err)) }
	_, err := unix.Getxattr(file, "user.x", make([]byte, 64))
	out("getxattr", err)
	out("setxattr", unix.Setxattr(file, "user.x", []byte("v"), 0))
	n, err := unix.Listxattr(file, make([]byte, 64))
	if err == nil {
		err = fmt.Errorf("%d bytes", n)
	}
	out("listxattr", err)
	out("removexattr", unix.Removexattr(file, "user.x"))
	fd, err := unix.Open(file, unix.O_RDONLY, 0)
	if err != nil {
		out("open", err)
		return 1
	}
	out("fsync", unix.Fsync(fd))
	_, err = unix.Seek(fd, 0, unix.SEEK_DATA)
	out("seek_data", err)
	unix.Close(fd)
	if fd, err = unix.Open(file, unix.O_RDWR, 0); err == nil {
		err = unix.Fallocate(fd, 0, 0, 4096)
		unix.Close(fd)
	}
	out("fallocate", err)
	fd, err = unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR, 0600)
	if err == nil {
		unix.Close(fd)
	}
	out("tmpfile", err)
	fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err == nil {
		out("fsyncdir", unix.Fsync(fd))
		unix.Close(fd)
	}
	return 0
}

func errnoName(err error) string {
	if err == nil {
		return "OK"
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		if name := unix.ErrnoName(e); name != "" {
			return name
		}
	}
	return err.Error()
}

// benchReader measures open+read until EOF+close of path, n times after
// 200 warm-ups, and prints the sorted latencies' median, p90, p99 and
// mean in nanoseconds.
// needFUSE skips unless the test runs as root with a FUSE device.
func needFUSE(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("end-to-end FUSE tests need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
}

// mount serves root on a fresh temporary directory and unmounts it when
// the test ends, whatever happened: lazily if anything is still open, so
// that nothing stays mounted.
func mount(t testing.TB, v *vfs.VFS, root *vfs.Inode, opts Options) (*Server, string) {
	t.Helper()
	needFUSE(t)
	dir := t.TempDir()
	opts.Debug = opts.Debug || os.Getenv("FUSEFS_DEBUG") != ""
	opts = uringFromEnv(opts)
	srv, err := Serve(v, root, dir, opts)
	if err != nil {
		t.Skipf("cannot mount FUSE: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
		}
		done := make(chan struct{})
		go func() { srv.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("server of %s did not stop", dir)
			_ = unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	requireURingFromEnv(t, srv)
	return srv, dir
}

// newRamfs is a namespace whose root is a ramfs, and a root caller.
func newRamfs() (*vfs.VFS, *vfs.Caller) {
	return vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{}), vfs.RootCaller()
}

// result is what a tool run in a child process did.
type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
}

// sh runs script with /bin/sh -c in a child process, as root unless cred
// is given.
func sh(t testing.TB, script string) result {
	t.Helper()
	return runCmd(t, nil, "/bin/sh", "-c", script)
}

func runCmd(t testing.TB, cred *syscall.Credential, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{out: stdout.String(), err: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s %q: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %q timed out: %v", name, args, r)
	}
	return r
}

// helperCmd runs the test binary in a helper mode.
func helperCmd(t testing.TB, mode string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper %s %q: %v: %s", mode, args, err, stderr.String())
	}
	return result{out: stdout.String(), err: stderr.String()}
}

// strerror is the message a coreutils tool prints for errno.
func strerror(errno syscall.Errno) string {
	s := errno.Error()
	return strings.ToUpper(s[:1]) + s[1:]
}

// uringTestEnv, when set, makes every mount of the tests use IOURing and
// requires that it is used: `make test` runs
// the suite a second time so, with the kernel's switch turned on.
const uringTestEnv = "SIMFS_FUSE_IO_URING"

func uringFromEnv(opts Options) Options {
	if os.Getenv(uringTestEnv) != "" {
		opts.IOURing = true
	}
	return opts
}

func requireURingFromEnv(t testing.TB, srv *Server) {
	t.Helper()
	if on, why := srv.IOURing(); os.Getenv(uringTestEnv) != "" && srv.opts.IOURing && !on {
		t.Fatalf("%s is set but requests do not travel over io_uring: %v", uringTestEnv, why)
	}
}
