// Package vfstest runs file-system operations on the running kernel so that
// tests can compare simfs with Linux (differential tests).
//
// A [Sandbox] is one OS thread, locked to a goroutine that never unlocks it,
// in a private mount namespace, chrooted into a fresh mount of the file
// system under test (ramfs, tmpfs, ...). Absolute paths inside the sandbox
// therefore mean the same thing as in a simfs VFS whose root is that file
// system. The thread's umask, working directory and filesystem credentials
// (fsuid, fsgid, supplementary groups) are its own, so tests can act as
// unprivileged users without touching the rest of the test binary. When
// the sandbox closes, its goroutine exits and Go terminates the thread, which
// takes the namespace and every mount in it along.
//
// Sandboxes need root (CAP_SYS_ADMIN for unshare and mount, CAP_SETUID and
// CAP_SETGID for the credential switch); [New] skips the test otherwise.
package vfstest

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// Sandbox is a thread in a private mount namespace, chrooted into a fresh
// file system.
type Sandbox struct {
	calls  chan func()
	done   chan struct{}
	closed bool

	// HostDir is where the file system is mounted, as seen from the
	// sandbox's mount namespace before the chroot. Outside the sandbox the
	// directory is empty: the mount exists only in the private namespace.
	HostDir string
	// FSType is the file system type mounted at the sandbox root.
	FSType string
}

// New starts a sandbox whose root is a new mount of fstype with the given
// mount options (for example "mode=0755"). It skips tb when the process is
// not root or the kernel refuses (no mount privileges in a container), so
// that tests pass unprivileged. The sandbox closes when the test ends.
func New(tb testing.TB, fstype, opts string) *Sandbox {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("differential test against the kernel needs root")
	}
	s, err := Start(tb.TempDir(), fstype, opts)
	if err != nil {
		tb.Skipf("cannot build a kernel sandbox: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Start starts a sandbox mounted on dir, an empty directory. The caller
// must Close it.
func Start(dir, fstype, opts string) (*Sandbox, error) {
	s := &Sandbox{
		calls:   make(chan func()),
		done:    make(chan struct{}),
		HostDir: dir,
		FSType:  fstype,
	}
	ready := make(chan error)
	go s.loop(fstype, opts, ready)
	if err := <-ready; err != nil {
		<-s.done
		return nil, err
	}
	return s, nil
}

var (
	probeOnce sync.Once
	probeErr  error
)

// Available reports (once per process) whether sandboxes can be built:
// nil if a ramfs sandbox could be started and closed.
func Available() error {
	probeOnce.Do(func() {
		if os.Geteuid() != 0 {
			probeErr = errors.New("not root")
			return
		}
		dir, err := os.MkdirTemp("", "vfstest-probe")
		if err != nil {
			probeErr = err
			return
		}
		defer os.Remove(dir)
		s, err := Start(dir, "ramfs", "")
		if err != nil {
			probeErr = err
			return
		}
		s.Close()
	})
	return probeErr
}

func (s *Sandbox) loop(fstype, opts string, ready chan<- error) {
	// The thread is never unlocked: when this goroutine returns, Go
	// terminates the thread and with it the private namespace, root and
	// credentials set below.
	runtime.LockOSThread()
	defer close(s.done)
	if err := s.setup(fstype, opts); err != nil {
		ready <- err
		return
	}
	ready <- nil
	for fn := range s.calls {
		fn()
	}
	// Explicit cleanup; the namespace going away would do it too.
	_ = s.setCred(0, 0, nil)
	_ = unix.Unmount("/", unix.MNT_DETACH)
}

func (s *Sandbox) setup(fstype, opts string) error {
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("none", s.HostDir, fstype, 0, opts); err != nil {
		return fmt.Errorf("mount -t %s: %w", fstype, err)
	}
	if err := unix.Chroot(s.HostDir); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir: %w", err)
	}
	unix.Umask(0)
	return nil
}

// Do runs fn on the sandbox thread and returns when it is done. Every
// system call fn makes through golang.org/x/sys/unix sees the sandbox's
// root, working directory, umask and credentials. fn must not start
// goroutines that make system calls (they would run on other threads).
func (s *Sandbox) Do(fn func()) {
	if s.closed {
		panic("vfstest: Do on a closed sandbox")
	}
	var p any
	finished := make(chan struct{})
	s.calls <- func() {
		defer close(finished)
		defer func() { p = recover() }()
		fn()
	}
	<-finished
	if p != nil {
		panic(p)
	}
}

// SetCred makes the sandbox thread act as uid/gid with the supplementary
// groups: setfsuid(2), setfsgid(2) and setgroups(2), which are per thread.
// Leaving fsuid 0 drops CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN, CAP_MKNOD
// and the other file-system capabilities from the effective set, as for a
// real unprivileged user; returning to 0 restores them.
func (s *Sandbox) SetCred(uid, gid uint32, groups []uint32) error {
	var err error
	s.Do(func() { err = s.setCred(uid, gid, groups) })
	return err
}

func (s *Sandbox) setCred(uid, gid uint32, groups []uint32) error {
	// Back to fsuid 0 first so that setgroups still has its capability.
	if err := unix.Setfsuid(0); err != nil {
		return err
	}
	gs := make([]int, len(groups))
	for i, g := range groups {
		gs[i] = int(g)
	}
	if err := unix.Setgroups(gs); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setfsgid(int(gid)); err != nil {
		return err
	}
	if err := unix.Setfsuid(int(uid)); err != nil {
		return err
	}
	// setfsuid reports failure only through the returned old value.
	if old, _ := unix.SetfsuidRetUid(int(uid)); old != int(uid) {
		return fmt.Errorf("setfsuid(%d) did not take (fsuid %d)", uid, old)
	}
	if old, _ := unix.SetfsgidRetGid(int(gid)); old != int(gid) {
		return fmt.Errorf("setfsgid(%d) did not take (fsgid %d)", gid, old)
	}
	return nil
}

// Close ends the sandbox: its thread exits, and the kernel tears down its
// mount namespace with every mount made in it. It waits for the thread.
func (s *Sandbox) Close() {
	if s.closed {
		return
	}
	s.closed = true
	close(s.calls)
	<-s.done
}

// HostMounted reports whether HostDir appears in the mount table seen by
// the test's other threads; it never should, which tests may check.
func (s *Sandbox) HostMounted() bool {
	var b []byte
	var err error
	done := make(chan struct{})
	go func() {
		// A thread of its own: /proc/self would name the thread-group
		// leader, which in theory could be a sandbox thread.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b, err = os.ReadFile("/proc/thread-self/mountinfo")
		close(done)
	}()
	<-done
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == s.HostDir {
			return true
		}
	}
	return false
}
