package fusefs

import (
	"context"
	"io"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// maxSnapshot bounds what a passthrough open renders into memory.
const maxSnapshot = 1 << 20

// fileHandle is an open regular file (or device node, FIFO): one
// vfs.File, which holds the reference that keeps a removed inode alive
// while it is open.
type fileHandle struct {
	n *node
	f *vfs.File
	// stream: the file cannot seek (a pinned iterator); reads go through
	// the file position and the kernel passes no offsets.
	stream bool

	// Passthrough snapshot, set at open and read-only afterwards.
	snap      []byte
	snapErr   error // what reading on after the snapshot gave
	backingID int32 // the kernel's id of the memfd; 0: none
}

// fuseFlags are the open flags every file gets: DIRECT_IO because the
// simulator's files are generated or changed behind the kernel's back and
// must never be served from the page cache (the size of a generated file
// is 0, so a cached read would return nothing); NOFLUSH because close has
// nothing to tell the simulator that RELEASE does not.
func (s *Server) fuseFlags() uint32 {
	fl := uint32(fuse.FOPEN_DIRECT_IO)
	if !s.opts.flushOnClose {
		fl |= fuse.FOPEN_NOFLUSH
	}
	return fl
}

// Open is open(2) of an existing file; the kernel has already checked the
// permissions (default_permissions) and the vfs checks them again with the
// request's credential. O_TRUNC arrives later as a SETATTR.
func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	var f *vfs.File
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		f, err = n.srv.v.OpenInode(c, n.in, int(flags))
		return err
	})
	if errno != 0 {
		return nil, 0, errno
	}
	return n.srv.newHandle(ctx, n, f)
}

// Create is open(2) with O_CREAT of a name the kernel does not know: the
// file system's create (bpffs: EACCES), or the existing file if the name
// appeared in the meantime and O_EXCL is not set.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	var f *vfs.File
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		f, err = n.srv.v.CreateChild(c, n.in, name, int(flags), mode)
		return err
	})
	if errno != 0 {
		return nil, nil, 0, errno
	}
	child := n.entry(ctx, f.Inode(), out)
	cn := child.Operations().(*node)
	fh, fl, errno := n.srv.newHandle(ctx, cn, f)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	return child, fh, fl, 0
}

func (s *Server) newHandle(ctx context.Context, n *node, f *vfs.File) (fs.FileHandle, uint32, syscall.Errno) {
	h := &fileHandle{n: n, f: f}
	s.track(h.f, true)
	fl := s.fuseFlags()
	if _, err := f.Seek(0, io.SeekCurrent); err == unix.ESPIPE {
		h.stream = true
		fl |= fuse.FOPEN_NONSEEKABLE | fuse.FOPEN_STREAM
	}
	if s.opts.Passthrough && !s.noPassthrough.Load() && !h.stream && f.Inode().Type() == vfs.S_IFREG {
		// rawFS.Open adds FOPEN_PASSTHROUGH and the backing id.
		if errno := s.openSnapshot(ctx, h, f.Flags()&unix.O_ACCMODE == unix.O_RDONLY); errno != 0 {
			s.track(f, false)
			_ = f.Close()
			return nil, 0, errno
		}
	}
	return h, fl, 0
}

// Read reads at the kernel's offset (the reader's file position), so every
// read reaches the simulator: a kernfs file removed while open answers
// ENODEV, as the simulator says.
func (n *node) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h, ok := fh.(*fileHandle)
	if !ok {
		return nil, syscall.EBADF
	}
	var nr int
	var err error
	switch {
	case h.snap != nil || h.snapErr != nil:
		nr, err = h.readSnapshot(dest, off)
	case h.stream:
		nr, err = h.f.Read(dest)
	default:
		nr, err = h.f.ReadAt(dest, off)
	}
	if nr > 0 {
		// A short read; the error, if it persists, comes with the next.
		return fuse.ReadResultData(dest[:nr]), 0
	}
	if err != nil {
		return nil, vfs.Errno(err)
	}
	return fuse.ReadResultData(nil), 0
}

// Write writes at the kernel's offset; with O_APPEND the simulator picks
// the end of the file itself.
func (n *node) Write(ctx context.Context, fh fs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	h, ok := fh.(*fileHandle)
	if !ok {
		return 0, syscall.EBADF
	}
	var nw int
	var err error
	if h.stream || h.f.Flags()&unix.O_APPEND != 0 {
		nw, err = h.f.Write(data)
	} else {
		nw, err = h.f.WriteAt(data, off)
	}
	if nw > 0 || err == nil {
		return uint32(nw), 0
	}
	return 0, vfs.Errno(err)
}

// Writev joins the pieces of a write that arrived split.
func (n *node) Writev(ctx context.Context, fh fs.FileHandle, data [][]byte, off int64) (uint32, syscall.Errno) {
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	return n.Write(ctx, fh, all, off)
}

// Flush is close(2) of one descriptor. Files are opened with NOFLUSH, so
// it comes only from kernels that ignore that flag; nothing happens in the
// simulator until the last close (Release).
func (n *node) Flush(ctx context.Context, fh fs.FileHandle) syscall.Errno { return 0 }

// Release is the last close of an open file description: the vfs.File
// closes (the simulator's release, IN_CLOSE_*, and the inode dies here if
// it was unlinked). The kernel sends it asynchronously after close(2)
// returns.
func (n *node) Release(ctx context.Context, fh fs.FileHandle) syscall.Errno {
	switch h := fh.(type) {
	case *fileHandle:
		h.release()
	case *dirHandle:
		h.release()
	}
	return 0
}

func (h *fileHandle) release() {
	h.n.srv.track(h.f, false)
	if h.backingID != 0 {
		h.n.srv.releaseSnapshot(h)
	}
	_ = h.f.Close()
}

// Fsyncer is an optional extension of vfs.FileOps for files whose fsync
// does something. Without it fsync answers as Linux does for a file
// without ->fsync (kernfs, bpffs): EINVAL, except on a vfs.RamFS, whose
// fsync, like ramfs's noop_fsync, succeeds.
type Fsyncer interface {
	Fsync(f *vfs.File, datasync bool) error
}

// Fsync is fsync(2) and fdatasync(2).
func (n *node) Fsync(ctx context.Context, fh fs.FileHandle, flags uint32) syscall.Errno {
	switch h := fh.(type) {
	case *fileHandle:
		if fs, ok := h.f.Inode().FileOps().(Fsyncer); ok {
			return vfs.Errno(fs.Fsync(h.f, flags&1 != 0))
		}
	case *dirHandle:
		// dcache_dir_ops and kernfs directories use noop_fsync.
		return 0
	}
	if _, ok := n.in.Superblock().Ops().(*vfs.RamFS); ok {
		return 0
	}
	return syscall.EINVAL
}

// Lseek gets only SEEK_DATA and SEEK_HOLE (the kernel does the others
// itself); the simulator's lseek answers (EINVAL for files that know
// neither, as seq files do).
func (n *node) Lseek(ctx context.Context, fh fs.FileHandle, off uint64, whence uint32) (uint64, syscall.Errno) {
	h, ok := fh.(*fileHandle)
	if !ok {
		return 0, syscall.EINVAL
	}
	pos, err := h.f.Seek(int64(off), int(whence))
	if err != nil {
		return 0, vfs.Errno(err)
	}
	return uint64(pos), 0
}

// Allocate answers EOPNOTSUPP: no simulated file system has ->fallocate.
func (n *node) Allocate(ctx context.Context, fh fs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	return syscall.EOPNOTSUPP
}

// CopyFileRange answers ENOSYS, after which the kernel copies through
// read and write, as it does for file systems without ->copy_file_range.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Ioctl answers ENOTTY: no simulated file has ioctls.
func (n *node) Ioctl(ctx context.Context, fh fs.FileHandle, cmd uint32, arg uint64, input []byte, output []byte) (int32, syscall.Errno) {
	return 0, syscall.ENOTTY
}

// dirHandle is an open directory: a vfs.File (the directory stays
// referenced while open, as in Linux) and the listing, taken at the first
// getdents and again after rewinddir.
type dirHandle struct {
	n *node
	f *vfs.File

	mu     sync.Mutex
	ents   []fuse.DirEntry
	pos    int
	loaded bool
}

var (
	_ fs.FileReaddirenter = (*dirHandle)(nil)
	_ fs.FileSeekdirer    = (*dirHandle)(nil)
	_ fs.FileReleasedirer = (*dirHandle)(nil)
	_ fs.FileFsyncdirer   = (*dirHandle)(nil)
)

// OpendirHandle is open(2) of a directory (read permission).
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	var f *vfs.File
	errno := n.srv.do(ctx, func(c *vfs.Caller) (err error) {
		f, err = n.srv.v.OpenInode(c, n.in, unix.O_RDONLY|unix.O_DIRECTORY)
		return err
	})
	if errno != 0 {
		return nil, 0, errno
	}
	n.srv.track(f, true)
	return &dirHandle{n: n, f: f}, 0, 0
}

func (d *dirHandle) load() syscall.Errno {
	s := d.n.srv
	// Read permission was checked at open, as Linux does.
	ents, err := s.v.ReadDirInode(vfs.RootCaller(), d.n.in)
	if err != nil {
		return vfs.Errno(err)
	}
	if s.v.Nlink(d.n.in) == 0 {
		// A removed directory: getdents answers ENOENT (IS_DEADDIR).
		return syscall.ENOENT
	}
	parent := d.n.in
	if d.n.in != s.root {
		if p, err := s.v.Lookup(vfs.RootCaller(), d.n.in, ".."); err == nil {
			parent = p
		}
	}
	d.ents = d.ents[:0]
	d.ents = append(d.ents,
		fuse.DirEntry{Name: ".", Mode: vfs.S_IFDIR, Ino: d.n.in.Ino()},
		fuse.DirEntry{Name: "..", Mode: vfs.S_IFDIR, Ino: parent.Ino()})
	for _, e := range ents {
		d.ents = append(d.ents, fuse.DirEntry{Name: e.Name, Mode: e.Type, Ino: e.Ino})
	}
	for i := range d.ents {
		d.ents[i].Off = uint64(i + 1)
	}
	d.pos = 0
	d.loaded = true
	return 0
}

// Readdirent returns the next entry, or nil at the end.
func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.loaded {
		if errno := d.load(); errno != 0 {
			return nil, errno
		}
	}
	if d.pos >= len(d.ents) {
		return nil, 0
	}
	e := d.ents[d.pos]
	d.pos++
	return &e, 0
}

// Seekdir moves to the entry after offset off; 0 rereads the directory.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 {
		d.loaded = false
		d.pos = 0
		return 0
	}
	if !d.loaded || off > uint64(len(d.ents)) {
		return syscall.EINVAL
	}
	d.pos = int(off)
	return 0
}

// Fsyncdir succeeds (noop_fsync).
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno { return 0 }

// Releasedir closes the directory.
func (d *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) { d.release() }

func (d *dirHandle) release() {
	d.n.srv.track(d.f, false)
	_ = d.f.Close()
}
