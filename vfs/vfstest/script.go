package vfstest

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// Op is one file-system operation of a differential script, with the
// errno it must give. Build them with the constructors below (Mkdir, Open,
// As, ...).
type Op struct {
	Kind   string
	P, P2  string
	Mode   uint32
	Flags  int
	Dev    uint64
	Slot   int
	N      int
	Data   string
	UID    uint32
	GID    uint32
	Groups []uint32
	Size   int64
	RFlags uint32

	// Want is the errno the step must give (0: success).
	Want syscall.Errno
	// AnyErr: the errno is compared between backends but not fixed.
	AnyErr bool
}

// Fails sets the errno the step must give.
func (o Op) Fails(e syscall.Errno) Op { o.Want = e; return o }

// Either lets the step fail or succeed, as long as the backends agree.
func (o Op) Either() Op { o.AnyErr = true; return o }

func (o Op) String() string {
	s := o.Kind
	for _, a := range []string{o.P, o.P2} {
		if a != "" {
			if len(a) > 40 {
				a = a[:20] + fmt.Sprintf("...(%d bytes)", len(a))
			}
			s += " " + a
		}
	}
	switch o.Kind {
	case "mkdir", "chmod", "mknod", "creat":
		s += fmt.Sprintf(" %#o", o.Mode)
	case "open":
		s += fmt.Sprintf(" flags=%#x mode=%#o slot=%d", o.Flags, o.Mode, o.Slot)
	case "rename":
		s += fmt.Sprintf(" flags=%d", o.RFlags)
	case "as":
		s += fmt.Sprintf(" %d:%d %v", o.UID, o.GID, o.Groups)
	case "umask":
		s += fmt.Sprintf(" %#o", o.Mode)
	case "chown":
		s += fmt.Sprintf(" %d:%d", int32(o.UID), int32(o.GID))
	case "close", "read", "write", "fstat":
		s += fmt.Sprintf(" slot=%d", o.Slot)
	case "truncate":
		s += fmt.Sprintf(" %d", o.Size)
	}
	return s
}

// The operations. Paths are absolute or relative to the working directory
// set by Chdir; slots name open files.

func Mkdir(p string, mode uint32) Op { return Op{Kind: "mkdir", P: p, Mode: mode} }
func Rmdir(p string) Op              { return Op{Kind: "rmdir", P: p} }
func Unlink(p string) Op             { return Op{Kind: "unlink", P: p} }
func Link(oldp, newp string) Op      { return Op{Kind: "link", P: oldp, P2: newp} }
func Symlink(target, p string) Op    { return Op{Kind: "symlink", P: target, P2: p} }
func Rename(oldp, newp string) Op    { return Op{Kind: "rename", P: oldp, P2: newp} }

// Rename2 is renameat2 with flags.
func Rename2(oldp, newp string, flags uint32) Op {
	return Op{Kind: "rename", P: oldp, P2: newp, RFlags: flags}
}

func Mknod(p string, mode uint32, dev uint64) Op {
	return Op{Kind: "mknod", P: p, Mode: mode, Dev: dev}
}

// Open opens p into slot.
func Open(slot int, p string, flags int, mode uint32) Op {
	return Op{Kind: "open", P: p, Flags: flags, Mode: mode, Slot: slot}
}

// Creat is open(O_CREAT|O_WRONLY|O_TRUNC) and close.
func Creat(p string, mode uint32) Op { return Op{Kind: "creat", P: p, Mode: mode} }
func Close(slot int) Op              { return Op{Kind: "close", Slot: slot} }
func Read(slot, n int) Op            { return Op{Kind: "read", Slot: slot, N: n} }
func Write(slot int, data string) Op { return Op{Kind: "write", Slot: slot, Data: data} }
func Fstat(slot int) Op              { return Op{Kind: "fstat", Slot: slot} }
func Chmod(p string, mode uint32) Op { return Op{Kind: "chmod", P: p, Mode: mode} }

// Chown changes ids; -1 leaves one as it is.
func Chown(p string, uid, gid int) Op {
	return Op{Kind: "chown", P: p, UID: uint32(uid), GID: uint32(gid)}
}

func Truncate(p string, size int64) Op { return Op{Kind: "truncate", P: p, Size: size} }
func Stat(p string) Op                 { return Op{Kind: "stat", P: p} }
func Lstat(p string) Op                { return Op{Kind: "lstat", P: p} }
func Readlink(p string) Op             { return Op{Kind: "readlink", P: p} }
func Readdir(p string) Op              { return Op{Kind: "readdir", P: p} }
func Chdir(p string) Op                { return Op{Kind: "chdir", P: p} }
func Umask(m uint32) Op                { return Op{Kind: "umask", Mode: m} }

// As makes the following operations run as uid/gid with the groups.
func As(uid, gid uint32, groups ...uint32) Op {
	return Op{Kind: "as", UID: uid, GID: gid, Groups: groups}
}

// AsRoot is As(0, 0).
func AsRoot() Op { return As(0, 0) }

// Mount mounts a fresh file system of the backend's type (mode 0777) on p.
func Mount(p string) Op { return Op{Kind: "mount", P: p} }

// Umount unmounts the file system mounted on p.
func Umount(p string) Op { return Op{Kind: "umount", P: p} }

// Backend runs operations on one implementation.
type Backend interface {
	// Run performs o and returns its output (stat fields, data read, ...)
	// and errno.
	Run(o Op) (out string, errno syscall.Errno)
	// Snapshot describes the whole tree and every open file.
	Snapshot() []string
	Name() string
	// Close closes the open files.
	Close()
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

// Simfs runs operations on a VFS whose root is a RamFS.
type Simfs struct {
	V     *vfs.VFS
	C     *vfs.Caller
	Files map[int]*vfs.File
	l     labels
}

// NewSimfs creates a VFS with a RamFS root of mode 0755, and a root caller
// with umask 0 (the sandbox's).
func NewSimfs() *Simfs {
	v := vfs.New(&vfs.RamFS{}, vfs.RamDirOps(), 0755, vfs.Options{})
	return &Simfs{V: v, C: &vfs.Caller{}, Files: map[int]*vfs.File{}}
}

// Name is "simfs".
func (b *Simfs) Name() string { return "simfs" }

func (b *Simfs) statOut(st vfs.Stat) string {
	return fmtStat(&b.l, st.Dev, st.Ino, st.Mode, st.Nlink, st.UID, st.GID, st.Size)
}

// Run performs o.
func (b *Simfs) Run(o Op) (string, syscall.Errno) {
	v, c := b.V, b.C
	switch o.Kind {
	case "mkdir":
		return "", vfs.Errno(v.Mkdir(c, o.P, o.Mode))
	case "rmdir":
		return "", vfs.Errno(v.Rmdir(c, o.P))
	case "unlink":
		return "", vfs.Errno(v.Unlink(c, o.P))
	case "link":
		return "", vfs.Errno(v.Link(c, o.P, o.P2))
	case "symlink":
		return "", vfs.Errno(v.Symlink(c, o.P, o.P2))
	case "rename":
		return "", vfs.Errno(v.Rename(c, o.P, o.P2, o.RFlags))
	case "mknod":
		return "", vfs.Errno(v.Mknod(c, o.P, o.Mode, o.Dev))
	case "open":
		f, err := v.Open(c, o.P, o.Flags, o.Mode)
		if err == nil {
			b.Files[o.Slot] = f
		}
		return "", vfs.Errno(err)
	case "creat":
		f, err := v.Open(c, o.P, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, o.Mode)
		if err == nil {
			err = f.Close()
		}
		return "", vfs.Errno(err)
	case "close":
		f, ok := b.Files[o.Slot]
		if !ok {
			return "", unix.EBADF
		}
		delete(b.Files, o.Slot)
		return "", vfs.Errno(f.Close())
	case "read":
		f, ok := b.Files[o.Slot]
		if !ok {
			return "", unix.EBADF
		}
		p := make([]byte, o.N)
		n, err := f.Read(p)
		return fmt.Sprintf("%q", p[:max(n, 0)]), vfs.Errno(err)
	case "write":
		f, ok := b.Files[o.Slot]
		if !ok {
			return "", unix.EBADF
		}
		n, err := f.Write([]byte(o.Data))
		return fmt.Sprint(n), vfs.Errno(err)
	case "fstat":
		f, ok := b.Files[o.Slot]
		if !ok {
			return "", unix.EBADF
		}
		return b.statOut(f.Stat()), 0
	case "chmod":
		return "", vfs.Errno(v.Chmod(c, o.P, o.Mode))
	case "chown":
		return "", vfs.Errno(v.Chown(c, o.P, o.UID, o.GID))
	case "truncate":
		return "", vfs.Errno(v.Truncate(c, o.P, o.Size))
	case "stat", "lstat":
		f := v.Stat
		if o.Kind == "lstat" {
			f = v.Lstat
		}
		st, err := f(c, o.P)
		if err != nil {
			return "", vfs.Errno(err)
		}
		return b.statOut(st), 0
	case "readlink":
		s, err := v.Readlink(c, o.P)
		return s, vfs.Errno(err)
	case "readdir":
		ents, err := v.ReadDir(c, o.P)
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
		return "", vfs.Errno(v.Chdir(c, o.P))
	case "umask":
		c.Umask = o.Mode & 0777 // umask(2) keeps the permission bits
		return "", 0
	case "as":
		c.Cred = vfs.Cred{UID: o.UID, GID: o.GID, Groups: o.Groups}
		return "", 0
	case "mount":
		return "", vfs.Errno(v.Mount(c, o.P, vfs.NewRamFS(v, 0777)))
	case "umount":
		return "", vfs.Errno(v.Unmount(c, o.P))
	}
	panic("unknown op " + o.Kind)
}

// Snapshot lists the tree from "/" (lstat of every entry, symlink targets)
// and fstat of every open slot.
func (b *Simfs) Snapshot() []string {
	root := &vfs.Caller{}
	var out []string
	var walk func(p string)
	walk = func(p string) {
		st, err := b.V.Lstat(root, p)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", p, vfs.Errno(err)))
			return
		}
		line := p + " " + b.statOut(st)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			t, _ := b.V.Readlink(root, p)
			line += " -> " + t
		case unix.S_IFDIR:
			out = append(out, line)
			ents, err := b.V.ReadDir(root, p)
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
	slots := make([]int, 0, len(b.Files))
	for s := range b.Files {
		slots = append(slots, s)
	}
	sort.Ints(slots)
	for _, s := range slots {
		out = append(out, fmt.Sprintf("fd%d %s", s, b.statOut(b.Files[s].Stat())))
	}
	return out
}

// Close closes every open slot and drops the working directory.
func (b *Simfs) Close() {
	for s, f := range b.Files {
		f.Close()
		delete(b.Files, s)
	}
	b.V.PutCwd(b.C)
}

// Kernel runs operations in a Sandbox on the running kernel.
type Kernel struct {
	SB     *Sandbox
	fstype string
	fds    map[int]int
	l      labels
	cred   Op
}

// NewKernel starts a sandbox on a fresh fstype mounted with mode=0755 (see
// New: it skips tb without root).
func NewKernel(tb testing.TB, fstype string) *Kernel {
	sb := New(tb, fstype, "mode=0755")
	return &Kernel{SB: sb, fstype: fstype, fds: map[int]int{}}
}

// Name is "linux <fstype>".
func (k *Kernel) Name() string { return "linux " + k.fstype }

func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	return vfs.Errno(err)
}

func (k *Kernel) statOut(st *unix.Stat_t) string {
	return fmtStat(&k.l, st.Dev, st.Ino, st.Mode, uint32(st.Nlink), st.Uid, st.Gid, st.Size)
}

// Run performs o on the sandbox thread.
func (k *Kernel) Run(o Op) (out string, e syscall.Errno) {
	k.SB.Do(func() { out, e = k.do(o) })
	return
}

func (k *Kernel) do(o Op) (string, syscall.Errno) {
	switch o.Kind {
	case "mkdir":
		return "", errnoOf(unix.Mkdir(o.P, o.Mode))
	case "rmdir":
		return "", errnoOf(unix.Rmdir(o.P))
	case "unlink":
		return "", errnoOf(unix.Unlink(o.P))
	case "link":
		return "", errnoOf(unix.Link(o.P, o.P2))
	case "symlink":
		return "", errnoOf(unix.Symlink(o.P, o.P2))
	case "rename":
		return "", errnoOf(unix.Renameat2(unix.AT_FDCWD, o.P, unix.AT_FDCWD, o.P2, uint(o.RFlags)))
	case "mknod":
		return "", errnoOf(unix.Mknod(o.P, o.Mode, int(o.Dev)))
	case "open":
		fd, err := unix.Open(o.P, o.Flags|unix.O_CLOEXEC, o.Mode)
		if err == nil {
			k.fds[o.Slot] = fd
		}
		return "", errnoOf(err)
	case "creat":
		fd, err := unix.Open(o.P, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, o.Mode)
		if err == nil {
			err = unix.Close(fd)
		}
		return "", errnoOf(err)
	case "close":
		fd, ok := k.fds[o.Slot]
		if !ok {
			return "", unix.EBADF
		}
		delete(k.fds, o.Slot)
		return "", errnoOf(unix.Close(fd))
	case "read":
		fd, ok := k.fds[o.Slot]
		if !ok {
			return "", unix.EBADF
		}
		p := make([]byte, o.N)
		n, err := unix.Read(fd, p)
		return fmt.Sprintf("%q", p[:max(n, 0)]), errnoOf(err)
	case "write":
		fd, ok := k.fds[o.Slot]
		if !ok {
			return "", unix.EBADF
		}
		n, err := unix.Write(fd, []byte(o.Data))
		if err != nil {
			n = 0
		}
		return fmt.Sprint(n), errnoOf(err)
	case "fstat":
		fd, ok := k.fds[o.Slot]
		if !ok {
			return "", unix.EBADF
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return "", errnoOf(err)
		}
		return k.statOut(&st), 0
	case "chmod":
		return "", errnoOf(unix.Chmod(o.P, o.Mode))
	case "chown":
		return "", errnoOf(unix.Chown(o.P, int(int32(o.UID)), int(int32(o.GID))))
	case "truncate":
		return "", errnoOf(unix.Truncate(o.P, o.Size))
	case "stat", "lstat":
		var st unix.Stat_t
		f := unix.Stat
		if o.Kind == "lstat" {
			f = unix.Lstat
		}
		if err := f(o.P, &st); err != nil {
			return "", errnoOf(err)
		}
		return k.statOut(&st), 0
	case "readlink":
		buf := make([]byte, 8192)
		n, err := unix.Readlink(o.P, buf)
		if err != nil {
			return "", errnoOf(err)
		}
		return string(buf[:n]), 0
	case "readdir":
		names, err := kernelReadDir(o.P)
		if err != nil {
			return "", errnoOf(err)
		}
		return strings.Join(names, ","), 0
	case "chdir":
		return "", errnoOf(unix.Chdir(o.P))
	case "umask":
		unix.Umask(int(o.Mode))
		return "", 0
	case "as":
		if err := k.SB.setCred(o.UID, o.GID, o.Groups); err != nil {
			panic(err)
		}
		k.cred = o
		return "", 0
	case "mount":
		if k.cred.UID != 0 {
			return "", unix.EPERM
		}
		return "", errnoOf(unix.Mount("none", o.P, k.fstype, 0, "mode=0777"))
	case "umount":
		return "", errnoOf(unix.Unmount(o.P, 0))
	}
	panic("unknown op " + o.Kind)
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

// Snapshot lists the tree as root, as Simfs.Snapshot does.
func (k *Kernel) Snapshot() []string {
	var out []string
	k.SB.Do(func() {
		saved := k.cred
		if err := k.SB.setCred(0, 0, nil); err != nil {
			panic(err)
		}
		defer func() {
			if err := k.SB.setCred(saved.UID, saved.GID, saved.Groups); err != nil {
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

// Close closes every open slot.
func (k *Kernel) Close() {
	k.SB.Do(func() {
		for s, fd := range k.fds {
			unix.Close(fd)
			delete(k.fds, s)
		}
	})
}

// ErrName is the errno's name ("ENOENT"), or "ok" for 0.
func ErrName(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return e.Error()
}
