package cgroup_test

// The differential test runs the same operations on a real cgroup2 mount
// and on the simulator and compares every observation. It needs root and
// a kernel that can mount cgroup2; it skips otherwise.
//
// `mount -t cgroup2` shows the one unified hierarchy the host uses, so the
// test works only under a directory it creates with a unique name, moves
// only processes it started, and removes everything it created before it
// unmounts. Observations that depend on the host (the root's task lists,
// system-wide CPU and pressure numbers, other cgroups' counts) are
// compared by shape only; cgroup ids are compared by their structure
// (file ids relative to their directory's, the gap between sibling
// cgroups) because the kernel's allocator has been running since boot.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// statObs is what the test compares of a stat(2).
type statObs struct {
	mode, nlink, uid, gid uint32
	size                  int64
	ino                   uint64
}

// handle is an open file.
type handle interface {
	Read(n int) (string, error)
	Pread(n int, off int64) (string, error)
	Write(data string) (int, error)
	Seek(off int64, whence int) (int64, error)
	Fstat() (statObs, error)
	ReadDir() ([]string, error)
	MkdirAt(name string) error
	Close() error
}

// fsys is a cgroup2 mount seen through system calls: the kernel's or the
// simulator's. Paths are relative to the mount; "@out/..." is outside it.
type fsys interface {
	Mkdir(rel string, mode uint32) error
	Rmdir(rel string) error
	Rename(from, to string, flags uint) error
	Unlink(rel string) error
	Create(rel string, flags int) error
	Mknod(rel string, mode uint32) error
	Symlink(target, rel string) error
	Link(old, rel string) error
	Chmod(rel string, mode uint32) error
	Chown(rel string, uid, gid int) error
	Truncate(rel string, size int64) error
	Stat(rel string) (statObs, error)
	ReadDir(rel string) ([]string, error)
	Open(rel string, flags int) (handle, error)
	// Spawn starts a task labelled label and moves it into rel by writing
	// its pid to rel/cgroup.procs.
	Spawn(label, rel string) error
	// Pid returns the pid of a task.
	Pid(label string) int
	// Reap waits for a killed task to be gone.
	Reap(label string)
	// AsUser returns the file system seen by uid/gid (fsuid, no groups).
	AsUser(uid, gid int) fsys
}

// ---- the kernel -----------------------------------------------------

type realFS struct {
	mnt, out string
	procs    map[string]*exec.Cmd
	user     *[2]int // fsuid/fsgid to act as, nil for root
}

// path joins without cleaning: "a/." and "a/.." must reach the kernel.
func (r *realFS) path(rel string) string {
	if rest, ok := strings.CutPrefix(rel, "@out/"); ok {
		return r.out + "/" + rest
	}
	return r.mnt + "/" + rel
}

// as runs fn on a locked OS thread with r's fsuid/fsgid; the thread is
// thrown away afterwards, so its credentials never leak.
func (r *realFS) as(fn func() error) error {
	if r.user == nil {
		return fn()
	}
	ch := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		if err := unix.Setgroups(nil); err != nil {
			ch <- err
			return
		}
		if err := unix.Setfsgid(r.user[1]); err != nil {
			ch <- err
			return
		}
		if err := unix.Setfsuid(r.user[0]); err != nil {
			ch <- err
			return
		}
		ch <- fn()
	}()
	return <-ch
}

func (r *realFS) AsUser(uid, gid int) fsys {
	return &realFS{mnt: r.mnt, out: r.out, procs: r.procs, user: &[2]int{uid, gid}}
}

func (r *realFS) Mkdir(rel string, mode uint32) error {
	return r.as(func() error { return unix.Mkdir(r.path(rel), mode) })
}
func (r *realFS) Rmdir(rel string) error {
	return r.as(func() error { return unix.Rmdir(r.path(rel)) })
}
func (r *realFS) Rename(from, to string, flags uint) error {
	return unix.Renameat2(unix.AT_FDCWD, r.path(from), unix.AT_FDCWD, r.path(to), flags)
}
func (r *realFS) Unlink(rel string) error { return unix.Unlink(r.path(rel)) }
func (r *realFS) Create(rel string, flags int) error {
	fd, err := unix.Open(r.path(rel), flags|unix.O_CREAT|unix.O_WRONLY, 0644)
	if err == nil {
		unix.Close(fd)
	}
	return err
}
func (r *realFS) Mknod(rel string, mode uint32) error  { return unix.Mknod(r.path(rel), mode, 0) }
func (r *realFS) Symlink(target, rel string) error     { return unix.Symlink(target, r.path(rel)) }
func (r *realFS) Link(old, rel string) error           { return unix.Link(r.path(old), r.path(rel)) }
func (r *realFS) Chmod(rel string, mode uint32) error  { return unix.Chmod(r.path(rel), mode) }
func (r *realFS) Chown(rel string, uid, gid int) error { return unix.Chown(r.path(rel), uid, gid) }
func (r *realFS) Truncate(rel string, size int64) error {
	return unix.Truncate(r.path(rel), size)
}

func toObs(st *unix.Stat_t) statObs {
	return statObs{mode: st.Mode, nlink: uint32(st.Nlink), uid: st.Uid, gid: st.Gid, size: st.Size, ino: st.Ino}
}

func (r *realFS) Stat(rel string) (statObs, error) {
	var st unix.Stat_t
	if err := unix.Stat(r.path(rel), &st); err != nil {
		return statObs{}, err
	}
	return toObs(&st), nil
}

func (r *realFS) ReadDir(rel string) ([]string, error) {
	f, err := os.Open(r.path(rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1) // getdents order, unsorted
}

func (r *realFS) Open(rel string, flags int) (handle, error) {
	var fd int
	err := r.as(func() error {
		var err error
		fd, err = unix.Open(r.path(rel), flags, 0)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &realHandle{fd: fd}, nil
}

func (r *realFS) Spawn(label, rel string) error {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		return err
	}
	r.procs[label] = cmd
	fd, err := unix.Open(r.path(rel+"/cgroup.procs"), unix.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(strconv.Itoa(cmd.Process.Pid)))
	return err
}

func (r *realFS) Pid(label string) int { return r.procs[label].Process.Pid }

func (r *realFS) Reap(label string) {
	if cmd := r.procs[label]; cmd != nil {
		_ = cmd.Wait()
		delete(r.procs, label)
	}
}

type realHandle struct{ fd int }

func (h *realHandle) Read(n int) (string, error) {
	buf := make([]byte, n)
	k, err := unix.Read(h.fd, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:k]), nil
}

func (h *realHandle) Pread(n int, off int64) (string, error) {
	buf := make([]byte, n)
	k, err := unix.Pread(h.fd, buf, off)
	if err != nil {
		return "", err
	}
	return string(buf[:k]), nil
}

func (h *realHandle) Write(data string) (int, error) { return unix.Write(h.fd, []byte(data)) }
func (h *realHandle) Seek(off int64, whence int) (int64, error) {
	return unix.Seek(h.fd, off, whence)
}
func (h *realHandle) Fstat() (statObs, error) {
	var st unix.Stat_t
	if err := unix.Fstat(h.fd, &st); err != nil {
		return statObs{}, err
	}
	return toObs(&st), nil
}
func (h *realHandle) ReadDir() ([]string, error) {
	f := os.NewFile(uintptr(h.fd), "dir")
	names, err := f.Readdirnames(-1)
	// Hand the fd back: os.File would close it on finalization.
	h.fd, _ = unix.Dup(int(f.Fd()))
	f.Close()
	return names, err
}
func (h *realHandle) MkdirAt(name string) error { return unix.Mkdirat(h.fd, name, 0755) }
func (h *realHandle) Close() error              { return unix.Close(h.fd) }

// ---- the simulator --------------------------------------------------

type simFS struct {
	e     *env
	c     *vfs.Caller
	tasks map[string]*cgroup.Task
}

func (s *simFS) path(rel string) string {
	if rest, ok := strings.CutPrefix(rel, "@out/"); ok {
		return "/outside/" + rest
	}
	return s.e.p(rel)
}

func (s *simFS) AsUser(uid, gid int) fsys {
	return &simFS{e: s.e, tasks: s.tasks, c: &vfs.Caller{Cred: vfs.Cred{UID: uint32(uid), GID: uint32(gid)}, Umask: 022}}
}

func (s *simFS) Mkdir(rel string, mode uint32) error { return s.e.v.Mkdir(s.c, s.path(rel), mode) }
func (s *simFS) Rmdir(rel string) error              { return s.e.v.Rmdir(s.c, s.path(rel)) }
func (s *simFS) Rename(from, to string, flags uint) error {
	return s.e.v.Rename(s.c, s.path(from), s.path(to), uint32(flags))
}
func (s *simFS) Unlink(rel string) error { return s.e.v.Unlink(s.c, s.path(rel)) }
func (s *simFS) Create(rel string, flags int) error {
	f, err := s.e.v.Open(s.c, s.path(rel), flags|unix.O_CREAT|unix.O_WRONLY, 0644)
	if err == nil {
		f.Close()
	}
	return err
}
func (s *simFS) Mknod(rel string, mode uint32) error { return s.e.v.Mknod(s.c, s.path(rel), mode, 0) }
func (s *simFS) Symlink(target, rel string) error    { return s.e.v.Symlink(s.c, target, s.path(rel)) }
func (s *simFS) Link(old, rel string) error          { return s.e.v.Link(s.c, s.path(old), s.path(rel)) }
func (s *simFS) Chmod(rel string, mode uint32) error { return s.e.v.Chmod(s.c, s.path(rel), mode) }
func (s *simFS) Chown(rel string, uid, gid int) error {
	return s.e.v.Chown(s.c, s.path(rel), uint32(uid), uint32(gid))
}
func (s *simFS) Truncate(rel string, size int64) error {
	return s.e.v.Truncate(s.c, s.path(rel), size)
}

func simObs(st vfs.Stat) statObs {
	return statObs{mode: st.Mode, nlink: st.Nlink, uid: st.UID, gid: st.GID, size: st.Size, ino: st.Ino}
}

func (s *simFS) Stat(rel string) (statObs, error) {
	st, err := s.e.v.Stat(s.c, s.path(rel))
	return simObs(st), err
}

func (s *simFS) ReadDir(rel string) ([]string, error) {
	ents, err := s.e.v.ReadDir(s.c, s.path(rel))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, de := range ents {
		names[i] = de.Name
	}
	return names, nil
}

func (s *simFS) Open(rel string, flags int) (handle, error) {
	f, err := s.e.v.Open(s.c, s.path(rel), flags, 0)
	if err != nil {
		return nil, err
	}
	return &simHandle{s: s, f: f}, nil
}

func (s *simFS) Spawn(label, rel string) error {
	tk, err := s.e.h.Spawn(nil)
	if err != nil {
		return err
	}
	s.tasks[label] = tk
	f, err := s.e.v.Open(s.c, s.path(rel+"/cgroup.procs"), unix.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte(strconv.Itoa(tk.Pid())))
	return err
}

func (s *simFS) Pid(label string) int { return s.tasks[label].Pid() }
func (s *simFS) Reap(label string)    {}

type simHandle struct {
	s *simFS
	f *vfs.File
}

func (h *simHandle) Read(n int) (string, error) {
	buf := make([]byte, n)
	k, err := h.f.Read(buf)
	return string(buf[:k]), err
}
func (h *simHandle) Pread(n int, off int64) (string, error) {
	buf := make([]byte, n)
	k, err := h.f.ReadAt(buf, off)
	return string(buf[:k]), err
}
func (h *simHandle) Write(data string) (int, error) { return h.f.Write([]byte(data)) }
func (h *simHandle) Seek(off int64, whence int) (int64, error) {
	pos, err := h.f.Seek(off, whence)
	if err != nil {
		return -1, err // as lseek(2) returns
	}
	return pos, nil
}
func (h *simHandle) Fstat() (statObs, error) { return simObs(h.f.Stat()), nil }
func (h *simHandle) ReadDir() ([]string, error) {
	ents, err := h.s.e.v.ReadDirInode(h.s.c, h.f.Inode())
	names := make([]string, len(ents))
	for i, de := range ents {
		names[i] = de.Name
	}
	return names, err
}
func (h *simHandle) MkdirAt(name string) error {
	_, err := h.s.e.v.MkdirChild(h.s.c, h.f.Inode(), name, 0755)
	return err
}
func (h *simHandle) Close() error { return h.f.Close() }

// ---- observations ---------------------------------------------------

func errObs(err error) string {
	if err == nil {
		return "ok"
	}
	var en unix.Errno
	if errors.As(err, &en) {
		return "ERR " + unix.ErrnoName(en)
	}
	return "ERR " + err.Error()
}

func nObs(n int, err error) string {
	if err != nil {
		return errObs(err)
	}
	return fmt.Sprintf("n=%d", n)
}

func readFile(fs fsys, rel string) (string, error) {
	h, err := fs.Open(rel, unix.O_RDONLY)
	if err != nil {
		return "", err
	}
	defer h.Close()
	var b strings.Builder
	for {
		s, err := h.Read(4096)
		b.WriteString(s)
		if err != nil {
			return b.String(), err
		}
		if s == "" {
			return b.String(), nil
		}
	}
}

func readObs(fs fsys, rel string) string {
	s, err := readFile(fs, rel)
	if err != nil {
		return errObs(err)
	}
	return fmt.Sprintf("%q", s)
}

// writeObs writes data in one write(2); "n=all" when all of it was taken
// (pids differ in length between the kernel and the simulator).
func writeObs(fs fsys, rel, data string) string {
	h, err := fs.Open(rel, unix.O_WRONLY)
	if err != nil {
		return "open " + errObs(err)
	}
	defer h.Close()
	n, err := h.Write(data)
	if err == nil && n == len(data) {
		return "n=all"
	}
	return nObs(n, err)
}

// statRel describes rel, with its inode number relative to base's.
func statRel(fs fsys, rel, base string) string {
	st, err := fs.Stat(rel)
	if err != nil {
		return errObs(err)
	}
	b, err := fs.Stat(base)
	if err != nil {
		return "base " + errObs(err)
	}
	return fmt.Sprintf("mode=%o nlink=%d uid=%d gid=%d size=%d ino=base%+d",
		st.mode, st.nlink, st.uid, st.gid, st.size, int64(st.ino-b.ino))
}

// describeDir lists dir in getdents order with every entry's attributes and
// every file's contents; shape turns host-dependent file contents into
// their shape.
func describeDir(fs fsys, dir string, shape func(name, content string) string) string {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return errObs(err)
	}
	var b strings.Builder
	self := statRel(fs, dir, dir)
	if shape != nil {
		// The root's link count counts the host's other cgroups, which
		// come and go while tests of other packages run; the "base
		// nlink" steps check the counting itself.
		self = nlinkField.ReplaceAllString(self, "nlink=host")
	}
	fmt.Fprintf(&b, "%s: %s\n", dir, self)
	for _, n := range names {
		rel := dir + "/" + n
		st, err := fs.Stat(rel)
		if err == nil && st.mode&unix.S_IFMT == unix.S_IFDIR {
			if shape != nil {
				continue // other cgroups of the host
			}
			fmt.Fprintf(&b, "  %s/: %s\n", n, statRel(fs, rel, dir))
			continue
		}
		c := readObs(fs, rel)
		if shape != nil {
			c = shape(n, c)
		}
		fmt.Fprintf(&b, "  %s: %s %s\n", n, statRel(fs, rel, dir), c)
	}
	return b.String()
}

var digits = regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)

var nlinkField = regexp.MustCompile(`nlink=[0-9]+`)

// rootShape keeps the root files whose contents do not depend on the host
// and reduces the others to their shape.
func rootShape(name, content string) string {
	switch name {
	case "cgroup.procs", "cgroup.threads":
		return "(host tasks)"
	case "cgroup.stat", "cpu.stat", "io.pressure", "memory.pressure", "cpu.pressure", "irq.pressure":
		return digits.ReplaceAllString(content, "N")
	}
	return content
}

// differ runs steps on both and reports every difference.
type differ struct {
	t          *testing.T
	real, sim  fsys
	mismatches int
}

func (d *differ) check(name string, f func(fs fsys) string) {
	d.t.Helper()
	r := f(d.real)
	s := f(d.sim)
	if r != s {
		d.mismatches++
		d.t.Errorf("%s:\nkernel: %s\nsimfs:  %s", name, r, s)
	}
}

// same runs f once on each side (for its effects) and compares.
func (d *differ) same(name string, f func(fs fsys) string) { d.t.Helper(); d.check(name, f) }

// eventually compares a read-only observation, polling the kernel until it
// agrees with the simulator (whose changes are instant) or 5 s pass.
func (d *differ) eventually(name string, f func(fs fsys) string) {
	d.t.Helper()
	s := f(d.sim)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := f(d.real)
		if r == s {
			return
		}
		if time.Now().After(deadline) {
			d.mismatches++
			d.t.Errorf("%s (after 5 s):\nkernel: %s\nsimfs:  %s", name, r, s)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pids replaces the tasks' pids by their labels.
func pids(fs fsys, s string, labels ...string) string {
	for _, l := range labels {
		s = regexp.MustCompile(`\b`+strconv.Itoa(fs.Pid(l))+`\b`).ReplaceAllString(s, l)
	}
	return s
}

// capSysResource reports whether this process has CAP_SYS_RESOURCE, which
// the kernel's PSI triggers check.
func capSysResource() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:\t"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	return false
}

// machineOptions configures the simulator like the running kernel: the
// controllers it binds to v2 (the root's cgroup.stat lists them, its
// cgroup.controllers all but the implicit ones), the ones bound to v1
// hierarchies (/proc/cgroups), PSI and irq.pressure, and CAP_SYS_RESOURCE.
func machineOptions(t *testing.T, mnt string) cgroup.Options {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return string(b)
	}
	available := map[string]bool{}
	for _, n := range strings.Fields(read(mnt + "/cgroup.controllers")) {
		available[n] = true
	}
	bound := map[string]bool{}
	for _, line := range strings.Split(read(mnt+"/cgroup.stat"), "\n") {
		if rest, ok := strings.CutPrefix(line, "nr_subsys_"); ok {
			bound[strings.Fields(rest)[0]] = true
		}
	}
	// Controllers with v2 interface files (the others are inhibited on v2
	// and never named there), and the threaded ones.
	v2 := map[string]bool{"cpuset": true, "cpu": true, "io": true, "memory": true, "perf_event": true,
		"hugetlb": true, "pids": true, "rdma": true, "misc": true, "dmem": true, "debug": true}
	threaded := map[string]bool{"cpuset": true, "cpu": true, "perf_event": true, "pids": true, "debug": true}
	var ss []cgroup.Subsys
	for _, line := range strings.Split(read("/proc/cgroups"), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || strings.HasPrefix(f[0], "#") || f[3] != "1" {
			continue
		}
		name := f[0]
		if name == "blkio" {
			name = "io"
		}
		switch {
		case !v2[name]:
		case bound[name]:
			ss = append(ss, cgroup.Subsys{Name: name, Implicit: !available[name], Threaded: threaded[name]})
		case f[1] != "0":
			ss = append(ss, cgroup.Subsys{Name: name, Threaded: threaded[name], V1: true})
		}
	}
	// Huge page sizes: the reference machine's hstate order when they
	// are its sizes, largest first otherwise (a guess: sysfs does not
	// show the order).
	var sizes []uint64
	if ents, err := os.ReadDir("/sys/kernel/mm/hugepages"); err == nil {
		for _, de := range ents {
			var kb uint64
			if _, err := fmt.Sscanf(de.Name(), "hugepages-%dkB", &kb); err == nil {
				sizes = append(sizes, kb<<10)
			}
		}
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] > sizes[j] })
	if sizes == nil {
		sizes = []uint64{}
	}
	var nodes []int
	for _, r := range strings.Split(strings.TrimSpace(read("/sys/devices/system/node/has_memory")), ",") {
		var lo, hi int
		if n, _ := fmt.Sscanf(r, "%d-%d", &lo, &hi); n == 2 {
			for i := lo; i <= hi; i++ {
				nodes = append(nodes, i)
			}
		} else if n == 1 {
			nodes = append(nodes, lo)
		}
	}
	_, psiErr := os.Stat(mnt + "/cpu.pressure")
	_, irqErr := os.Stat(mnt + "/irq.pressure")
	return cgroup.Options{
		Subsystems:     ss,
		NoPSI:          psiErr != nil,
		IRQPressure:    irqErr == nil,
		CapSysResource: func(*vfs.Caller) bool { return capSysResource() },
		HugePageSizes:  sizes,
		MemoryNodes:    nodes,
	}
}

// ---- the test -------------------------------------------------------

func TestDifferentialCgroup2(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount cgroup2")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	mnt := t.TempDir()
	// The delegation steps walk to the mount as an unprivileged user.
	for _, d := range []string{filepath.Dir(mnt), mnt} {
		require.NoError(t, os.Chmod(d, 0755))
	}
	if err := unix.Mount("none", mnt, "cgroup2", 0, ""); err != nil {
		t.Skipf("cannot mount cgroup2: %v", err)
	}
	out := t.TempDir()
	base := fmt.Sprintf("simfs-diff-%d-%d", os.Getpid(), time.Now().UnixNano())
	require.NoError(t, unix.Mkdir(filepath.Join(mnt, base), 0755))
	real := &realFS{mnt: mnt, out: out, procs: map[string]*exec.Cmd{}}
	t.Cleanup(func() {
		cleanupReal(t, real, base)
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("umount: %v", err)
		}
	})
	old := unix.Umask(022)
	defer unix.Umask(old)

	opts := machineOptions(t, mnt)
	if fmt.Sprint(opts.Subsystems) != fmt.Sprint(cgroup.DefaultSubsystems()) || opts.NoPSI || opts.IRQPressure ||
		fmt.Sprint(opts.HugePageSizes) != fmt.Sprint(cgroup.DefaultHugePageSizes()) {
		t.Logf("this machine's controllers differ from the reference machine's: %+v", opts)
	}
	e := newEnv(t, opts)
	require.NoError(t, e.v.Mkdir(e.c, "/outside", 0755))
	sim := &simFS{e: e, c: &vfs.Caller{Umask: 022}, tasks: map[string]*cgroup.Task{}}
	require.NoError(t, sim.Mkdir(base, 0755))
	d := &differ{t: t, real: real, sim: sim}
	B := func(rel string) string { return base + "/" + rel }

	t.Run("root", func(t *testing.T) {
		d.t = t
		d.check("root directory", func(fs fsys) string { return describeDir(fs, ".", rootShape) })
	})

	t.Run("fresh child", func(t *testing.T) {
		d.t = t
		d.same("mkdir a", func(fs fsys) string { return errObs(fs.Mkdir(B("a"), 0777)) })
		d.check("a", func(fs fsys) string { return describeDir(fs, B("a"), nil) })
		d.check("base nlink", func(fs fsys) string { return statRel(fs, base, base) })
		d.same("mkdir a/b", func(fs fsys) string { return errObs(fs.Mkdir(B("a/b"), 0700)) })
		d.check("a with a child", func(fs fsys) string { return describeDir(fs, B("a"), nil) })
		d.check("a/b", func(fs fsys) string { return describeDir(fs, B("a/b"), nil) })
		d.check("a/cgroup.stat", func(fs fsys) string { return readObs(fs, B("a/cgroup.stat")) })
	})

	t.Run("sibling id gap", func(t *testing.T) {
		d.t = t
		// Another cgroup created on the host in between would widen the
		// kernel's gap; try a few times.
		gap := func(fs fsys, i int) string {
			x, y := B(fmt.Sprintf("gap%dx", i)), B(fmt.Sprintf("gap%dy", i))
			if err := fs.Mkdir(x, 0755); err != nil {
				return errObs(err)
			}
			if err := fs.Mkdir(y, 0755); err != nil {
				return errObs(err)
			}
			defer fs.Rmdir(x)
			defer fs.Rmdir(y)
			return statRel(fs, y, x)
		}
		want := gap(sim, 0)
		var got string
		for i := 1; i <= 5 && got != want; i++ {
			got = gap(real, i)
		}
		if got != want {
			t.Errorf("sibling gap: kernel %s, simfs %s", got, want)
		}
	})

	t.Run("names", func(t *testing.T) {
		d.t = t
		d.same("mkdir names", func(fs fsys) string { return errObs(fs.Mkdir(B("names"), 0755)) })
		for _, n := range []string{"\xc3\xa9t\xc3\xa9", "\xff", "z\x80z", "A", "a b", strings.Repeat("n", 255), "-", "x\ty"} {
			d.same("mkdir "+strconv.Quote(n), func(fs fsys) string { return errObs(fs.Mkdir(B("names/"+n), 0755)) })
		}
		d.same("mkdir with newline", func(fs fsys) string { return errObs(fs.Mkdir(B("names/a\nb"), 0755)) })
		d.check("readdir order with signed chars", func(fs fsys) string {
			names, err := fs.ReadDir(B("names"))
			return fmt.Sprintf("%q %v", names, err)
		})
	})

	t.Run("namespace operations", func(t *testing.T) {
		d.t = t
		d.same("mkdir p", func(fs fsys) string { return errObs(fs.Mkdir(B("p"), 0755)) })
		d.same("mkdir p/c", func(fs fsys) string { return errObs(fs.Mkdir(B("p/c"), 0755)) })
		for _, tc := range []struct {
			name string
			op   func(fs fsys) error
		}{
			{"mkdir existing", func(fs fsys) error { return fs.Mkdir(B("p"), 0755) }},
			{"mkdir over file", func(fs fsys) error { return fs.Mkdir(B("p/cgroup.procs"), 0755) }},
			{"mkdir in file", func(fs fsys) error { return fs.Mkdir(B("p/cgroup.procs/x"), 0755) }},
			{"rmdir with child", func(fs fsys) error { return fs.Rmdir(B("p")) }},
			{"rmdir file", func(fs fsys) error { return fs.Rmdir(B("p/cgroup.procs")) }},
			{"rmdir missing", func(fs fsys) error { return fs.Rmdir(B("p/nope")) }},
			{"rmdir .", func(fs fsys) error { return fs.Rmdir(B("p/.")) }},
			{"rmdir ..", func(fs fsys) error { return fs.Rmdir(B("p/c/..")) }},
			{"rename dir", func(fs fsys) error { return fs.Rename(B("p/c"), B("p/d"), 0) }},
			{"rename file", func(fs fsys) error { return fs.Rename(B("p/cgroup.procs"), B("p/x"), 0) }},
			{"rename across", func(fs fsys) error { return fs.Rename(B("p/c"), B("c2"), 0) }},
			{"rename onto file", func(fs fsys) error { return fs.Rename(B("p/c"), B("p/cgroup.procs"), 0) }},
			{"rename to itself", func(fs fsys) error { return fs.Rename(B("p/c"), B("p/c"), 0) }},
			{"rename noreplace", func(fs fsys) error { return fs.Rename(B("p/c"), B("p/z"), unix.RENAME_NOREPLACE) }},
			{"rename noreplace existing", func(fs fsys) error {
				return fs.Rename(B("p/c"), B("p/cgroup.procs"), unix.RENAME_NOREPLACE)
			}},
			{"rename exchange", func(fs fsys) error {
				return fs.Rename(B("p/c"), B("p/cgroup.procs"), unix.RENAME_EXCHANGE)
			}},
			{"rename out of the mount", func(fs fsys) error { return fs.Rename(B("p/c"), "@out/x", 0) }},
			{"unlink file", func(fs fsys) error { return fs.Unlink(B("p/cgroup.procs")) }},
			{"unlink dir", func(fs fsys) error { return fs.Unlink(B("p/c")) }},
			{"create", func(fs fsys) error { return fs.Create(B("p/new"), 0) }},
			{"create excl existing", func(fs fsys) error { return fs.Create(B("p/cgroup.procs"), unix.O_EXCL) }},
			{"create existing", func(fs fsys) error { return fs.Create(B("p/cgroup.procs"), 0) }},
			{"mknod regular", func(fs fsys) error { return fs.Mknod(B("p/n"), unix.S_IFREG|0644) }},
			{"mknod fifo", func(fs fsys) error { return fs.Mknod(B("p/n"), unix.S_IFIFO|0644) }},
			{"symlink", func(fs fsys) error { return fs.Symlink("x", B("p/l")) }},
			{"link", func(fs fsys) error { return fs.Link(B("p/cgroup.procs"), B("p/l")) }},
			{"chmod", func(fs fsys) error { return fs.Chmod(B("p/cgroup.procs"), 0600) }},
			{"chown", func(fs fsys) error { return fs.Chown(B("p/cgroup.procs"), 1000, 1001) }},
			{"truncate", func(fs fsys) error { return fs.Truncate(B("p/cgroup.procs"), 100) }},
			{"chmod dir", func(fs fsys) error { return fs.Chmod(B("p/c"), 0711) }},
			{"open dir O_RDWR", func(fs fsys) error {
				h, err := fs.Open(B("p"), unix.O_RDWR)
				if err == nil {
					h.Close()
				}
				return err
			}},
			{"open file O_DIRECTORY", func(fs fsys) error {
				h, err := fs.Open(B("p/cgroup.procs"), unix.O_RDONLY|unix.O_DIRECTORY)
				if err == nil {
					h.Close()
				}
				return err
			}},
			{"open O_TRUNC", func(fs fsys) error {
				h, err := fs.Open(B("p/cgroup.max.depth"), unix.O_WRONLY|unix.O_TRUNC)
				if err == nil {
					h.Close()
				}
				return err
			}},
		} {
			d.same(tc.name, func(fs fsys) string { return errObs(tc.op(fs)) })
		}
		d.check("p after", func(fs fsys) string { return describeDir(fs, B("p"), nil) })
		d.same("rmdir p/c", func(fs fsys) string { return errObs(fs.Rmdir(B("p/c"))) })
		d.same("mkdir p/c again", func(fs fsys) string { return errObs(fs.Mkdir(B("p/c"), 0755)) })
	})

	t.Run("writes", func(t *testing.T) {
		d.t = t
		d.same("mkdir w", func(fs fsys) string { return errObs(fs.Mkdir(B("w"), 0755)) })
		long := strings.Repeat("1", 4096)
		values := map[string][]string{
			"cgroup.max.depth": {"0", "max", " 6 \n", "0x10", "010", "+3", "-0", "5\x007", "2147483647",
				"2147483648", "-1", "99999999999999999999", long, long + "1", "maxx", "\n", "abc", "5 6", "08",
				"0x", "-+3", "", "max"},
			"cgroup.max.descendants": {"7", "max\n", "-5", "x", "0", "max"},
			"cgroup.freeze":          {"2", "-1", "x", "", "0", " 0\n"},
			"cgroup.kill":            {"0", "2", "x", "", "-1", "01x"},
			"cgroup.type":            {"domain", "", "threaded x", "domain threaded"},
			"cgroup.subtree_control": {"memory", "hugetlb", "xhugetlb", "+", "+memory", "+foo", "+hugetlb",
				"+perf_event", "-hugetlb", "-perf_event", "\n", "  ", "-hugetlb\t-hugetlb", "-hugetlb  -hugetlb",
				"+hugetlb -hugetlb", "-net_cls", "+cpu", "+io", "+blkio", "+cpuacct", "+pids", "-memory", "+devices",
				"+freezer", "+rdma", "+misc"},
			"cgroup.procs":    {"abc", "\n", "-1", "99999999999", "2147483647", "1 2", "", "0x", "+"},
			"cgroup.threads":  {"abc", "-1", "2147483647", ""},
			"cgroup.pressure": {"2", "-1", "x", " 1 ", ""},
			"memory.pressure": {"some 150000 1000000", "some 150000 2000000", "some 1 2000000", "some 0 2000000",
				"some 2000001 2000000", "some 2000000 2000000", "some 1 12000000", "some 1 0",
				"some 1 2000000 junk", "some 1 2000000junk", " some 1 2000000", "some\t1\t2000000",
				"some 1\n2000000", "some +1 2000000", "some 0x10 2000000", "some -1 2000000",
				"some 4294967297 2000000", "full 1 2000000", "somex 1 2000000", "some1 2000000",
				"SOME 1 2000000", "some 1", "some 01 2000000", "some 1 10000000", "full 1 500000", ""},
			"cpu.pressure":  {"full 1 2000000", "some 1 2000000", "bad"},
			"io.pressure":   {"full 1000 10000000", "full 1 1"},
			"cgroup.events": {"1", "", "populated 0"}, "cgroup.controllers": {"1", ""},
			"cgroup.stat": {"1"}, "cgroup.stat.local": {"1"}, "cpu.stat": {"1"}, "cpu.stat.local": {"1"},
		}
		files := make([]string, 0, len(values))
		for f := range values {
			files = append(files, f)
		}
		sort.Strings(files)
		for _, f := range files {
			for _, v := range values[f] {
				name := fmt.Sprintf("write %q to %s", v, f)
				d.same(name, func(fs fsys) string {
					return writeObs(fs, B("w/"+f), v) + " → " + readObs(fs, B("w/"+f))
				})
			}
		}
		// One PSI trigger per open file.
		d.same("two triggers on one fd", func(fs fsys) string {
			h, err := fs.Open(B("w/cpu.pressure"), unix.O_RDWR)
			if err != nil {
				return errObs(err)
			}
			defer h.Close()
			a := nObs(h.Write("some 150000 2000000"))
			b := nObs(h.Write("some 150000 2000000"))
			c := nObs(h.Write("xx"))
			r, err := h.Pread(200, 0)
			return strings.Join([]string{a, b, c, fmt.Sprintf("%q %s", r, errObs(err))}, " ")
		})
		d.same("cgroup.pressure 0", func(fs fsys) string {
			return writeObs(fs, B("w/cgroup.pressure"), "0") + " " + describeDir(fs, B("w"), nil)
		})
		d.same("cgroup.pressure 1", func(fs fsys) string {
			return writeObs(fs, B("w/cgroup.pressure"), "1") + " " + describeDir(fs, B("w"), nil)
		})
	})

	t.Run("lseek and reads", func(t *testing.T) {
		d.t = t
		d.same("mkdir s", func(fs fsys) string { return errObs(fs.Mkdir(B("s"), 0755)) })
		d.same("reads and seeks", func(fs fsys) string {
			h, err := fs.Open(B("s/cgroup.events"), unix.O_RDONLY)
			if err != nil {
				return errObs(err)
			}
			defer h.Close()
			var obs []string
			rd := func(n int) {
				s, err := h.Read(n)
				obs = append(obs, fmt.Sprintf("read%d=%q/%s", n, s, errObs(err)))
			}
			sk := func(off int64, whence int) {
				p, err := h.Seek(off, whence)
				obs = append(obs, fmt.Sprintf("seek(%d,%d)=%d/%s", off, whence, p, errObs(err)))
			}
			pr := func(n int, off int64) {
				s, err := h.Pread(n, off)
				obs = append(obs, fmt.Sprintf("pread(%d,%d)=%q/%s", n, off, s, errObs(err)))
			}
			rd(5)
			sk(0, io.SeekEnd)
			sk(3, io.SeekEnd)
			rd(100)
			sk(0, unix.SEEK_DATA)
			sk(0, unix.SEEK_HOLE)
			sk(-1, io.SeekStart)
			sk(1<<31-1, io.SeekStart)
			sk(1<<31, io.SeekStart)
			sk(1<<62, io.SeekStart)
			sk(5, io.SeekStart)
			rd(100)
			pr(100, 0)
			pr(100, 3)
			sk(100, io.SeekStart)
			rd(100)
			sk(7, 5)
			sk(2, io.SeekCurrent)
			sk(0, io.SeekCurrent)
			rd(0)
			return strings.Join(obs, " ")
		})
	})

	t.Run("limits", func(t *testing.T) {
		d.t = t
		steps := []struct {
			name string
			op   func(fs fsys) string
		}{
			{"mkdir m", func(fs fsys) string { return errObs(fs.Mkdir(B("m"), 0755)) }},
			{"depth 0", func(fs fsys) string { return writeObs(fs, B("m/cgroup.max.depth"), "0") }},
			{"mkdir beyond depth", func(fs fsys) string { return errObs(fs.Mkdir(B("m/c"), 0755)) }},
			{"depth 1", func(fs fsys) string { return writeObs(fs, B("m/cgroup.max.depth"), "1") }},
			{"mkdir c", func(fs fsys) string { return errObs(fs.Mkdir(B("m/c"), 0755)) }},
			{"mkdir c/d", func(fs fsys) string { return errObs(fs.Mkdir(B("m/c/d"), 0755)) }},
			{"descendants 1", func(fs fsys) string { return writeObs(fs, B("m/cgroup.max.descendants"), "1") }},
			{"mkdir e", func(fs fsys) string { return errObs(fs.Mkdir(B("m/e"), 0755)) }},
			{"descendants 0 with one", func(fs fsys) string { return writeObs(fs, B("m/cgroup.max.descendants"), "0") }},
			{"read", func(fs fsys) string {
				return readObs(fs, B("m/cgroup.max.descendants")) + readObs(fs, B("m/cgroup.stat"))
			}},
			{"rmdir c", func(fs fsys) string { return errObs(fs.Rmdir(B("m/c"))) }},
			{"mkdir c again", func(fs fsys) string { return errObs(fs.Mkdir(B("m/c"), 0755)) }},
			{"descendants max", func(fs fsys) string { return writeObs(fs, B("m/cgroup.max.descendants"), "max") }},
			{"mkdir c", func(fs fsys) string { return errObs(fs.Mkdir(B("m/c"), 0755)) }},
		}
		for _, s := range steps {
			d.same(s.name, s.op)
		}
		// The kernel releases a removed cgroup after an RCU grace period;
		// the simulator at once.
		d.eventually("m/cgroup.stat", func(fs fsys) string { return readObs(fs, B("m/cgroup.stat")) })
	})

	t.Run("open files across rmdir", func(t *testing.T) {
		d.t = t
		d.same("mkdir r", func(fs fsys) string { return errObs(fs.Mkdir(B("r"), 0755)) })
		readdirOfDead := map[fsys]string{}
		d.same("fds across rmdir", func(fs fsys) string {
			var obs []string
			ev, err := fs.Open(B("r/cgroup.events"), unix.O_RDONLY)
			if err != nil {
				return errObs(err)
			}
			defer ev.Close()
			depth, err := fs.Open(B("r/cgroup.max.depth"), unix.O_RDWR)
			if err != nil {
				return errObs(err)
			}
			defer depth.Close()
			dir, err := fs.Open(B("r"), unix.O_RDONLY|unix.O_DIRECTORY)
			if err != nil {
				return errObs(err)
			}
			defer dir.Close()
			add := func(what, s string, err error) { obs = append(obs, fmt.Sprintf("%s=%q/%s", what, s, errObs(err))) }
			s, err := ev.Read(4)
			add("read4", s, err)
			obs = append(obs, "rmdir="+errObs(fs.Rmdir(B("r"))))
			s, err = ev.Read(100)
			add("leftover", s, err)
			s, err = ev.Read(100)
			add("read", s, err)
			s, err = ev.Pread(100, 0)
			add("pread0", s, err)
			_, err = ev.Seek(0, io.SeekStart)
			add("lseek", "", err)
			st, err := ev.Fstat()
			add("fstat", fmt.Sprintf("%o %d %d", st.mode, st.nlink, st.size), err)
			_, err = depth.Write("5")
			add("write", "", err)
			_, err = depth.Write("")
			add("write0", "", err)
			_, err = depth.Write(strings.Repeat("1", 5000))
			add("write5000", "", err)
			s, err = depth.Read(0)
			add("read0", s, err)
			st, err = dir.Fstat()
			add("dir fstat", fmt.Sprintf("%o %d", st.mode, st.nlink), err)
			add("mkdirat", "", dir.MkdirAt("x"))
			names, err := dir.ReadDir()
			readdirOfDead[fs] = fmt.Sprintf("%v %s", names, errObs(err))
			return strings.Join(obs, " ")
		})
		require.Equal(t, readdirOfDead[d.real], readdirOfDead[d.sim], "getdents on a removed cgroup directory (IS_DEADDIR)")
	})

	t.Run("tasks", func(t *testing.T) {
		d.t = t
		labels := []string{"T1"}
		ps := func(fs fsys, rel string) string { return pids(fs, readObs(fs, rel), labels...) }
		d.same("mkdir t, t/a, t/b", func(fs fsys) string {
			return errObs(fs.Mkdir(B("t"), 0755)) + errObs(fs.Mkdir(B("t/a"), 0755)) + errObs(fs.Mkdir(B("t/b"), 0755))
		})
		d.same("spawn T1 into t/a", func(fs fsys) string { return errObs(fs.Spawn("T1", B("t/a"))) })
		d.check("procs", func(fs fsys) string {
			return ps(fs, B("t/a/cgroup.procs")) + ps(fs, B("t/a/cgroup.threads")) + ps(fs, B("t/cgroup.procs"))
		})
		d.check("events", func(fs fsys) string {
			return readObs(fs, B("t/a/cgroup.events")) + readObs(fs, B("t/cgroup.events")) + readObs(fs, B("t/b/cgroup.events"))
		})
		d.same("rmdir populated", func(fs fsys) string { return errObs(fs.Rmdir(B("t/a"))) })
		d.same("rmdir parent of populated", func(fs fsys) string { return errObs(fs.Rmdir(B("t"))) })
		d.same("move by cgroup.threads across domains", func(fs fsys) string {
			return writeObs(fs, B("t/b/cgroup.threads"), strconv.Itoa(fs.Pid("T1")))
		})
		d.same("cgroup.threads to its own cgroup", func(fs fsys) string {
			return writeObs(fs, B("t/a/cgroup.threads"), strconv.Itoa(fs.Pid("T1")))
		})
		d.same("threaded when populated", func(fs fsys) string { return writeObs(fs, B("t/a/cgroup.type"), "threaded") })
		d.same("threaded with a populated sibling", func(fs fsys) string { return writeObs(fs, B("t/b/cgroup.type"), "threaded") })
		d.same("ESRCH", func(fs fsys) string { return writeObs(fs, B("t/b/cgroup.procs"), "2147483646") })
		d.same("two pids", func(fs fsys) string {
			return writeObs(fs, B("t/b/cgroup.procs"), fmt.Sprintf("%d %d", fs.Pid("T1"), fs.Pid("T1")))
		})
		d.same("move to t/b", func(fs fsys) string {
			return writeObs(fs, B("t/b/cgroup.procs"), fmt.Sprintf(" %d\n", fs.Pid("T1")))
		})
		d.check("after move", func(fs fsys) string {
			return ps(fs, B("t/a/cgroup.procs")) + ps(fs, B("t/b/cgroup.procs")) +
				readObs(fs, B("t/a/cgroup.events")) + readObs(fs, B("t/b/cgroup.events")) + readObs(fs, B("t/cgroup.events"))
		})
		d.same("rmdir t/a (empty now)", func(fs fsys) string { return errObs(fs.Rmdir(B("t/a"))) })
		d.same("freeze t", func(fs fsys) string { return writeObs(fs, B("t/cgroup.freeze"), "1") })
		d.eventually("frozen", func(fs fsys) string {
			return readObs(fs, B("t/cgroup.events")) + readObs(fs, B("t/b/cgroup.events")) +
				readObs(fs, B("t/cgroup.freeze")) + readObs(fs, B("t/b/cgroup.freeze"))
		})
		d.check("frozen_usec format", func(fs fsys) string {
			return digits.ReplaceAllString(readObs(fs, B("t/cgroup.stat.local")), "N")
		})
		d.same("mkdir in frozen", func(fs fsys) string { return errObs(fs.Mkdir(B("t/n"), 0755)) })
		d.check("new child of frozen", func(fs fsys) string {
			return readObs(fs, B("t/n/cgroup.events")) + readObs(fs, B("t/n/cgroup.freeze"))
		})
		d.same("freeze t/b too, thaw t", func(fs fsys) string {
			return writeObs(fs, B("t/b/cgroup.freeze"), "1") + writeObs(fs, B("t/cgroup.freeze"), "0")
		})
		d.eventually("partly thawed", func(fs fsys) string {
			return readObs(fs, B("t/cgroup.events")) + readObs(fs, B("t/b/cgroup.events")) + readObs(fs, B("t/n/cgroup.events"))
		})
		d.same("thaw t/b", func(fs fsys) string { return writeObs(fs, B("t/b/cgroup.freeze"), "0") })
		d.eventually("thawed", func(fs fsys) string { return readObs(fs, B("t/b/cgroup.events")) })
		d.same("kill t", func(fs fsys) string {
			s := writeObs(fs, B("t/cgroup.kill"), "1")
			fs.Reap("T1")
			return s
		})
		d.eventually("after kill", func(fs fsys) string {
			return readObs(fs, B("t/cgroup.events")) + readObs(fs, B("t/b/cgroup.events")) + readObs(fs, B("t/b/cgroup.procs"))
		})
		d.same("rmdir after kill", func(fs fsys) string {
			return errObs(fs.Rmdir(B("t/b"))) + errObs(fs.Rmdir(B("t/n"))) + errObs(fs.Rmdir(B("t")))
		})
	})

	t.Run("threaded", func(t *testing.T) {
		d.t = t
		labels := []string{"T2"}
		ps := func(fs fsys, rel string) string { return pids(fs, readObs(fs, rel), labels...) }
		types := func(fs fsys, rels ...string) string {
			var b strings.Builder
			for _, r := range rels {
				b.WriteString(readObs(fs, B("th/"+r+"/cgroup.type")))
			}
			return b.String()
		}
		pid := func(fs fsys) string { return strconv.Itoa(fs.Pid("T2")) }
		d.same("mkdirs", func(fs fsys) string {
			return errObs(fs.Mkdir(B("th"), 0755)) + errObs(fs.Mkdir(B("th/a"), 0755)) +
				errObs(fs.Mkdir(B("th/a/b"), 0755)) + errObs(fs.Mkdir(B("th/a/c"), 0755))
		})
		d.same("spawn T2 into th/a/b", func(fs fsys) string { return errObs(fs.Spawn("T2", B("th/a/b"))) })
		d.same("c threaded while a has a populated domain child", func(fs fsys) string {
			return writeObs(fs, B("th/a/c/cgroup.type"), "threaded")
		})
		d.same("move T2 to th", func(fs fsys) string { return writeObs(fs, B("th/cgroup.procs"), pid(fs)) })
		d.same("c threaded", func(fs fsys) string { return writeObs(fs, B("th/a/c/cgroup.type"), "threaded") })
		d.check("types", func(fs fsys) string { return types(fs, "a", "a/b", "a/c") })
		d.same("mkdir c/d", func(fs fsys) string { return errObs(fs.Mkdir(B("th/a/c/d"), 0755)) })
		d.check("d type", func(fs fsys) string { return types(fs, "a/c/d") })
		d.same("move into invalid domain", func(fs fsys) string { return writeObs(fs, B("th/a/c/d/cgroup.procs"), pid(fs)) })
		d.same("move into domain invalid b", func(fs fsys) string { return writeObs(fs, B("th/a/b/cgroup.procs"), pid(fs)) })
		d.same("d threaded", func(fs fsys) string { return writeObs(fs, B("th/a/c/d/cgroup.type"), "threaded") })
		d.same("process into threaded c", func(fs fsys) string { return writeObs(fs, B("th/a/c/cgroup.procs"), pid(fs)) })
		d.check("threaded listings", func(fs fsys) string {
			return ps(fs, B("th/a/c/cgroup.procs")) + ps(fs, B("th/a/c/cgroup.threads")) +
				ps(fs, B("th/a/cgroup.procs")) + ps(fs, B("th/a/cgroup.threads")) + types(fs, "a", "a/b", "a/c", "a/c/d")
		})
		d.same("thread to d", func(fs fsys) string { return writeObs(fs, B("th/a/c/d/cgroup.threads"), pid(fs)) })
		d.same("thread out of the domain", func(fs fsys) string { return writeObs(fs, B("th/cgroup.threads"), pid(fs)) })
		d.same("kill threaded", func(fs fsys) string { return writeObs(fs, B("th/a/c/cgroup.kill"), "1") })
		d.same("subtree_control in threaded", func(fs fsys) string {
			return writeObs(fs, B("th/a/c/cgroup.subtree_control"), "+hugetlb")
		})
		d.check("events", func(fs fsys) string {
			return readObs(fs, B("th/a/cgroup.events")) + readObs(fs, B("th/a/c/d/cgroup.events"))
		})
		d.same("kill th/a", func(fs fsys) string {
			s := writeObs(fs, B("th/a/cgroup.kill"), "1")
			fs.Reap("T2")
			return s
		})
		d.eventually("after kill", func(fs fsys) string { return readObs(fs, B("th/a/cgroup.events")) })
		d.same("rmdirs", func(fs fsys) string {
			return errObs(fs.Rmdir(B("th/a/c/d"))) + errObs(fs.Rmdir(B("th/a/c")))
		})
		d.check("types after", func(fs fsys) string { return types(fs, "a", "a/b") })
	})

	t.Run("delegation", func(t *testing.T) {
		d.t = t
		labels := []string{"T3"}
		const uid, gid = 65534, 65534
		d.same("setup", func(fs fsys) string {
			s := errObs(fs.Mkdir(B("dl"), 0755)) + errObs(fs.Mkdir(B("dl/b"), 0755)) + errObs(fs.Mkdir(B("dl/c"), 0755))
			for _, f := range []string{"dl", "dl/cgroup.procs", "dl/c", "dl/c/cgroup.procs"} {
				s += errObs(fs.Chown(B(f), uid, gid))
			}
			return s + errObs(fs.Spawn("T3", B("dl/b")))
		})
		user := func(fs fsys) fsys { return fs.AsUser(uid, gid) }
		pid := func(fs fsys) string { return strconv.Itoa(fs.Pid("T3")) }
		d.same("user mkdir", func(fs fsys) string { return errObs(user(fs).Mkdir(B("dl/u"), 0777)) })
		d.check("user's cgroup", func(fs fsys) string { return describeDir(fs, B("dl/u"), nil) })
		d.same("user mkdir in root-owned", func(fs fsys) string { return errObs(user(fs).Mkdir(B("dl/b/x"), 0755)) })
		d.same("user moves b→c", func(fs fsys) string { return writeObs(user(fs), B("dl/c/cgroup.procs"), pid(fs)) })
		d.same("user moves c→b", func(fs fsys) string { return writeObs(user(fs), B("dl/b/cgroup.procs"), pid(fs)) })
		d.same("user moves c→u", func(fs fsys) string { return writeObs(user(fs), B("dl/u/cgroup.procs"), pid(fs)) })
		d.same("user moves u→base", func(fs fsys) string { return writeObs(user(fs), B("cgroup.procs"), pid(fs)) })
		d.same("user writes root-owned file", func(fs fsys) string { return writeObs(user(fs), B("dl/cgroup.freeze"), "0") })
		d.same("user writes own file", func(fs fsys) string { return writeObs(user(fs), B("dl/u/cgroup.max.depth"), "3") })
		d.same("user PSI trigger, 1 s", func(fs fsys) string {
			return writeObs(user(fs), B("dl/u/cpu.pressure"), "some 1 1000000")
		})
		d.same("user PSI trigger, 2 s", func(fs fsys) string {
			return writeObs(user(fs), B("dl/u/cpu.pressure"), "some 1 2000000")
		})
		d.same("user rmdir populated", func(fs fsys) string { return errObs(user(fs).Rmdir(B("dl/u"))) })
		d.check("where", func(fs fsys) string { return pids(fs, readObs(fs, B("dl/u/cgroup.procs")), labels...) })
		d.same("kill", func(fs fsys) string {
			s := writeObs(fs, B("dl/cgroup.kill"), "1")
			fs.Reap("T3")
			return s
		})
		d.eventually("after kill", func(fs fsys) string { return readObs(fs, B("dl/cgroup.events")) })
		d.same("user rmdir", func(fs fsys) string { return errObs(user(fs).Rmdir(B("dl/u"))) })
		d.same("user rmdir root-owned in own dir", func(fs fsys) string { return errObs(user(fs).Rmdir(B("dl/b"))) })
	})

	t.Run("dying", func(t *testing.T) {
		d.t = t
		d.same("mkdir, rmdir", func(fs fsys) string {
			return errObs(fs.Mkdir(B("dy"), 0755)) + errObs(fs.Mkdir(B("dy/a"), 0755)) + errObs(fs.Rmdir(B("dy/a")))
		})
		d.eventually("released", func(fs fsys) string { return readObs(fs, B("dy/cgroup.stat")) })
	})
	t.Run("hugetlb", func(t *testing.T) {
		d.t = t
		hugetlbSteps(t, d, real, base, B)
	})
	if d.mismatches == 0 {
		t.Logf("no unexpected difference between the kernel and simfs")
	}
}

// hugetlbSteps compare the hugetlb controller's files. A controller can
// only be enabled below the root if the root enables it, so these steps
// write +hugetlb to the host's root cgroup.subtree_control (unless it is
// there already) and take it back at the end. While they run, every
// cgroup directly below the host's root has hugetlb files and a hugetlb
// css: a test elsewhere that describes such a cgroup at that moment sees
// them (the steps take about 0.1 s), so they run only when
// SIMFS_DIFF_HUGETLB=1 says nothing else is using the host's cgroups: `make
// test` runs this test again on its own with it, after the parallel run.
func hugetlbSteps(t *testing.T, d *differ, real *realFS, base string, B func(string) string) {
	if os.Getenv("SIMFS_DIFF_HUGETLB") == "" {
		t.Skip("set SIMFS_DIFF_HUGETLB=1 to write +hugetlb to the host's root cgroup.subtree_control (make test does, alone)")
	}
	ctl, err := os.ReadFile(real.mnt + "/cgroup.subtree_control")
	require.NoError(t, err)
	if !strings.Contains(string(ctl), "hugetlb") {
		if _, err := os.Stat(real.mnt + "/cgroup.controllers"); err != nil {
			t.Skip(err)
		}
		ctrls, _ := os.ReadFile(real.mnt + "/cgroup.controllers")
		if !strings.Contains(string(ctrls), "hugetlb") {
			t.Skip("hugetlb is not on cgroup2 here")
		}
		disabled := false
		t.Cleanup(func() {
			if disabled {
				return
			}
			// +hugetlb below the root would make -hugetlb EBUSY.
			cleanupReal(t, real, base)
			if err := os.WriteFile(real.mnt+"/cgroup.subtree_control", []byte("-hugetlb"), 0); err != nil {
				t.Errorf("root -hugetlb: %v", err)
			}
		})
		defer func() {
			// Taken back as soon as the steps are done, with the
			// test's own cgroups cleared of it first.
			for _, rel := range []string{"hg/c", "hg", ""} {
				_ = os.WriteFile(real.path(B(rel)+"/cgroup.subtree_control"), []byte("-hugetlb"), 0)
			}
			if os.WriteFile(real.mnt+"/cgroup.subtree_control", []byte("-hugetlb"), 0) == nil {
				disabled = true
			}
		}()
	}
	names := func(fs fsys, rel string) string {
		ns, err := fs.ReadDir(rel)
		if err != nil {
			return errObs(err)
		}
		var hs []string
		for _, n := range ns {
			if strings.HasPrefix(n, "hugetlb.") {
				hs = append(hs, n)
			}
		}
		sort.Strings(hs)
		return fmt.Sprint(hs)
	}
	// files describes a cgroup's hugetlb files, their inode numbers
	// relative to the first one's: files added to an existing cgroup
	// take ids after whatever the host created in between.
	files := func(fs fsys, rel string) string {
		ns, err := fs.ReadDir(rel)
		if err != nil {
			return errObs(err)
		}
		first, min := "", uint64(0)
		for _, n := range ns {
			if st, err := fs.Stat(rel + "/" + n); err == nil && strings.HasPrefix(n, "hugetlb.") && (first == "" || st.ino < min) {
				first, min = n, st.ino
			}
		}
		var b strings.Builder
		for _, n := range ns {
			if strings.HasPrefix(n, "hugetlb.") {
				fmt.Fprintf(&b, "%s: %s %s\n", n, statRel(fs, rel+"/"+n, rel+"/"+first), readObs(fs, rel+"/"+n))
			}
		}
		return first + "\n" + b.String()
	}
	var sizes []string
	ctl2 := func(rel, v string) func(fs fsys) string {
		return func(fs fsys) string { return writeObs(fs, B(rel)+"/cgroup.subtree_control", v) }
	}
	d.same("root +hugetlb", func(fs fsys) string { return writeObs(fs, "cgroup.subtree_control", "+hugetlb") })
	d.same("mkdir hg, hg/c", func(fs fsys) string {
		return errObs(fs.Mkdir(B("hg"), 0755)) + errObs(fs.Mkdir(B("hg/c"), 0755))
	})
	d.check("base's files", func(fs fsys) string { return names(fs, base) })
	d.check("hg, hg/c before", func(fs fsys) string { return names(fs, B("hg")) + names(fs, B("hg/c")) })
	d.same("base +hugetlb", ctl2("", "+hugetlb"))
	d.check("hg's files", func(fs fsys) string { return files(fs, B("hg")) })
	d.same("hg +hugetlb", ctl2("hg", "+hugetlb"))
	d.check("hg/c's files", func(fs fsys) string { return files(fs, B("hg/c")) })
	d.same("mkdir hg/d", func(fs fsys) string { return errObs(fs.Mkdir(B("hg/d"), 0755)) })
	d.check("hg/d", func(fs fsys) string { return describeDir(fs, B("hg/d"), nil) })
	d.check("hg/cgroup.stat", func(fs fsys) string { return readObs(fs, B("hg/cgroup.stat")) })

	// The limits, for each size.
	for _, n := range strings.Fields(strings.Trim(names(d.sim, B("hg/c")), "[]")) {
		if strings.HasSuffix(n, ".max") && !strings.HasSuffix(n, ".rsvd.max") {
			sizes = append(sizes, strings.TrimSuffix(strings.TrimPrefix(n, "hugetlb."), ".max"))
		}
	}
	require.NotEmpty(t, sizes)
	values := []string{"0", "max", "max\n", " 4096 ", "2097152", "2097151", "4194304", "1k", "2M", "2m", "2MB",
		"3M", "1G", "1g", "2G", "1073741823", "1T", "1P", "1E", "16E", "17E", "0x200000", "0X200000", "010000000",
		"0x1g", "08", "0x", "-1", "+1", "\n", " ", "\t2M\t", "k", "E", "abc", "1 2", "2M\x005",
		"18446744073709551615", "18446744073709551616", "99999999999999999999999", "9223372036854771712",
		"9223372036854775807", "9223372036852678656", "9223372036852678655", "9223372035781033984",
		"max ", "MAX", "maxx", "4096k", "1.5G", "1G1", strings.Repeat("1", 5000), "max"}
	for _, sz := range sizes {
		for _, f := range []string{"max", "rsvd.max"} {
			file := B("hg/c/hugetlb." + sz + "." + f)
			for _, v := range values {
				if f == "rsvd.max" && len(v) > 30 {
					continue
				}
				d.same(fmt.Sprintf("write %q to %s", v, file), func(fs fsys) string {
					return writeObs(fs, file, v) + " → " + readObs(fs, file)
				})
			}
		}
		for _, f := range []string{"current", "rsvd.current", "events", "events.local", "numa_stat"} {
			file := B("hg/c/hugetlb." + sz + "." + f)
			d.same("write to "+file, func(fs fsys) string { return writeObs(fs, file, "0") + " → " + readObs(fs, file) })
		}
	}
	d.check("other limits untouched", func(fs fsys) string { return files(fs, B("hg/d")) })

	// A grandchild gets files only when its parent enables hugetlb too.
	d.same("mkdir hg/c/g", func(fs fsys) string { return errObs(fs.Mkdir(B("hg/c/g"), 0755)) })
	d.check("g without", func(fs fsys) string { return names(fs, B("hg/c/g")) })
	d.same("hg/c +hugetlb", ctl2("hg/c", "+hugetlb"))
	d.check("g with", func(fs fsys) string { return files(fs, B("hg/c/g")) })
	d.same("hg -hugetlb while hg/c has it", ctl2("hg", "-hugetlb"))
	d.same("hg/c -hugetlb", ctl2("hg/c", "-hugetlb"))
	d.check("g after", func(fs fsys) string { return names(fs, B("hg/c/g")) })
	// The kernel releases the killed css after an RCU grace period.
	d.eventually("hg/c/cgroup.stat", func(fs fsys) string { return readObs(fs, B("hg/c/cgroup.stat")) })

	// hugetlb is not threaded: no threaded subtree has it.
	d.same("mkdir hg/c/t threaded", func(fs fsys) string {
		return errObs(fs.Mkdir(B("hg/c/t"), 0755)) + writeObs(fs, B("hg/c/t/cgroup.type"), "threaded")
	})
	d.check("t", func(fs fsys) string { return names(fs, B("hg/c/t")) + readObs(fs, B("hg/c/t/cgroup.controllers")) })
	d.same("hg/c +hugetlb with a threaded child", ctl2("hg/c", "+hugetlb"))
	d.same("threaded t +hugetlb", ctl2("hg/c/t", "+hugetlb"))
	d.same("mkdir hg/x threaded under +hugetlb", func(fs fsys) string {
		return errObs(fs.Mkdir(B("hg/x"), 0755)) + writeObs(fs, B("hg/x/cgroup.type"), "threaded")
	})
	d.check("x", func(fs fsys) string { return names(fs, B("hg/x")) + readObs(fs, B("hg/x/cgroup.type")) })

	// Disabling kills the children's csses: their files go, open ones
	// fail, and enabling again brings fresh limits.
	file := B("hg/c/hugetlb." + sizes[0] + ".max")
	d.same("disable with an open file", func(fs fsys) string {
		h, err := fs.Open(file, unix.O_RDWR)
		if err != nil {
			return errObs(err)
		}
		defer h.Close()
		obs := writeObs(fs, file, "7G")
		obs += " " + errObs(fs.Rmdir(B("hg/c/t"))) + errObs(fs.Rmdir(B("hg/c/g")))
		obs += " " + writeObs(fs, B("hg/cgroup.subtree_control"), "-hugetlb")
		s, err := h.Pread(100, 0)
		obs += fmt.Sprintf(" pread=%q/%s", s, errObs(err))
		obs += " write=" + nObs(h.Write("1G"))
		return obs
	})
	d.check("hg/c, hg/d after", func(fs fsys) string { return names(fs, B("hg/c")) + names(fs, B("hg/d")) })
	d.eventually("hg/cgroup.stat after", func(fs fsys) string { return readObs(fs, B("hg/cgroup.stat")) })
	d.same("hg +hugetlb again", ctl2("hg", "+hugetlb"))
	d.check("fresh limits", func(fs fsys) string { return readObs(fs, file) })
	d.same("rmdirs", func(fs fsys) string {
		return errObs(fs.Rmdir(B("hg/c"))) + errObs(fs.Rmdir(B("hg/d"))) + errObs(fs.Rmdir(B("hg/x"))) +
			writeObs(fs, B("hg/cgroup.subtree_control"), "-hugetlb") + errObs(fs.Rmdir(B("hg"))) +
			writeObs(fs, B("cgroup.subtree_control"), "-hugetlb")
	})
	d.check("base's files after", func(fs fsys) string { return names(fs, base) })
}

// cleanupReal kills the test's processes and removes every cgroup under
// base, deepest first.
func cleanupReal(t *testing.T, r *realFS, base string) {
	root := filepath.Join(r.mnt, base)
	for label, cmd := range r.procs {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		delete(r.procs, label)
	}
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
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
