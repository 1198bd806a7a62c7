package bpf

import (
	"encoding/binary"
	"sync"

	"github.com/cilium/ebpf/btf"
	"github.com/simfs/simfs/bpf/bprintf"
	"github.com/simfs/simfs/bpf/btfshow"
	"github.com/simfs/simfs/interp"
	"github.com/simfs/simfs/vmlinux"
	"golang.org/x/sys/unix"
)

// KernelLayout is implemented by a Kernel whose types programs see: the
// machine's vmlinux layout, whose BTF (Layout().Spec()) is what
// bpf_core_type_id_kernel ids and bpf_seq_printf_btf's struct btf_ptr
// type ids refer to. A Kernel without it has no vmlinux BTF:
// bpf_seq_printf_btf then fails with EINVAL, as the kernel's does when
// bpf_get_btf_vmlinux finds none.
type KernelLayout interface {
	Layout() *vmlinux.Layout
}

// vmlinuxBTF caches the Spec of the kernel's layout (Layout.Spec builds a
// new one on every call).
type vmlinuxBTF struct {
	mu     sync.Mutex
	layout *vmlinux.Layout
	spec   *btf.Spec
	err    error
}

func (s *Subsystem) kernelBTF() (*btf.Spec, error) {
	kl, ok := s.kernel.(KernelLayout)
	if !ok {
		return nil, unix.EINVAL
	}
	l := kl.Layout()
	if l == nil {
		return nil, unix.EINVAL
	}
	v := &s.vmlinux
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.layout != l {
		v.layout = l
		v.spec, v.err = l.Spec()
	}
	return v.spec, v.err
}

// showMemory is what btfshow reads the object through: the run's memory,
// as copy_from_kernel_nofault sees it. The simulator has no user space;
// only the first page (a NULL pointer) is refused as the kernel refuses
// user addresses on x86-64, with ERANGE.
type showMemory struct{ c *interp.Call }

func (m showMemory) Read(addr uint64, n int) ([]byte, error) {
	if addr < 4096 {
		return nil, unix.ERANGE
	}
	b, err := m.c.Read(addr, n)
	if err != nil {
		return nil, unix.EFAULT
	}
	return b, nil
}

// helperSeqPrintfBtf is bpf_seq_printf_btf(m, ptr, ptr_size, flags)
// (kernel/trace/bpf_trace.c): bpf_btf_printf_prepare's checks, then
// btf_type_seq_show_flags into the seq file. Each piece of output is
// appended as seq_vprintf appends it, or overflows the seq file; the
// helper still returns 0 then (btf_type_seq_show_flags returns only the
// status of its reads), and the iterator or view read sees the overflow.
func (s *Subsystem) helperSeqPrintfBtf(c *interp.Call, m, ptr, size, flags, _ uint64) (uint64, error) {
	seq, ok := seqOf(c, m)
	if !ok {
		return errno(unix.EINVAL), nil
	}
	ptrSize := uint32(size) // u32 btf_ptr_size
	if flags&^btfshow.FlagsAll != 0 || ptrSize != btfshow.BTFPtrSize {
		return errno(unix.EINVAL), nil
	}
	spec, err := s.kernelBTF()
	if err != nil || spec == nil {
		return errno(unix.EINVAL), nil
	}
	raw, err := c.Read(ptr, btfshow.BTFPtrSize)
	if err != nil {
		return errno(unix.EFAULT), nil
	}
	obj := binary.LittleEndian.Uint64(raw[0:])
	typeID := binary.LittleEndian.Uint32(raw[8:])
	if _, e := btfshow.Check(spec, typeID, ptrSize, flags); e != 0 {
		return errno(e), nil
	}
	st := btfshow.Show(btfshow.Config{
		Types: spec,
		Mem:   showMemory{c},
		Flags: flags,
		Emit: func(p []byte) bool {
			// seq_vprintf: the piece fits only if count + len < size.
			if len(p) < seq.Room() {
				seq.Append(p)
				return true
			}
			seq.SetOverflow()
			return false
		},
		Pointer: func(v uint64) string { return hashPointer(c, v) },
	}, btf.TypeID(typeID), obj)
	if st != 0 {
		return errno(st), nil
	}
	return 0, nil
}

// hashPointer is %p as the machine's bpf_seq_printf prints it.
func hashPointer(c *interp.Call, v uint64) string {
	out, _, err := bprintf.Printer{}.Snprintf([]byte("%p\x00"), binary.LittleEndian.AppendUint64(nil, v), c, 32)
	if err != nil || len(out) == 0 {
		return "(____ptrval____)"
	}
	return string(out[:len(out)-1])
}
