package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fsUnderTest is the same file operations on a real bpffs and on simfs's.
type fsUnderTest interface {
	do(op string, args ...string) string
}

// observe turns an error into the errno name the comparison uses.
func observe(err error) string {
	if err == nil {
		return "ok"
	}
	var e syscall.Errno
	for x := err; x != nil; {
		if en, ok := x.(syscall.Errno); ok {
			e = en
			break
		}
		u, ok := x.(interface{ Unwrap() error })
		if !ok {
			break
		}
		x = u.Unwrap()
	}
	if e == 0 {
		return "error " + err.Error()
	}
	return unix.ErrnoName(e)
}

type realBPFFS struct {
	t    *testing.T
	dir  string
	mapF *ebpf.Map
	prog *ebpf.Program
}

func bpfObj(cmd uintptr, path string, fd uint32, flags uint32) (int, error) {
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
	}{Pathname: uint64(uintptr(unsafe.Pointer(p))), BpfFd: fd, FileFlags: flags}
	r, _, e := unix.Syscall(unix.SYS_BPF, cmd, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	runtime.KeepAlive(p)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

func statObs(st unix.Stat_t) string {
	return fmt.Sprintf("mode=%o nlink=%d size=%d uid=%d gid=%d", st.Mode, st.Nlink, st.Size, st.Uid, st.Gid)
}

func (r *realBPFFS) path(p string) string { return filepath.Join(r.dir, p) }

func (r *realBPFFS) do(op string, a ...string) string {
	var err error
	switch op {
	case "mkdir":
		err = unix.Mkdir(r.path(a[0]), 0777)
	case "rmdir":
		err = unix.Rmdir(r.path(a[0]))
	case "unlink":
		err = unix.Unlink(r.path(a[0]))
	case "rename", "rename-noreplace", "rename-exchange", "rename-whiteout":
		fl := map[string]uint{"rename": 0, "rename-noreplace": unix.RENAME_NOREPLACE, "rename-exchange": unix.RENAME_EXCHANGE, "rename-whiteout": unix.RENAME_WHITEOUT}[op]
		err = unix.Renameat2(unix.AT_FDCWD, r.path(a[0]), unix.AT_FDCWD, r.path(a[1]), fl)
	case "link":
		err = unix.Link(r.path(a[0]), r.path(a[1]))
	case "symlink":
		err = unix.Symlink(a[0], r.path(a[1]))
	case "open-r", "open-w", "open-creat", "open-excl", "open-dir":
		fl := map[string]int{"open-r": unix.O_RDONLY, "open-w": unix.O_WRONLY, "open-creat": unix.O_WRONLY | unix.O_CREAT, "open-excl": unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL, "open-dir": unix.O_RDONLY | unix.O_DIRECTORY}[op]
		var fd int
		fd, err = unix.Open(r.path(a[0]), fl, 0644)
		if err == nil {
			unix.Close(fd)
		}
	case "stat", "lstat":
		var st unix.Stat_t
		if op == "stat" {
			err = unix.Stat(r.path(a[0]), &st)
		} else {
			err = unix.Lstat(r.path(a[0]), &st)
		}
		if err == nil {
			return statObs(st)
		}
	case "pin-map":
		_, err = bpfObj(6, r.path(a[0]), uint32(r.mapF.FD()), 0)
	case "pin-prog":
		_, err = bpfObj(6, r.path(a[0]), uint32(r.prog.FD()), 0)
	case "pin-abs":
		_, err = bpfObj(6, a[0], uint32(r.mapF.FD()), 0)
	case "get", "get-ro", "get-wo", "get-both":
		fl := map[string]uint32{"get": 0, "get-ro": BPF_F_RDONLY, "get-wo": BPF_F_WRONLY, "get-both": BPF_F_RDONLY | BPF_F_WRONLY}[op]
		var fd int
		fd, err = bpfObj(7, r.path(a[0]), 0, fl)
		if err == nil {
			unix.Close(fd)
		}
	case "readdir":
		var ents []os.DirEntry
		ents, err = os.ReadDir(r.path(a[0]))
		if err == nil {
			names := make([]string, len(ents))
			for i, e := range ents {
				names[i] = e.Name()
			}
			return "ok " + strings.Join(names, ",")
		}
	case "chmod":
		err = unix.Chmod(r.path(a[0]), 0644)
	case "truncate":
		err = unix.Truncate(r.path(a[0]), 0)
	case "mknod-fifo":
		err = unix.Mknod(r.path(a[0]), unix.S_IFIFO|0644, 0)
	case "mknod-reg":
		err = unix.Mknod(r.path(a[0]), unix.S_IFREG|0644, 0)
	case "setxattr":
		err = unix.Setxattr(r.path(a[0]), "user.x", []byte("1"), 0)
	default:
		r.t.Fatalf("unknown op %q", op)
	}
	return observe(err)
}

type simBPFFS struct {
	t    *testing.T
	p    *Process
	mapF int
	prog int
}

func (s *simBPFFS) path(p string) string { return filepath.Join(BPFFSPath, p) }

func (s *simBPFFS) do(op string, a ...string) string {
	p := s.p
	var err error
	switch op {
	case "mkdir":
		err = p.Mkdir(s.path(a[0]), 0777)
	case "rmdir":
		err = p.Rmdir(s.path(a[0]))
	case "unlink":
		err = p.Unlink(s.path(a[0]))
	case "rename", "rename-noreplace", "rename-exchange", "rename-whiteout":
		fl := map[string]uint32{"rename": 0, "rename-noreplace": unix.RENAME_NOREPLACE, "rename-exchange": unix.RENAME_EXCHANGE, "rename-whiteout": unix.RENAME_WHITEOUT}[op]
		err = p.Rename(s.path(a[0]), s.path(a[1]), fl)
	case "link":
		err = p.Link(s.path(a[0]), s.path(a[1]))
	case "symlink":
		err = p.Symlink(a[0], s.path(a[1]))
	case "open-r", "open-w", "open-creat", "open-excl", "open-dir":
		fl := map[string]int{"open-r": unix.O_RDONLY, "open-w": unix.O_WRONLY, "open-creat": unix.O_WRONLY | unix.O_CREAT, "open-excl": unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL, "open-dir": unix.O_RDONLY | unix.O_DIRECTORY}[op]
		var fd int
		fd, err = p.Open(s.path(a[0]), fl, 0644)
		if err == nil {
			p.Close(fd)
		}
	case "stat", "lstat":
		var st statResult
		if op == "stat" {
			st.Stat, err = p.Stat(s.path(a[0]))
		} else {
			st.Stat, err = p.Lstat(s.path(a[0]))
		}
		if err == nil {
			return fmt.Sprintf("mode=%o nlink=%d size=%d uid=%d gid=%d", st.Mode, st.Nlink, st.Size, st.UID, st.GID)
		}
	case "pin-map":
		err = p.ObjPin(s.mapF, s.path(a[0]))
	case "pin-prog":
		err = p.ObjPin(s.prog, s.path(a[0]))
	case "pin-abs":
		err = p.ObjPin(s.mapF, a[0])
	case "get", "get-ro", "get-wo", "get-both":
		fl := map[string]uint32{"get": 0, "get-ro": BPF_F_RDONLY, "get-wo": BPF_F_WRONLY, "get-both": BPF_F_RDONLY | BPF_F_WRONLY}[op]
		var fd int
		fd, err = p.ObjGet(s.path(a[0]), fl)
		if err == nil {
			p.Close(fd)
		}
	case "readdir":
		ents, err2 := p.ReadDir(s.path(a[0]))
		if err2 == nil {
			names := make([]string, len(ents))
			for i, e := range ents {
				names[i] = e.Name
			}
			sort.Strings(names)
			return "ok " + strings.Join(names, ",")
		}
		err = err2
	case "chmod":
		err = p.Chmod(s.path(a[0]), 0644)
	case "truncate":
		err = p.Truncate(s.path(a[0]), 0)
	case "mknod-fifo":
		err = p.Mknod(s.path(a[0]), unix.S_IFIFO|0644, 0)
	case "mknod-reg":
		err = p.Mknod(s.path(a[0]), unix.S_IFREG|0644, 0)
	case "setxattr":
		err = unix.EOPNOTSUPP // bpffs has no xattr handlers; simfs has no setxattr call
	default:
		s.t.Fatalf("unknown op %q", op)
	}
	return observe(err)
}

type statResult struct{ vfs.Stat }

// bpffsScript is a sequence of operations whose every observation must be
// the same on a real bpffs and on simfs's.
var bpffsScript = [][]string{
	{"stat", "."},
	{"readdir", "."},
	{"stat", "maps.debug"},
	{"open-r", "maps.debug"},
	{"unlink", "maps.debug"},
	{"rename", "progs.debug", "x"},
	{"link", "maps.debug", "y"},
	{"pin-map", "m"},
	{"stat", "m"},
	{"pin-map", "m"},
	{"pin-prog", "p"},
	{"stat", "p"},
	{"open-r", "p"},
	{"open-w", "p"},
	{"open-r", "m"},
	{"open-creat", "m"},
	{"open-excl", "m"},
	{"open-creat", "new"},
	{"open-dir", "m"},
	{"pin-map", "a.b"},
	{"mkdir", "d.x"},
	{"stat", "nosuch.x"},
	{"stat", "nosuch"},
	{"pin-map", "nodir/m"},
	{"pin-map", "m/x"},
	{"mkdir", "d"},
	{"stat", "d"},
	{"stat", "."},
	{"mkdir", "d"},
	{"pin-map", "d/m"},
	{"rmdir", "d"},
	{"rmdir", "m"},
	{"unlink", "d"},
	{"link", "m", "hl"},
	{"stat", "m"},
	{"link", "d", "dl"},
	{"symlink", "m", "sl"},
	{"lstat", "sl"},
	{"stat", "sl"},
	{"get", "sl"},
	{"get", "d"},
	{"get", "nosuch"},
	{"get-both", "m"},
	{"get-ro", "m"},
	{"get-wo", "p"},
	{"rename-noreplace", "m", "hl"},
	{"rename", "hl", "d/hl"},
	{"stat", "m"},
	{"rename-exchange", "m", "d"},
	{"stat", "m"},
	{"stat", "d"},
	{"rename-exchange", "m", "d"},
	{"rename-whiteout", "p", "w"},
	{"rename-exchange", "p", "none"},
	{"rename", "d", "d/sub"},
	{"mkdir", "e"},
	{"rename", "e", "d"},
	{"rmdir", "e"},
	{"mkdir", "e"},
	{"rename", "d", "e"},
	{"unlink", "e/hl"},
	{"unlink", "e/m"},
	{"rename", "d", "e"},
	{"stat", "e"},
	{"stat", "."},
	{"chmod", "m"},
	{"stat", "m"},
	{"truncate", "m"},
	{"stat", "m"},
	{"mknod-fifo", "f"},
	{"mknod-reg", "f"},
	{"setxattr", "m"},
	{"rmdir", "."},
	{"rmdir", ".."},
	{"unlink", "."},
	{"mkdir", "."},
	{"readdir", "."},
	{"unlink", "m"},
	{"unlink", "p"},
	{"unlink", "sl"},
	{"rmdir", "e"},
	{"readdir", "."},
}

func TestBPFFSAgainstKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a real bpffs")
	}
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Skipf("cannot mount bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	old := unix.Umask(022)
	defer unix.Umask(old)

	mp, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		t.Skipf("cannot create a map: %v", err)
	}
	defer mp.Close()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		t.Skipf("cannot load a program: %v", err)
	}
	defer prog.Close()
	var real fsUnderTest = &realBPFFS{t: t, dir: dir, mapF: mp, prog: prog}

	_, p := boot(t)
	var sim fsUnderTest = &simBPFFS{t: t, p: p, mapF: newArray(t, p), prog: newProg(t, p)}

	for i, step := range bpffsScript {
		want := real.do(step[0], step[1:]...)
		got := sim.do(step[0], step[1:]...)
		if step[0] == "readdir" {
			// os.ReadDir sorts; the simulated side sorts too.
			want = sortedList(want)
		}
		t.Logf("%v => %s", step, got)
		require.Equal(t, want, got, "step %d: %v", i, step)
	}
	// A pin outside bpffs, through an absolute path.
	require.Equal(t, real.do("pin-abs", t.TempDir()+"/x"), sim.do("pin-abs", "/tmp/x"))
}

func sortedList(s string) string {
	if !strings.HasPrefix(s, "ok ") {
		return s
	}
	names := strings.Split(strings.TrimPrefix(s, "ok "), ",")
	sort.Strings(names)
	return "ok " + strings.Join(names, ",")
}
