package vfs_test

// The script harness: a script is a list of file-system operations, each
// with the errno it must give. It runs on simfs (vfs + RamFS) always and,
// when the test runs as root, on the running kernel too (a ramfs and a tmpfs
// mounted in a private namespace, see vfs/vfstest), comparing every errno,
// every output (stat fields, inode identity, directory listings, data) and
// a snapshot of the whole tree after every step.

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/simfs/simfs/vfs"
	"github.com/simfs/simfs/vfs/vfstest"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

type op struct {
	kind   string
	p, p2  string
	mode   uint32
	flags  int
	dev    uint64
	slot   int
	n      int
	data   string
	uid    uint32
	gid    uint32
	groups []uint32
	size   int64
	rflags uint32

	want   syscall.Errno
	anyErr bool // the errno is compared between backends but not fixed
}

// fails sets the errno the step must give.
func (o op) fails(e syscall.Errno) op { o.want = e; return o }

// either lets the step fail or succeed, as long as both backends agree.
func (o op) either() op { o.anyErr = true; return o }

func (o op) String() string {
	s := o.kind
	for _, a := range []string{o.p, o.p2} {
		if a != "" {
			if len(a) > 40 {
				a = a[:20] + fmt.Sprintf("...(%d bytes)", len(a))
			}
			s += " " + a
		}
	}
	switch o.kind {
	case "mkdir", "chmod", "mknod":
		s += fmt.Sprintf(" %#o", o.mode)
	case "open":
		s += fmt.Sprintf(" flags=%#x mode=%#o slot=%d", o.flags, o.mode, o.slot)
	case "rename":
		s += fmt.Sprintf(" flags=%d", o.rflags)
	case "as":
		s += fmt.Sprintf(" %d:%d %v", o.uid, o.gid, o.groups)
	case "umask":
		s += fmt.Sprintf(" %#o", o.mode)
	case "chown":
		s += fmt.Sprintf(" %d:%d", int32(o.uid), int32(o.gid))
	case "close", "read", "write", "fstat":
		s += fmt.Sprintf(" slot=%d", o.slot)
	case "truncate":
		s += fmt.Sprintf(" %d", o.size)
	}
	return s
}

func mkdir(p string, mode uint32) op { return op{kind: "mkdir", p: p, mode: mode} }
func rmdir(p string) op              { return op{kind: "rmdir", p: p} }
func unlink(p string) op             { return op{kind: "unlink", p: p} }
func link(oldp, newp string) op      { return op{kind: "link", p: oldp, p2: newp} }
func symlink(target, p string) op    { return op{kind: "symlink", p: target, p2: p} }
func rename(oldp, newp string) op    { return op{kind: "rename", p: oldp, p2: newp} }
func rename2(oldp, newp string, flags uint32) op {
	return op{kind: "rename", p: oldp, p2: newp, rflags: flags}
}
func mknod(p string, mode uint32, dev uint64) op {
	return op{kind: "mknod", p: p, mode: mode, dev: dev}
}
func open(slot int, p string, flags int, mode uint32) op {
	return op{kind: "open", p: p, flags: flags, mode: mode, slot: slot}
}
func creat(p string, mode uint32) op { return op{kind: "creat", p: p, mode: mode} }
func closefd(slot int) op            { return op{kind: "close", slot: slot} }
func read(slot, n int) op            { return op{kind: "read", slot: slot, n: n} }
func write(slot int, data string) op { return op{kind: "write", slot: slot, data: data} }
func fstat(slot int) op              { return op{kind: "fstat", slot: slot} }
func chmod(p string, mode uint32) op { return op{kind: "chmod", p: p, mode: mode} }
func chown(p string, uid, gid int) op {
	return op{kind: "chown", p: p, uid: uint32(uid), gid: uint32(gid)}
}
func truncate(p string, size int64) op { return op{kind: "truncate", p: p, size: size} }
func stat(p string) op                 { return op{kind: "stat", p: p} }
func lstat(p string) op                { return op{kind: "lstat", p: p} }
func readlink(p string) op             { return op{kind: "readlink", p: p} }
func readdir(p string) op              { return op{kind: "readdir", p: p} }
func chdir(p string) op                { return op{kind: "chdir", p: p} }
func umask(m uint32) op                { return op{kind: "umask", mode: m} }
func as(uid, gid uint32, groups ...uint32) op {
	return op{kind: "as", uid: uid, gid: gid, groups: groups}
}
func asRoot() op           { return as(0, 0) }
func mount(p string) op    { return op{kind: "mount", p: p} }
func umountOp(p string) op { return op{kind: "umount", p: p} }

// script is one table entry.
type script struct {
	name  string
	steps []op
	// ramfsOnly: tmpfs answers differently by design (RENAME_WHITEOUT).
	ramfsOnly bool
}

// backend runs operations on one implementation.
type backend interface {
	run(o op) (out string, errno syscall.Errno)
	snapshot() []string
	name() string
}

// labels names inodes by order of first sight, so that inode identity can
// be compared between implementations whose inode numbers differ.
type labels struct {
	m map[[2]uint64]string
}

func (l *labels) of(dev, ino uint64) string {
	if l.m == nil {
		l.m = make(map[[2]uint64]string)
	}
	k := [2]uint64{dev, ino}
	if s, ok := l.m[k]; ok {
		return s
	}
	s := fmt.Sprintf("i%d", len(l.m)+1)
	l.m[k] = s
	return s
}

func fmtStat(l *labels, dev, ino uint64, mode, nlink, uid, gid uint32, size int64) string {
	s := fmt.Sprintf("%s mode=%#o nlink=%d uid=%d gid=%d", l.of(dev, ino), mode, nlink, uid, gid)
	if mode&unix.S_IFMT != unix.S_IFDIR {
		// Directory sizes are file-system specific (tmpfs counts entries).
		s += fmt.Sprintf(" size=%d", size)
	}
	return s
}

// ---- simfs ----

type vfsBackend struct {
	v     *vfs.VFS
	c     *vfs.Caller
	files map[int]*vfs.File
	l     labels
}

func newVFSBackend() *vfsBackend {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	return &vfsBackend{v: v, c: &vfs.Caller{}, files: map[int]*vfs.File{}}
}

func (b *vfsBackend) name() string { return "simfs" }

func (b *vfsBackend) statOut(st vfs.Stat) string {
	return fmtStat(&b.l, st.Dev, st.Ino, st.Mode, st.Nlink, st.UID, st.GID, st.Size)
}

func (b *vfsBackend) run(o op) (string, syscall.Errno) {
	v, c := b.v, b.c
	switch o.kind {
	case "mkdir":
		return "", vfs.Errno(v.Mkdir(c, o.p, o.mode))
	case "rmdir":
		return "", vfs.Errno(v.Rmdir(c, o.p))
	case "unlink":
		return "", vfs.Errno(v.Unlink(c, o.p))
	case "link":
		return "", vfs.Errno(v.Link(c, o.p, o.p2))
	case "symlink":
		return "", vfs.Errno(v.Symlink(c, o.p, o.p2))
	case "rename":
		return "", vfs.Errno(v.Rename(c, o.p, o.p2, o.rflags))
	case "mknod":
		return "", vfs.Errno(v.Mknod(c, o.p, o.mode, o.dev))
	case "open":
		f, err := v.Open(c, o.p, o.flags, o.mode)
		if err == nil {
			b.files[o.slot] = f
		}
		return "", vfs.Errno(err)
	case "creat":
		f, err := v.Open(c, o.p, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, o.mode)
		if err == nil {
			err = f.Close()
		}
		return "", vfs.Errno(err)
	case "close":
		f, ok := b.files[o.slot]
		if !ok {
			return "", unix.EBADF
		}
		delete(b.files, o.slot)
		return "", vfs.Errno(f.Close())
	case "read":
		f, ok := b.files[o.slot]
		if !ok {
			return "", unix.EBADF
		}
		p := make([]byte, o.n)
		n, err := f.Read(p)
		return fmt.Sprintf("%q", p[:max(n, 0)]), vfs.Errno(err)
	case "write":
		f, ok := b.files[o.slot]
		if !ok {
			return "", unix.EBADF
		}
		n, err := f.Write([]byte(o.data))
		return fmt.Sprint(n), vfs.Errno(err)
	case "fstat":
		f, ok := b.files[o.slot]
		if !ok {
			return "", unix.EBADF
		}
		return b.statOut(f.Stat()), 0
	case "chmod":
		return "", vfs.Errno(v.Chmod(c, o.p, o.mode))
	case "chown":
		return "", vfs.Errno(v.Chown(c, o.p, o.uid, o.gid))
	case "truncate":
		return "", vfs.Errno(v.Truncate(c, o.p, o.size))
	case "stat", "lstat":
		f := v.Stat
		if o.kind == "lstat" {
			f = v.Lstat
		}
		st, err := f(c, o.p)
		if err != nil {
			return "", vfs.Errno(err)
		}
		return b.statOut(st), 0
	case "readlink":
		s, err := v.Readlink(c, o.p)
		return s, vfs.Errno(err)
	case "readdir":
		ents, err := v.ReadDir(c, o.p)
		if err != nil {
			return "", vfs.Errno(err)
		}
		names := make([]string, len(ents))
		for i, e := range ents {
			names[i] = e.Name
		}
		sort.Strings(names)
		return strings.Join(names, ","), 0
	case "chdir":
		return "", vfs.Errno(v.Chdir(c, o.p))
	case "umask":
		c.Umask = o.mode & 0777 // umask(2) keeps the permission bits
		return "", 0
	case "as":
		c.Cred = vfs.Cred{UID: o.uid, GID: o.gid, Groups: o.groups}
		return "", 0
	case "mount":
		return "", vfs.Errno(v.Mount(c, o.p, vfs.NewRamFS(v, 0777)))
	case "umount":
		return "", vfs.Errno(v.Unmount(c, o.p))
	}
	panic("unknown op " + o.kind)
}

func (b *vfsBackend) snapshot() []string {
	root := &vfs.Caller{}
	var out []string
	var walk func(p string)
	walk = func(p string) {
		st, err := b.v.Lstat(root, p)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", p, vfs.Errno(err)))
			return
		}
		line := p + " " + b.statOut(st)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			t, _ := b.v.Readlink(root, p)
			line += " -> " + t
		case unix.S_IFDIR:
			out = append(out, line)
			ents, err := b.v.ReadDir(root, p)
			if err != nil {
				out = append(out, fmt.Sprintf("%s: readdir %v", p, vfs.Errno(err)))
				return
			}
			names := make([]string, len(ents))
			for i, e := range ents {
				names[i] = e.Name
			}
			sort.Strings(names)
			for _, n := range names {
				walk(strings.TrimSuffix(p, "/") + "/" + n)
			}
			return
		}
		out = append(out, line)
	}
	walk("/")
	slots := make([]int, 0, len(b.files))
	for s := range b.files {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, s := range slots {
		out = append(out, fmt.Sprintf("fd%d %s", s, b.statOut(b.files[s].Stat())))
	}
	return out
}

func (b *vfsBackend) closeAll() {
	for s, f := range b.files {
		f.Close()
		delete(b.files, s)
	}
	b.v.PutCwd(b.c)
}

// ---- the kernel ----

type kernelBackend struct {
	sb     *vfstest.Sandbox
	fstype string
	fds    map[int]int
	l      labels
	cred   op
}

func newKernelBackend(t *testing.T, fstype string) *kernelBackend {
	sb := vfstest.New(t, fstype, "mode=0755")
	return &kernelBackend{sb: sb, fstype: fstype, fds: map[int]int{}}
}

func (k *kernelBackend) name() string { return "linux " + k.fstype }

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return vfs.Errno(err)
}

func (k *kernelBackend) statOut(st *unix.Stat_t) string {
	return fmtStat(&k.l, st.Dev, st.Ino, st.Mode, uint32(st.Nlink), st.Uid, st.Gid, st.Size)
}

func (k *kernelBackend) run(o op) (out string, e syscall.Errno) {
	k.sb.Do(func() { out, e = k.do(o) })
	return
}

func (k *kernelBackend) do(o op) (string, syscall.Errno) {
	switch o.kind {
	case "mkdir":
		return "", errnoOf(unix.Mkdir(o.p, o.mode))
	case "rmdir":
		return "", errnoOf(unix.Rmdir(o.p))
	case "unlink":
		return "", errnoOf(unix.Unlink(o.p))
	case "link":
		return "", errnoOf(unix.Link(o.p, o.p2))
	case "symlink":
		return "", errnoOf(unix.Symlink(o.p, o.p2))
	case "rename":
		return "", errnoOf(unix.Renameat2(unix.AT_FDCWD, o.p, unix.AT_FDCWD, o.p2, uint(o.rflags)))
	case "mknod":
		return "", errnoOf(unix.Mknod(o.p, o.mode, int(o.dev)))
	case "open":
		fd, err := unix.Open(o.p, o.flags|unix.O_CLOEXEC, o.mode)
		if err == nil {
			k.fds[o.slot] = fd
		}
		return "", errnoOf(err)
	case "creat":
		fd, err := unix.Open(o.p, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, o.mode)
		if err == nil {
			err = unix.Close(fd)
		}
		return "", errnoOf(err)
	case "close":
		fd, ok := k.fds[o.slot]
		if !ok {
			return "", unix.EBADF
		}
		delete(k.fds, o.slot)
		return "", errnoOf(unix.Close(fd))
	case "read":
		fd, ok := k.fds[o.slot]
		if !ok {
			return "", unix.EBADF
		}
		p := make([]byte, o.n)
		n, err := unix.Read(fd, p)
		return fmt.Sprintf("%q", p[:max(n, 0)]), errnoOf(err)
	case "write":
		fd, ok := k.fds[o.slot]
		if !ok {
			return "", unix.EBADF
		}
		n, err := unix.Write(fd, []byte(o.data))
		if err != nil {
			n = 0
		}
		return fmt.Sprint(n), errnoOf(err)
	case "fstat":
		fd, ok := k.fds[o.slot]
		if !ok {
			return "", unix.EBADF
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return "", errnoOf(err)
		}
		return k.statOut(&st), 0
	case "chmod":
		return "", errnoOf(unix.Chmod(o.p, o.mode))
	case "chown":
		return "", errnoOf(unix.Chown(o.p, int(int32(o.uid)), int(int32(o.gid))))
	case "truncate":
		return "", errnoOf(unix.Truncate(o.p, o.size))
	case "stat", "lstat":
		var st unix.Stat_t
		f := unix.Stat
		if o.kind == "lstat" {
			f = unix.Lstat
		}
		if err := f(o.p, &st); err != nil {
			return "", errnoOf(err)
		}
		return k.statOut(&st), 0
	case "readlink":
		buf := make([]byte, 8192)
		n, err := unix.Readlink(o.p, buf)
		if err != nil {
			return "", errnoOf(err)
		}
		return string(buf[:n]), 0
	case "readdir":
		names, err := kernelReadDir(o.p)
		if err != nil {
			return "", errnoOf(err)
		}
		return strings.Join(names, ","), 0
	case "chdir":
		return "", errnoOf(unix.Chdir(o.p))
	case "umask":
		unix.Umask(int(o.mode))
		return "", 0
	case "as":
		if err := k.setCred(o); err != nil {
			panic(err)
		}
		return "", 0
	case "mount":
		if k.cred.uid != 0 {
			return "", unix.EPERM
		}
		return "", errnoOf(unix.Mount("none", o.p, k.fstype, 0, "mode=0777"))
	case "umount":
		return "", errnoOf(unix.Unmount(o.p, 0))
	}
	panic("unknown op " + o.kind)
}

func (k *kernelBackend) setCred(o op) error {
	// The sandbox's SetCred runs on the sandbox thread through Do; we are
	// already on it, so call the syscalls directly.
	if err := unix.Setfsuid(0); err != nil {
		return err
	}
	gs := make([]int, len(o.groups))
	for i, g := range o.groups {
		gs[i] = int(g)
	}
	if err := unix.Setgroups(gs); err != nil {
		return err
	}
	if err := unix.Setfsgid(int(o.gid)); err != nil {
		return err
	}
	if err := unix.Setfsuid(int(o.uid)); err != nil {
		return err
	}
	k.cred = o
	return nil
}

func kernelReadDir(p string) ([]string, error) {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var names []string
	buf := make([]byte, 8192)
	for {
		n, err := unix.Getdents(fd, buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	sort.Strings(names)
	return names, nil
}

func (k *kernelBackend) snapshot() []string {
	var out []string
	k.sb.Do(func() {
		saved := k.cred
		if err := k.setCred(asRoot()); err != nil {
			panic(err)
		}
		defer func() {
			if err := k.setCred(saved); err != nil {
				panic(err)
			}
		}()
		var walk func(p string)
		walk = func(p string) {
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				out = append(out, fmt.Sprintf("%s: %v", p, errnoOf(err)))
				return
			}
			line := p + " " + k.statOut(&st)
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFLNK:
				buf := make([]byte, 8192)
				n, _ := unix.Readlink(p, buf)
				line += " -> " + string(buf[:max(n, 0)])
			case unix.S_IFDIR:
				out = append(out, line)
				names, err := kernelReadDir(p)
				if err != nil {
					out = append(out, fmt.Sprintf("%s: readdir %v", p, errnoOf(err)))
					return
				}
				for _, n := range names {
					walk(strings.TrimSuffix(p, "/") + "/" + n)
				}
				return
			}
			out = append(out, line)
		}
		walk("/")
		slots := make([]int, 0, len(k.fds))
		for s := range k.fds {
			slots = append(slots, s)
		}
		sort.Ints(slots)
		for _, s := range slots {
			var st unix.Stat_t
			if err := unix.Fstat(k.fds[s], &st); err != nil {
				panic(err)
			}
			out = append(out, fmt.Sprintf("fd%d %s", s, k.statOut(&st)))
		}
	})
	return out
}

func (k *kernelBackend) closeAll() {
	k.sb.Do(func() {
		for s, fd := range k.fds {
			unix.Close(fd)
			delete(k.fds, s)
		}
	})
}

// trace is what one backend observed.
type trace struct {
	errnos []syscall.Errno
	outs   []string
	snaps  [][]string
}

func runBackend(b backend, s script) trace {
	var tr trace
	for _, o := range s.steps {
		out, e := b.run(o)
		tr.errnos = append(tr.errnos, e)
		tr.outs = append(tr.outs, fmt.Sprintf("%s => %s %s", o, errName(e), out))
		tr.snaps = append(tr.snaps, b.snapshot())
	}
	return tr
}

// checkWant reports the steps whose errno is not the one the script wants.
func checkWant(t *testing.T, who string, s script, tr trace) {
	t.Helper()
	for i, o := range s.steps {
		if !o.anyErr && tr.errnos[i] != o.want {
			t.Errorf("%s: step %d (%s): want %s, got %s", who, i, o, errName(o.want), errName(tr.errnos[i]))
		}
	}
}

func errName(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return e.Error()
}

// runScript runs s on simfs, checking each step's errno, and, as root, on
// the kernel's ramfs and tmpfs first, checking the same and requiring
// identical observations from simfs.
func runScript(t *testing.T, s script) {
	t.Helper()
	vb := newVFSBackend()
	defer vb.closeAll()
	want := runBackend(vb, s)
	checkWant(t, "simfs", s, want)
	if testing.Short() || !kernelAvailable() {
		return
	}
	fstypes := []string{"ramfs", "tmpfs"}
	if s.ramfsOnly {
		fstypes = fstypes[:1]
	}
	for _, fs := range fstypes {
		kb := newKernelBackend(t, fs)
		got := runBackend(kb, s)
		kb.closeAll()
		checkWant(t, "linux "+fs, s, got)
		for i := range s.steps {
			require.Equalf(t, got.outs[i], want.outs[i], "step %d differs: linux %s vs simfs", i, fs)
			require.Equalf(t, got.snaps[i], want.snaps[i], "tree after step %d (%s) differs: linux %s vs simfs", i, s.steps[i], fs)
		}
	}
}

func runScripts(t *testing.T, scripts []script) {
	for _, s := range scripts {
		t.Run(s.name, func(t *testing.T) { runScript(t, s) })
	}
}

func kernelAvailable() bool { return vfstest.Available() == nil }
