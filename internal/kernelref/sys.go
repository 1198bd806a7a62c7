package kernelref

import (
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	bpfLinkCreate = 28 // BPF_LINK_CREATE
	bpfTraceIter  = 28 // BPF_TRACE_ITER
)

// iterLinkInfoCgroup is union bpf_iter_link_info's cgroup member.
type iterLinkInfoCgroup struct {
	order    uint32
	cgroupFD uint32
	cgroupID uint64
}

// linkCreateAttr is the BPF_LINK_CREATE part of union bpf_attr, as far as
// iterators use it.
type linkCreateAttr struct {
	progFD      uint32
	targetFD    uint32
	attachType  uint32
	flags       uint32
	iterInfo    uint64 // pointer to iterLinkInfoCgroup
	iterInfoLen uint32
	_           uint32
}

func linkCreateIter(progFD int, order, cgroupFD uint32, cgroupID uint64) (int, error) {
	info := &iterLinkInfoCgroup{order: order, cgroupFD: cgroupFD, cgroupID: cgroupID}
	attr := &linkCreateAttr{
		progFD:      uint32(progFD),
		attachType:  bpfTraceIter,
		iterInfo:    uint64(uintptr(unsafe.Pointer(info))),
		iterInfoLen: uint32(unsafe.Sizeof(*info)),
	}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, bpfLinkCreate, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
	runtime.KeepAlive(info)
	runtime.KeepAlive(attr)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}
