package vfs

import (
	"io"
	"sync"

	"golang.org/x/sys/unix"
)

// FileOps are an inode's file operations. Read and Write run without the VFS
// lock; they get the open file and the offset to use.
type FileOps interface {
	// Open runs after the VFS has checked permissions; an error fails the
	// open (bpffs answers EIO for pinned programs).
	Open(f *File) error
	// Read reads at off.
	Read(f *File, p []byte, off int64) (int, error)
	// Write writes at off.
	Write(f *File, p []byte, off int64) (int, error)
	// Release runs once when the last user of the open file closes it.
	Release(f *File)
}

// Seeker is an optional FileOps extension for files whose lseek differs from
// generic_file_llseek (ESPIPE for pipes and iterators; ENODEV for removed
// kernfs files).
type Seeker interface {
	Seek(f *File, pos, off int64, whence int) (int64, error)
}

// Truncater is an optional FileOps extension called when a setattr or
// O_TRUNC changes the size; an error vetoes it. Without it the size attribute
// simply changes (simple_setattr).
type Truncater interface {
	Truncate(in *Inode, size int64) (newSize int64, err error)
}

// File is an open file description.
type File struct {
	v      *VFS
	inode  *Inode
	dent   *dirent // the entry it was opened through (f_path.dentry); nil if unknown
	flags  int
	caller Caller

	mu        sync.Mutex // f_pos_lock
	pos       int64
	closed    bool
	truncated uint32 // by O_TRUNC: the event (IN_MODIFY, |IN_ATTRIB) that follows IN_OPEN

	// Private belongs to the file operations (a seq_file buffer, say).
	Private any
}

// Inode returns the file's inode.
func (f *File) Inode() *Inode { return f.inode }

// Flags returns the open flags.
func (f *File) Flags() int { return f.flags }

// Caller returns the credentials and umask of the opener.
func (f *File) Caller() *Caller { return &f.caller }

// VFS returns the namespace the file was opened in.
func (f *File) VFS() *VFS { return f.v }

// readable and writable are FMODE_READ and FMODE_WRITE: an access mode of
// 3 (O_RDWR|O_WRONLY) gives neither.
func (f *File) readable() bool {
	acc := f.flags & unix.O_ACCMODE
	return acc == unix.O_RDONLY || acc == unix.O_RDWR
}

func (f *File) writable() bool {
	acc := f.flags & unix.O_ACCMODE
	return acc == unix.O_WRONLY || acc == unix.O_RDWR
}

// Read reads at the file position and advances it. A read that returns
// data is an IN_ACCESS event.
func (f *File) Read(p []byte) (int, error) {
	f.mu.Lock()
	n, err := f.readAt(p, f.pos)
	if n > 0 {
		f.pos += int64(n)
	}
	f.mu.Unlock()
	f.accessed(n, unix.IN_ACCESS)
	return n, err
}

// ReadAt reads at off without moving the file position (pread). Unlike
// io.ReaderAt it returns 0, nil at end of file, as pread does.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	n, err := f.readAt(p, off)
	f.accessed(n, unix.IN_ACCESS)
	return n, err
}

// accessed is fsnotify_access / fsnotify_modify after a read or write that
// moved n > 0 bytes.
func (f *File) accessed(n int, mask uint32) {
	if n > 0 && f.v.notifying() {
		f.v.deliver(f.v.fileEvent(f, mask))
	}
}

func (f *File) readAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, unix.EBADF
	}
	if !f.readable() {
		return 0, unix.EBADF
	}
	if f.inode.IsDir() {
		return 0, unix.EISDIR
	}
	if f.inode.fileOps == nil {
		return 0, unix.EINVAL
	}
	return f.inode.fileOps.Read(f, p, off)
}

// Write writes at the file position (the end with O_APPEND) and advances
// it. A write that stores data is an IN_MODIFY event.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	off := f.pos
	if f.flags&unix.O_APPEND != 0 {
		off = f.v.Getattr(f.inode).Size
	}
	n, err := f.writeAt(p, off)
	if n > 0 {
		f.pos = off + int64(n)
	}
	f.mu.Unlock()
	f.accessed(n, unix.IN_MODIFY)
	return n, err
}

// WriteAt writes at off (pwrite).
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	n, err := f.writeAt(p, off)
	f.accessed(n, unix.IN_MODIFY)
	return n, err
}

func (f *File) writeAt(p []byte, off int64) (int, error) {
	if f.closed || !f.writable() {
		return 0, unix.EBADF
	}
	if f.inode.fileOps == nil {
		return 0, unix.EINVAL
	}
	return f.inode.fileOps.Write(f, p, off)
}

// Seek is lseek(2).
func (f *File) Seek(off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return 0, unix.EBADF
	}
	if s, ok := f.inode.fileOps.(Seeker); ok {
		pos, err := s.Seek(f, f.pos, off, whence)
		if err == nil {
			f.pos = pos
		}
		return pos, err
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.pos
	case io.SeekEnd:
		base = f.v.Getattr(f.inode).Size
	default:
		return 0, unix.EINVAL
	}
	pos := base + off
	if pos < 0 {
		return 0, unix.EINVAL
	}
	f.pos = pos
	return pos, nil
}

// Close releases the open file; it is the last close of this description.
// As __fput does, it reports IN_CLOSE_WRITE or IN_CLOSE_NOWRITE, then runs
// the file system's Release, then drops the reference (which destroys an
// unlinked inode: IN_DELETE_SELF comes after the close event).
func (f *File) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return unix.EBADF
	}
	f.closed = true
	f.mu.Unlock()
	if f.v.notifying() {
		mask := uint32(unix.IN_CLOSE_NOWRITE)
		if f.writable() {
			mask = unix.IN_CLOSE_WRITE
		}
		f.v.deliver(f.v.fileEvent(f, mask))
	}
	if f.inode.fileOps != nil && !f.inode.IsDir() {
		f.inode.fileOps.Release(f)
	}
	t := f.v.Begin()
	t.releaseEntry(f.dent, f.inode)
	t.End()
	return nil
}

// Stat is fstat(2).
func (f *File) Stat() Stat { return f.v.Getattr(f.inode) }
