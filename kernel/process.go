package kernel

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// Process is a simulated process: credentials, umask, working directory
// and an fd table. Its methods are system calls. A Process is safe for use
// by several goroutines, like threads sharing an fd table.
type Process struct {
	m     *Machine
	pid   int
	comm  string
	cred  vfs.Cred
	umask uint32

	mu     sync.Mutex
	cwd    *vfs.Inode
	fds    map[int]*fdEntry
	exited bool
}

// fdEntry is one slot of the fd table: a BPF object reference or an open
// file (possibly both kinds of iterator fd later).
type fdEntry struct {
	obj   bpf.Object
	file  *vfs.File
	flags int // O_RDONLY/O_WRONLY/O_RDWR for map fds
	iter  *bpf.IterSession
}

// ProcessOptions describe a new process.
type ProcessOptions struct {
	UID, GID uint32
	Groups   []uint32
	Umask    uint32
	Comm     string
}

// NewProcess creates a process. The zero options give root with umask 0.
func (m *Machine) NewProcess(o ProcessOptions) *Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextPid++
	comm := o.Comm
	if comm == "" {
		comm = "simfs"
	}
	p := &Process{m: m, pid: m.nextPid, comm: comm, cred: vfs.Cred{UID: o.UID, GID: o.GID, Groups: o.Groups}, umask: o.Umask & 0777, fds: make(map[int]*fdEntry)}
	m.procs[p.pid] = p
	return p
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.pid }

// Cred returns the credentials.
func (p *Process) Cred() vfs.Cred { return p.cred }

// Machine returns the machine the process runs on.
func (p *Process) Machine() *Machine { return p.m }

// Umask sets the umask and returns the old one.
func (p *Process) Umask(mask uint32) uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.umask
	p.umask = mask & 0777
	return old
}

func (p *Process) caller() *vfs.Caller {
	p.mu.Lock()
	defer p.mu.Unlock()
	return &vfs.Caller{Cred: p.cred, Umask: p.umask, Cwd: p.cwd, Task: p}
}

func (p *Process) install(e *fdEntry) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return -1, unix.ESRCH
	}
	fd := 3 // 0..2 are the standard streams of a real process
	for ; ; fd++ {
		if _, used := p.fds[fd]; !used {
			break
		}
	}
	if fd >= 1<<20 {
		return -1, unix.EMFILE
	}
	p.fds[fd] = e
	return fd, nil
}

func (p *Process) entry(fd int) (*fdEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.fds[fd]
	if !ok {
		return nil, unix.EBADF
	}
	return e, nil
}

// Close is close(2).
func (p *Process) Close(fd int) error {
	p.mu.Lock()
	e, ok := p.fds[fd]
	delete(p.fds, fd)
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("close %d: %w", fd, unix.EBADF)
	}
	e.release()
	return nil
}

func (e *fdEntry) release() {
	if e.iter != nil {
		e.iter.Close()
	}
	if e.file != nil {
		e.file.Close()
	}
	if e.obj != nil {
		e.obj.Put()
	}
}

// FDs lists the open fds.
func (p *Process) FDs() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, 0, len(p.fds))
	for fd := range p.fds {
		out = append(out, fd)
	}
	sort.Ints(out)
	return out
}

// Exit closes every fd, as a process exit does. Further calls fail with
// ESRCH.
func (p *Process) Exit() {
	p.mu.Lock()
	if p.exited {
		p.mu.Unlock()
		return
	}
	p.exited = true
	fds := p.fds
	p.fds = map[int]*fdEntry{}
	p.mu.Unlock()
	keys := make([]int, 0, len(fds))
	for fd := range fds {
		keys = append(keys, fd)
	}
	sort.Ints(keys)
	for _, fd := range keys {
		fds[fd].release()
	}
	p.m.mu.Lock()
	delete(p.m.procs, p.pid)
	p.m.mu.Unlock()
}

// Open is open(2).
func (p *Process) Open(path string, flags int, mode uint32) (int, error) {
	f, err := p.m.vfs.Open(p.caller(), path, flags, mode)
	if err != nil {
		return -1, err
	}
	fd, err := p.install(&fdEntry{file: f})
	if err != nil {
		f.Close()
		return -1, err
	}
	return fd, nil
}

func (p *Process) file(fd int) (*vfs.File, error) {
	e, err := p.entry(fd)
	if err != nil {
		return nil, err
	}
	if e.file == nil {
		return nil, unix.EINVAL
	}
	return e.file, nil
}

// Read is read(2).
func (p *Process) Read(fd int, b []byte) (int, error) {
	e, err := p.entry(fd)
	if err != nil {
		return 0, err
	}
	if e.iter != nil {
		return e.iter.Read(b)
	}
	if e.file == nil {
		return 0, unix.EINVAL
	}
	return e.file.Read(b)
}

// Pread is pread(2).
func (p *Process) Pread(fd int, b []byte, off int64) (int, error) {
	f, err := p.file(fd)
	if err != nil {
		return 0, err
	}
	return f.ReadAt(b, off)
}

// Write is write(2).
func (p *Process) Write(fd int, b []byte) (int, error) {
	f, err := p.file(fd)
	if err != nil {
		return 0, err
	}
	return f.Write(b)
}

// Lseek is lseek(2).
func (p *Process) Lseek(fd int, off int64, whence int) (int64, error) {
	f, err := p.file(fd)
	if err != nil {
		return 0, err
	}
	return f.Seek(off, whence)
}

// Fstat is fstat(2).
func (p *Process) Fstat(fd int) (vfs.Stat, error) {
	f, err := p.file(fd)
	if err != nil {
		return vfs.Stat{}, err
	}
	return f.Stat(), nil
}

// ReadFile opens path, reads it to the end in reads of 4096 bytes (as cat
// does with a page-sized buffer) and closes it.
func (p *Process) ReadFile(path string) ([]byte, error) {
	fd, err := p.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer p.Close(fd)
	// Read straight into the result, into whatever room it has (4 KiB
	// at first, where most files fit), growing it when it is full.
	out := make([]byte, 0, 4096)
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, cap(out))
		}
		n, err := p.Read(fd, out[len(out):cap(out)])
		out = out[:len(out)+max(n, 0)]
		if err != nil {
			return out, &vfs.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return out, nil
		}
	}
}

// WriteFile opens path for writing (O_WRONLY|O_CREAT|O_TRUNC, as a shell's
// `>` does) and writes data in one write(2).
func (p *Process) WriteFile(path string, data []byte) error {
	fd, err := p.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0666)
	if err != nil {
		return err
	}
	_, werr := p.Write(fd, data)
	cerr := p.Close(fd)
	if werr != nil {
		return &vfs.PathError{Op: "write", Path: path, Err: werr}
	}
	return cerr
}

// Mkdir is mkdir(2).
func (p *Process) Mkdir(path string, mode uint32) error { return p.m.vfs.Mkdir(p.caller(), path, mode) }

// Rmdir is rmdir(2).
func (p *Process) Rmdir(path string) error { return p.m.vfs.Rmdir(p.caller(), path) }

// Unlink is unlink(2).
func (p *Process) Unlink(path string) error { return p.m.vfs.Unlink(p.caller(), path) }

// Rename is renameat2(2).
func (p *Process) Rename(oldPath, newPath string, flags uint32) error {
	return p.m.vfs.Rename(p.caller(), oldPath, newPath, flags)
}

// Link is link(2).
func (p *Process) Link(oldPath, newPath string) error {
	return p.m.vfs.Link(p.caller(), oldPath, newPath)
}

// Symlink is symlink(2).
func (p *Process) Symlink(target, path string) error {
	return p.m.vfs.Symlink(p.caller(), target, path)
}

// Readlink is readlink(2).
func (p *Process) Readlink(path string) (string, error) { return p.m.vfs.Readlink(p.caller(), path) }

// Mknod is mknod(2).
func (p *Process) Mknod(path string, mode uint32, dev uint64) error {
	return p.m.vfs.Mknod(p.caller(), path, mode, dev)
}

// Stat is stat(2).
func (p *Process) Stat(path string) (vfs.Stat, error) { return p.m.vfs.Stat(p.caller(), path) }

// Lstat is lstat(2).
func (p *Process) Lstat(path string) (vfs.Stat, error) { return p.m.vfs.Lstat(p.caller(), path) }

// Statfs is statfs(2).
func (p *Process) Statfs(path string) (vfs.Statfs, error) { return p.m.vfs.Statfs(p.caller(), path) }

// Chmod is chmod(2).
func (p *Process) Chmod(path string, mode uint32) error { return p.m.vfs.Chmod(p.caller(), path, mode) }

// Chown is chown(2).
func (p *Process) Chown(path string, uid, gid uint32) error {
	return p.m.vfs.Chown(p.caller(), path, uid, gid)
}

// Truncate is truncate(2).
func (p *Process) Truncate(path string, size int64) error {
	return p.m.vfs.Truncate(p.caller(), path, size)
}

// ReadDir lists a directory (getdents64 without "." and "..").
func (p *Process) ReadDir(path string) ([]vfs.Dirent, error) {
	return p.m.vfs.ReadDir(p.caller(), path)
}

// Chdir is chdir(2).
func (p *Process) Chdir(path string) error {
	c := p.caller()
	in, err := p.m.vfs.Resolve(c, path, true)
	if err != nil {
		return err
	}
	if !in.IsDir() {
		return &vfs.PathError{Op: "chdir", Path: path, Err: unix.ENOTDIR}
	}
	if err := p.m.vfs.Permission(c, in, vfs.MayExec); err != nil {
		return &vfs.PathError{Op: "chdir", Path: path, Err: err}
	}
	p.mu.Lock()
	p.cwd = in
	p.mu.Unlock()
	return nil
}

var _ io.Reader = (*vfs.File)(nil)
