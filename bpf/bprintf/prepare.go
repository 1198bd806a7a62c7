package bprintf

import (
	"bytes"

	"golang.org/x/sys/unix"
)

// regionSize is sizeof(struct bpf_bprintf_buffers): bin_args[512] followed by
// buf[1024]. The kernel can write a little past bin_args (see below); those
// bytes land in buf, exactly as here.
const regionSize = MaxBinArgs + MaxBuf

// prepared is the result of bpf_bprintf_prepare: the format (up to its NUL)
// and the per-CPU buffers with the serialized arguments.
//
// A pre-formatted %pI/%pB conversion needs only 4 (16 for IPv6, none for %pB)
// free bytes to start, but its text is cut to the room left while tmp_buf
// advances by its full length, so tmp_buf can end up past bin_args. The
// kernel's checks then no longer fire (an unsigned comparison, an equality
// test): later numbers and %c bytes are stored past bin_args, in buf, and
// later strings are stored empty without advancing. bstr_printf, which
// advances by the cut text's real length, then reads bytes that
// bpf_bprintf_prepare never wrote. In the kernel those hold whatever earlier
// calls left in the per-CPU buffers; here they start zeroed. That is the one
// place where this package and the kernel can differ, and the output there
// is garbage either way.
type prepared struct {
	fmt    []byte
	region [regionSize]byte
}

func (st *prepared) set(off int, c byte) {
	if off >= 0 && off < regionSize {
		st.region[off] = c
	}
}

func (st *prepared) get(off int) byte {
	if off >= 0 && off < regionSize {
		return st.region[off]
	}
	return 0
}

// strlen is strlen(region + off), stopping at the end of the region.
func (st *prepared) strlen(off int) int {
	n := 0
	for off+n < regionSize && st.get(off+n) != 0 {
		n++
	}
	return n
}

// prepare mirrors bpf_bprintf_prepare (kernel/bpf/helpers.c, v6.18 with the
// "%p%" fix f8242745871f): it validates fmt and, when getBinArgs is set and
// there are arguments, serializes them into the bin_args buffer the way
// bstr_printf reads them back: 4-byte aligned u32/u64 numbers, strings and
// pre-formatted %pI/%pB text copied with their NUL, %c as one byte.
func (p Printer) prepare(st *prepared, fmtb []byte, args []uint64, numArgs int, mem Memory, getBinArgs bool) error {
	nul := bytes.IndexByte(fmtb, 0)
	if nul < 0 {
		return unix.EINVAL
	}
	st.fmt = fmtb[:nul]
	f := fmtb[:nul+1]
	at := func(i int) byte {
		if i >= 0 && i < len(f) {
			return f[i]
		}
		return 0
	}
	arg := func(k int) uint64 {
		if k >= 0 && k < len(args) {
			return args[k]
		}
		return 0
	}

	// tmp_buf is NULL (hasTmp false) in verification-only mode and when
	// there are no arguments; every conversion then only counts.
	hasTmp := getBinArgs && numArgs > 0
	tmp, tmpEnd := 0, MaxBinArgs
	numSpec := 0

	// noRoom is "tmp_buf_end - tmp_buf < size" with size a size_t: once tmp
	// is past the end (see the %pI/%pB cases) the negative difference
	// compares as a huge unsigned value and the check passes.
	noRoom := func(size int) bool {
		rem := tmpEnd - tmp
		return rem >= 0 && rem < size
	}

	// nocopy is the kernel's nocopy_fmt label: store a number of size bytes.
	nocopy := func(size int, cur uint64) error {
		if hasTmp {
			tmp = (tmp + 3) &^ 3
			if noRoom(size) {
				return unix.ENOSPC
			}
			for b := 0; b < size; b++ {
				st.set(tmp+b, byte(cur>>(8*b)))
			}
			tmp += size
		}
		numSpec++
		return nil
	}

	for i := 0; i < nul; i++ {
		c := f[i]
		if p.ASCIIOnly {
			if (!isprint(c) && !isspace(c)) || !isascii(c) {
				return unix.EINVAL
			}
		} else if isascii(c) && !isprint(c) && !isspace(c) {
			return unix.EINVAL
		}
		if c != '%' {
			continue
		}
		if at(i+1) == '%' {
			i++
			continue
		}
		if numSpec >= numArgs {
			return unix.EINVAL
		}
		i++
		if !isascii(at(i)) {
			return unix.EINVAL
		}

		// Optional "[0 +-][num]" flags and width.
		for at(i) == '0' || at(i) == '+' || at(i) == '-' || at(i) == ' ' {
			i++
		}
		if at(i) >= '1' && at(i) <= '9' {
			i++
			for at(i) >= '0' && at(i) <= '9' {
				i++
			}
		}

		var err error
		switch at(i) {
		case 'p':
			n1, n2 := at(i+1), at(i+2)
			switch {
			case n1 == 0 || isspace(n1) || ispunct(n1):
				// Plain %p: the next character is not part of it.
				err = nocopy(8, arg(numSpec))
			case (n1 == 'k' || n1 == 'u') && n2 == 's':
				i += 2
				err = p.fmtStr(st, mem, f, i, n1, hasTmp, &tmp, tmpEnd, &numSpec, arg(numSpec))
			case n1 == 'K' || n1 == 'x' || n1 == 's' || n1 == 'S':
				i++
				err = nocopy(8, arg(numSpec))
			case n1 == 'B':
				if hasTmp {
					sym := symbolText(arg(numSpec))
					n := snprintfRegion(st, tmp, tmpEnd-tmp, sym)
					tmp += n + 1
				}
				i++
				numSpec++
			case (n1 == 'i' || n1 == 'I') && (n2 == '4' || n2 == '6'):
				i += 2
				if !hasTmp {
					err = nocopy(8, 0)
					break
				}
				size := 4
				if n2 == '6' {
					size = 16
				}
				if noRoom(size) {
					return unix.ENOSPC
				}
				ip := make([]byte, size)
				if b, rerr := kernelRead(mem, arg(numSpec), size); rerr == nil {
					copy(ip, b)
				}
				n := snprintfRegion(st, tmp, tmpEnd-tmp, ipText(n1, n2, ip))
				tmp += n + 1
				numSpec++
			default:
				// Only %pK %px %ps %pS %pB %pks %pus %pi4 %pI4 %pi6 %pI6.
				return unix.EINVAL
			}
		case 's':
			err = p.fmtStr(st, mem, f, i, 's', hasTmp, &tmp, tmpEnd, &numSpec, arg(numSpec))
		case 'c':
			if !hasTmp {
				numSpec++
				break
			}
			if tmpEnd == tmp {
				return unix.ENOSPC
			}
			// The kernel only checks for equality: after an overlong
			// pre-formatted %pI/%pB tmp can be past the end, and the byte
			// is then written past bin_args.
			st.set(tmp, byte(arg(numSpec)))
			tmp++
			numSpec++
		default:
			size := 4
			if at(i) == 'l' {
				size = 8
				i++
			}
			if at(i) == 'l' {
				size = 8
				i++
			}
			switch at(i) {
			case 'i', 'd', 'u', 'x', 'X':
				err = nocopy(size, arg(numSpec))
			default:
				return unix.EINVAL
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// fmtStr is the kernel's fmt_str label for %s, %pks and %pus; i indexes the
// conversion's last character.
func (p Printer) fmtStr(st *prepared, mem Memory, f []byte, i int, ptype byte, hasTmp bool, tmp *int, tmpEnd int, numSpec *int, addr uint64) error {
	var next byte
	if i+1 < len(f) {
		next = f[i+1]
	}
	if next != 0 && !isspace(next) && !ispunct(next) {
		return unix.EINVAL
	}
	if !hasTmp {
		*numSpec++
		return nil
	}
	if tmpEnd == *tmp {
		return unix.ENOSPC
	}
	n := copyString(st, *tmp, mem, addr, ptype, tmpEnd-*tmp)
	if n < 0 {
		st.set(*tmp, 0)
		n = 1
	}
	*tmp += n
	*numSpec++
	return nil
}

// copyString is bpf_trace_copy_string: it copies the string at addr into
// region+off, at most bufsz bytes including the NUL, and returns the number
// of bytes stored (NUL included) or a negative errno. bufsz is a size_t in
// the kernel and the copy routines take a long count, so a negative bufsz
// (tmp past the end of bin_args) copies nothing and returns 0.
func copyString(st *prepared, off int, mem Memory, addr uint64, ptype byte, bufsz int) int {
	st.set(off, 0)
	switch ptype {
	case 's':
		if isUser(mem, addr) {
			return userCopy(st, off, mem, addr, bufsz)
		}
		return kernelCopy(st, off, mem, addr, bufsz)
	case 'k':
		return kernelCopy(st, off, mem, addr, bufsz)
	default: // 'u'
		return userCopy(st, off, mem, addr, bufsz)
	}
}

func isUser(mem Memory, addr uint64) bool {
	um, ok := mem.(UserMemory)
	return ok && um.IsUser(addr)
}

// readCString calls mem.ReadCString and enforces its contract (no NUL in the
// result, at most max bytes) so that a sloppy Memory cannot break the
// emulation.
func readCString(mem Memory, addr uint64, max int) ([]byte, error) {
	if mem == nil {
		return nil, unix.EFAULT
	}
	b, err := mem.ReadCString(addr, max)
	if err != nil {
		return nil, err
	}
	if k := bytes.IndexByte(b, 0); k >= 0 {
		b = b[:k]
	}
	if len(b) > max {
		b = b[:max]
	}
	return b, nil
}

// kernelRead is copy_from_kernel_nofault: user addresses are refused.
func kernelRead(mem Memory, addr uint64, n int) ([]byte, error) {
	if mem == nil || isUser(mem, addr) {
		return nil, unix.ERANGE
	}
	b, err := mem.Read(addr, n)
	if err != nil || len(b) != n {
		return nil, unix.EFAULT
	}
	return b, nil
}

// kernelCopy is strncpy_from_kernel_nofault.
func kernelCopy(st *prepared, off int, mem Memory, addr uint64, count int) int {
	if count <= 0 {
		return 0
	}
	if mem == nil || isUser(mem, addr) {
		return -int(unix.ERANGE)
	}
	b, err := readCString(mem, addr, count)
	if err != nil {
		st.set(off, 0)
		return -int(unix.EFAULT)
	}
	if len(b) >= count { // no NUL among count bytes: keep count-1 and a NUL
		b = b[:count-1]
	}
	for k, c := range b {
		st.set(off+k, c)
	}
	st.set(off+len(b), 0)
	return len(b) + 1
}

// userCopy is strncpy_from_user_nofault (with the 2025 fix that makes an
// empty string return 1, not 0).
func userCopy(st *prepared, off int, mem Memory, addr uint64, count int) int {
	if count <= 0 {
		return 0
	}
	if !isUser(mem, addr) { // strncpy_from_user: not below TASK_SIZE_MAX
		return -int(unix.EFAULT)
	}
	b, err := readCString(mem, addr, count)
	if err != nil {
		return -int(unix.EFAULT)
	}
	if len(b) >= count {
		for k, c := range b[:count-1] {
			st.set(off+k, c)
		}
		st.set(off+count-1, 0)
		return count
	}
	for k, c := range b {
		st.set(off+k, c)
	}
	st.set(off+len(b), 0)
	return len(b) + 1
}

// snprintfRegion is snprintf(region+off, size, "%s", s) for the
// pre-formatted %pI and %pB conversions: it stores at most size-1 bytes and a
// NUL and returns len(s). A negative size is a huge size_t, which vsnprintf
// refuses (WARN, return 0) without writing.
func snprintfRegion(st *prepared, off, size int, s string) int {
	if size < 0 {
		return 0
	}
	if size == 0 {
		return len(s)
	}
	n := min(len(s), size-1)
	for k := 0; k < n; k++ {
		st.set(off+k, s[k])
	}
	st.set(off+n, 0)
	return len(s)
}
