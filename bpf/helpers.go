package bpf

import (
	"errors"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/bpf/bprintf"
	"github.com/simfs/simfs/interp"
	"golang.org/x/sys/unix"
)

// SeqWriter is the seq_file a program's seq helpers write to.
type SeqWriter interface {
	// Room is how many bytes are free (m->size - m->count); 0 or less once
	// the buffer has overflowed.
	Room() int
	// Append adds bytes known to fit.
	Append(p []byte)
	// SetOverflow marks the buffer as overflowed (seq_set_overflow).
	SetOverflow()
}

// errno returns -e as a helper's u64 return value.
func errno(e unix.Errno) uint64 { return uint64(-int64(e)) }

// Helper sets, by program type family.
var (
	// mapHelpers and the rest below are helper id lists; they are read-only
	// tables, not state.
	mapHelpers  = []asm.BuiltinFunc{asm.FnMapLookupElem, asm.FnMapUpdateElem, asm.FnMapDeleteElem}
	baseHelpers = []asm.BuiltinFunc{
		asm.FnKtimeGetNs, asm.FnKtimeGetBootNs, asm.FnKtimeGetCoarseNs, asm.FnJiffies64,
		asm.FnGetPrandomU32, asm.FnGetSmpProcessorId, asm.FnGetNumaNodeId,
		asm.FnSnprintf,
	}
	tracingHelpers = []asm.BuiltinFunc{
		asm.FnProbeRead, asm.FnProbeReadStr, asm.FnProbeReadKernel, asm.FnProbeReadKernelStr,
		asm.FnProbeReadUser, asm.FnProbeReadUserStr,
		asm.FnTracePrintk, asm.FnTraceVprintk,
		asm.FnGetCurrentPidTgid, asm.FnGetCurrentUidGid, asm.FnGetCurrentComm,
		asm.FnGetCurrentTask, asm.FnGetCurrentTaskBtf, asm.FnGetCurrentCgroupId,
	}
	seqHelpers = []asm.BuiltinFunc{asm.FnSeqPrintf, asm.FnSeqWrite, asm.FnSeqPrintfBtf}
)

// HelperSet builds an allowed-helper predicate from helper id lists.
func HelperSet(lists ...[]asm.BuiltinFunc) func(int32) bool {
	set := map[int32]bool{}
	for _, l := range lists {
		for _, f := range l {
			set[int32(f)] = true
		}
	}
	return func(id int32) bool { return set[id] }
}

// TracingHelpers is what tracing programs may call: maps, time, random
// numbers, probe reads, the current task, trace_printk, snprintf.
func TracingHelpers() func(int32) bool { return HelperSet(mapHelpers, baseHelpers, tracingHelpers) }

// SeqHelpers is the tracing set plus bpf_seq_printf, bpf_seq_write and
// bpf_seq_printf_btf: what iterator and view programs may call
// (prog_support_seq_helpers).
func SeqHelpers() func(int32) bool {
	return HelperSet(mapHelpers, baseHelpers, tracingHelpers, seqHelpers)
}

// BaseHelpers is maps, time and random numbers (a syscall-type program).
func BaseHelpers() func(int32) bool { return HelperSet(mapHelpers, baseHelpers) }

// gplOnly lists the helpers whose proto has gpl_only = true.
func gplOnly(id int32) bool {
	switch asm.BuiltinFunc(id) {
	case asm.FnProbeRead, asm.FnProbeReadStr, asm.FnProbeReadKernel, asm.FnProbeReadKernelStr,
		asm.FnProbeReadUser, asm.FnProbeReadUserStr, asm.FnTracePrintk, asm.FnTraceVprintk,
		asm.FnGetCurrentTask, asm.FnGetCurrentTaskBtf,
		asm.FnSeqPrintf, asm.FnSeqWrite, asm.FnSeqPrintfBtf, asm.FnSnprintf:
		return true
	}
	return false
}

func runCtx(c *interp.Call) *RunContext {
	rc, _ := c.Value().(*RunContext)
	return rc
}

// baseHelpers builds the helper table every program shares; the load-time
// check keeps each type to its own set.
func (s *Subsystem) baseHelpers() []interp.Helper {
	h := make([]interp.Helper, 256)
	set := func(f asm.BuiltinFunc, fn interp.Helper) { h[f] = fn }

	set(asm.FnMapLookupElem, s.helperMapLookup)
	set(asm.FnMapUpdateElem, s.helperMapUpdate)
	set(asm.FnMapDeleteElem, s.helperMapDelete)
	set(asm.FnKtimeGetNs, func(*interp.Call, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		return s.KtimeNS(), nil
	})
	h[asm.FnKtimeGetBootNs] = h[asm.FnKtimeGetNs]
	h[asm.FnKtimeGetCoarseNs] = h[asm.FnKtimeGetNs]
	set(asm.FnJiffies64, func(*interp.Call, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		return 4294937296 + s.KtimeNS()/4_000_000, nil // HZ=250, INITIAL_JIFFIES
	})
	set(asm.FnGetPrandomU32, func(*interp.Call, uint64, uint64, uint64, uint64, uint64) (uint64, error) {
		return uint64(s.rng.Uint32()), nil // runs hold the CPU lock, which guards rng
	})
	zero := func(*interp.Call, uint64, uint64, uint64, uint64, uint64) (uint64, error) { return 0, nil }
	set(asm.FnGetSmpProcessorId, zero)
	set(asm.FnGetNumaNodeId, zero)

	probe := func(c *interp.Call, dst, size, src, _, _ uint64) (uint64, error) {
		return probeRead(c, dst, size, src)
	}
	set(asm.FnProbeRead, probe)
	set(asm.FnProbeReadKernel, probe)
	set(asm.FnProbeReadUser, probe)
	probeStr := func(c *interp.Call, dst, size, src, _, _ uint64) (uint64, error) {
		return probeReadStr(c, dst, size, src)
	}
	set(asm.FnProbeReadStr, probeStr)
	set(asm.FnProbeReadKernelStr, probeStr)
	set(asm.FnProbeReadUserStr, probeStr)

	set(asm.FnGetCurrentPidTgid, func(c *interp.Call, _, _, _, _, _ uint64) (uint64, error) {
		t, ok := s.current(c)
		if !ok {
			return 0, nil
		}
		return uint64(t.Tgid)<<32 | uint64(t.Pid), nil
	})
	set(asm.FnGetCurrentUidGid, func(c *interp.Call, _, _, _, _, _ uint64) (uint64, error) {
		t, ok := s.current(c)
		if !ok {
			return errno(unix.EINVAL), nil
		}
		return uint64(t.GID)<<32 | uint64(t.UID), nil
	})
	set(asm.FnGetCurrentComm, func(c *interp.Call, buf, size, _, _, _ uint64) (uint64, error) {
		t, ok := s.current(c)
		if !ok || size == 0 {
			return errno(unix.EINVAL), nil
		}
		out := make([]byte, min(size, 1<<16))
		copy(out[:len(out)-1], t.Comm)
		if err := c.Write(buf, out); err != nil {
			return errno(unix.EFAULT), nil
		}
		return 0, nil
	})
	task := func(c *interp.Call, _, _, _, _, _ uint64) (uint64, error) {
		t, _ := s.current(c)
		return t.Addr, nil
	}
	set(asm.FnGetCurrentTask, task)
	set(asm.FnGetCurrentTaskBtf, task)
	set(asm.FnGetCurrentCgroupId, func(c *interp.Call, _, _, _, _, _ uint64) (uint64, error) {
		t, _ := s.current(c)
		return t.CgroupID, nil
	})

	set(asm.FnSeqPrintf, s.helperSeqPrintf)
	set(asm.FnSeqWrite, s.helperSeqWrite)
	set(asm.FnSeqPrintfBtf, s.helperSeqPrintfBtf)
	set(asm.FnSnprintf, func(c *interp.Call, str, size, fmtp, data, dataLen uint64) (uint64, error) {
		fmtb, err := c.ReadCString(fmtp, 1<<16)
		if err != nil {
			return errno(unix.EINVAL), nil
		}
		args, e := readArgs(c, data, dataLen)
		if e != 0 {
			return errno(e), nil
		}
		out, ret, err := bprintf.Printer{}.Snprintf(append(fmtb, 0), args, c, int(size))
		if err != nil {
			return errno(errnoOf(err)), nil
		}
		if len(out) > 0 {
			if err := c.Write(str, out); err != nil {
				return errno(unix.EFAULT), nil
			}
		}
		return uint64(ret), nil
	})
	set(asm.FnTracePrintk, func(c *interp.Call, fmtp, fmtSize, a1, a2, a3 uint64) (uint64, error) {
		fmtb, err := c.Read(fmtp, int(min(fmtSize, 1<<16)))
		if err != nil {
			return errno(unix.EFAULT), nil
		}
		msg, ret, err := bprintf.Printer{}.TracePrintk(fmtb, [3]uint64{a1, a2, a3}, c)
		if err != nil {
			return errno(errnoOf(err)), nil
		}
		s.tracePrintk(c, msg)
		return uint64(ret), nil
	})
	set(asm.FnTraceVprintk, func(c *interp.Call, fmtp, fmtSize, data, dataLen, _ uint64) (uint64, error) {
		fmtb, err := c.Read(fmtp, int(min(fmtSize, 1<<16)))
		if err != nil {
			return errno(unix.EFAULT), nil
		}
		args, e := readArgs(c, data, dataLen)
		if e != 0 {
			return errno(e), nil
		}
		msg, ret, err := bprintf.Printer{}.TraceVprintk(fmtb, args, c)
		if err != nil {
			return errno(errnoOf(err)), nil
		}
		s.tracePrintk(c, msg)
		return uint64(ret), nil
	})
	return h
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EINVAL
}

func (s *Subsystem) current(c *interp.Call) (TaskInfo, bool) {
	rc := runCtx(c)
	if rc == nil || rc.Task == nil || s.kernel == nil {
		return TaskInfo{}, false
	}
	return s.kernel.CurrentTask(rc.Task)
}

// readArgs reads the data/data_len argument array of the printf helpers.
func readArgs(c *interp.Call, data, dataLen uint64) ([]byte, unix.Errno) {
	if dataLen == 0 {
		return nil, 0
	}
	if dataLen%8 != 0 || dataLen > bprintf.MaxVarargs*8 {
		return nil, unix.EINVAL
	}
	b, err := c.Read(data, int(dataLen))
	if err != nil {
		return nil, unix.EFAULT
	}
	return b, 0
}

func probeRead(c *interp.Call, dst, size, src uint64) (uint64, error) {
	if size > 1<<20 {
		return errno(unix.EINVAL), nil
	}
	b, err := c.Read(src, int(size))
	if err != nil {
		// copy_from_kernel_nofault failed: the destination is zeroed.
		if werr := c.Write(dst, make([]byte, size)); werr != nil {
			return 0, werr
		}
		return errno(unix.EFAULT), nil
	}
	if err := c.Write(dst, b); err != nil {
		return 0, err
	}
	return 0, nil
}

func probeReadStr(c *interp.Call, dst, size, src uint64) (uint64, error) {
	if size == 0 {
		return 0, nil
	}
	if size > 1<<20 {
		return errno(unix.EINVAL), nil
	}
	str, err := c.ReadCString(src, int(size-1))
	if err != nil {
		if werr := c.Write(dst, make([]byte, size)); werr != nil {
			return 0, werr
		}
		return errno(unix.EFAULT), nil
	}
	out := append(str, 0)
	if err := c.Write(dst, out); err != nil {
		return 0, err
	}
	return uint64(len(out)), nil
}

// seqOf checks that m is the seq_file of the current run.
func seqOf(c *interp.Call, m uint64) (SeqWriter, bool) {
	rc := runCtx(c)
	if rc == nil || rc.Seq == nil || m == 0 || m != rc.SeqAddr {
		return nil, false
	}
	return rc.Seq, true
}

func (s *Subsystem) helperSeqPrintf(c *interp.Call, m, fmtp, fmtSize, data, dataLen uint64) (uint64, error) {
	seq, ok := seqOf(c, m)
	if !ok {
		return errno(unix.EINVAL), nil
	}
	if fmtSize > 1<<16 {
		return errno(unix.EINVAL), nil
	}
	fmtb, err := c.Read(fmtp, int(fmtSize))
	if err != nil {
		return errno(unix.EFAULT), nil
	}
	args, e := readArgs(c, data, dataLen)
	if e != 0 {
		return errno(e), nil
	}
	out, err := bprintf.Printer{}.SeqPrintf(fmtb, args, c, seq.Room())
	if err != nil {
		en := errnoOf(err)
		if en == unix.EOVERFLOW {
			seq.SetOverflow()
		}
		return errno(en), nil
	}
	seq.Append(out)
	return 0, nil
}

func (s *Subsystem) helperSeqWrite(c *interp.Call, m, data, length, _, _ uint64) (uint64, error) {
	seq, ok := seqOf(c, m)
	if !ok {
		return errno(unix.EINVAL), nil
	}
	if length > 1<<20 {
		return errno(unix.EINVAL), nil
	}
	b, err := c.Read(data, int(length))
	if err != nil {
		return errno(unix.EFAULT), nil
	}
	// seq_write: fits only if count + len < size.
	if int(length) >= seq.Room() {
		seq.SetOverflow()
		return errno(unix.EOVERFLOW), nil
	}
	seq.Append(b)
	return 0, nil
}

func (s *Subsystem) helperMapLookup(c *interp.Call, mp, keyp, _, _, _ uint64) (uint64, error) {
	m := s.mapByHandle(mp)
	if m == nil {
		return 0, nil
	}
	key, err := c.Read(keyp, int(m.spec.KeySize))
	if err != nil {
		return 0, err
	}
	addr, ok := m.lookupAddr(key)
	if !ok {
		return 0, nil
	}
	return addr, nil
}

func (s *Subsystem) helperMapUpdate(c *interp.Call, mp, keyp, valp, flags, _ uint64) (uint64, error) {
	m := s.mapByHandle(mp)
	if m == nil {
		return errno(unix.EINVAL), nil
	}
	if m.spec.Flags&FlagRdonlyProg != 0 {
		return errno(unix.EPERM), nil
	}
	key, err := c.Read(keyp, int(m.spec.KeySize))
	if err != nil {
		return 0, err
	}
	val, err := c.Read(valp, int(m.spec.ValueSize))
	if err != nil {
		return 0, err
	}
	if err := m.updateLocked(key, val, flags); err != nil {
		return errno(errnoOf(err)), nil
	}
	return 0, nil
}

func (s *Subsystem) helperMapDelete(c *interp.Call, mp, keyp, _, _, _ uint64) (uint64, error) {
	m := s.mapByHandle(mp)
	if m == nil {
		return errno(unix.EINVAL), nil
	}
	if m.spec.Flags&FlagRdonlyProg != 0 {
		return errno(unix.EPERM), nil
	}
	key, err := c.Read(keyp, int(m.spec.KeySize))
	if err != nil {
		return 0, err
	}
	if err := m.deleteLocked(key); err != nil {
		return errno(errnoOf(err)), nil
	}
	return 0, nil
}
