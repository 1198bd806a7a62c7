package vfs

import (
	"errors"
	"syscall"
)

// PathError records an errno with the operation and path that caused it.
// errors.Is(err, unix.ENOENT) works through it.
type PathError struct {
	Op   string
	Path string
	Err  error
}

func (e *PathError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying errno.
func (e *PathError) Unwrap() error { return e.Err }

// Errno extracts the syscall.Errno from err: 0 for nil, EIO if it carries
// none.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
