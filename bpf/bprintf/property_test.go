package bprintf

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

// A format made only of printable text, whitespace and "%%" needs no
// argument and prints itself with each "%%" halved.
func TestPropPlainTextRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var f, want strings.Builder
		for _, tok := range rapid.SliceOfN(rapid.OneOf(
			rapid.StringMatching(`[ -$&-~]`), // printable ASCII but '%'
			rapid.SampledFrom([]string{"\t", "\n", "\v", "\f", "\r", "%%"}),
		), 0, 200).Draw(t, "tokens") {
			f.WriteString(tok)
			if tok == "%%" {
				want.WriteString("%")
			} else {
				want.WriteString(tok)
			}
		}
		p := Printer{}
		require.NoError(t, p.Check(z(f.String()), 0))
		out, err := p.SeqPrintf(z(f.String()), nil, nil, want.Len()+1)
		require.NoError(t, err)
		require.Equal(t, want.String(), string(out))
		_, err = p.SeqPrintf(z(f.String()), nil, nil, want.Len())
		require.ErrorIs(t, err, unix.EOVERFLOW)
		_, ret, err := p.Snprintf(z(f.String()), nil, nil, 0)
		require.NoError(t, err)
		require.Equal(t, want.Len()+1, ret)
	})
}

// Integer conversions agree with Go's fmt once C's rules are spelled out:
// int-sized unless l/ll, and '+'/' ' only matter for %d/%i.
func TestPropIntegersMatchGo(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		flags := rapid.StringMatching(`[-+ 0]{0,4}`).Draw(t, "flags")
		width := rapid.IntRange(0, 40).Draw(t, "width")
		length := rapid.SampledFrom([]string{"", "l", "ll"}).Draw(t, "length")
		conv := rapid.SampledFrom([]byte("diuxX")).Draw(t, "conv")
		v := rapid.OneOf(rapid.Uint64(), rapid.Uint64Range(0, 1000),
			rapid.SampledFrom([]uint64{0, 1 << 31, 1<<32 - 1, 1 << 63, neg1})).Draw(t, "value")

		w := ""
		if width > 0 {
			w = fmt.Sprint(width)
		}
		cfmt := "%" + flags + w + length + string(conv)
		long := length != ""
		var goArg any
		goFlags := flags
		goVerb := "d"
		switch conv {
		case 'd', 'i':
			if long {
				goArg = int64(v)
			} else {
				goArg = int32(v)
			}
		default:
			goFlags = strings.NewReplacer("+", "", " ", "").Replace(flags)
			if long {
				goArg = v
			} else {
				goArg = uint32(v)
			}
			if conv != 'u' {
				goVerb = string(conv)
			}
		}
		want := fmt.Sprintf("%"+goFlags+w+goVerb, goArg)
		out, err := Printer{}.SeqPrintf(z(cfmt), args(v), nil, 4096)
		require.NoError(t, err)
		require.Equal(t, want, string(out), "fmt %q value %#x", cfmt, v)
	})
}

// %s and %c pad with spaces on either side, never with zeros.
func TestPropStringsAndCharsMatchGo(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringMatching(`[ -~]{0,100}`).Draw(t, "s")
		c := rapid.ByteRange(' ', '~').Draw(t, "c")
		flags := rapid.StringMatching(`[-0]{0,3}`).Draw(t, "flags")
		width := rapid.IntRange(0, 120).Draw(t, "width")
		w := ""
		if width > 0 {
			w = fmt.Sprint(width)
		}
		goFlags := strings.ReplaceAll(flags, "0", "")
		mem := &fakeMem{regions: []fakeRegion{{base: kBase, b: z(s)}}}
		out, err := Printer{}.SeqPrintf(z("%"+flags+w+"s|%"+flags+w+"c"), args(kBase, uint64(c)), mem, 4096)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%"+goFlags+w+"s|%"+goFlags+w+"c", s, c), string(out))
	})
}

// Arbitrary formats, arguments and buffer sizes never panic, and the
// helpers agree with each other.
func TestPropArbitraryInput(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fmtb := rapid.OneOf(
			rapid.SliceOfN(rapid.Byte(), 0, 64),
			rapid.Custom(func(t *rapid.T) []byte {
				// Mostly well-formed conversions, to get past validation.
				var b []byte
				for _, tok := range rapid.SliceOfN(rapid.SampledFrom([]string{
					"%d", "%5d", "%-5u", "%08x", "%lld", "%+ld", "%c", "%3c", "%s", "%10s",
					"%p", "%px", "%pK", "%ps", "%pS", "%pB", "%pks", "%pus", "%pI4", "%pi6",
					"%%", "x", " ", ".", "\n", "%", "%.", "\xe9", "\x01", "%8388608d",
				}), 0, 14).Draw(t, "tokens") {
					b = append(b, tok...)
				}
				return append(b, 0)
			})).Draw(t, "fmt")
		n := rapid.IntRange(0, 14).Draw(t, "nargs")
		var a []uint64
		for i := 0; i < n; i++ {
			a = append(a, rapid.OneOf(rapid.Uint64(), rapid.SampledFrom([]uint64{
				0, kHello, kEmpty, kLong, kSpace, kTail, kIP4, kIP6, uHello, uEmpty, bad, neg1,
			})).Draw(t, "arg"))
		}
		data := args(a...)
		if rapid.Bool().Draw(t, "ragged") {
			data = data[:rapid.IntRange(0, len(data)).Draw(t, "datalen")]
		}
		space := rapid.IntRange(-1, 5000).Draw(t, "space")
		p := Printer{
			PtrKey:         [2]uint64{rapid.Uint64().Draw(t, "k0"), 1},
			KptrRestrict:   rapid.IntRange(-1, 3).Draw(t, "kptr"),
			CapSyslog:      rapid.Bool().Draw(t, "cap"),
			NoHashPointers: rapid.Bool().Draw(t, "nohash"),
			ASCIIOnly:      rapid.Bool().Draw(t, "ascii"),
		}
		checkInvariants(t, p, fmtb, data, space)
	})
}

// fataler is what checkInvariants needs from *testing.T and *rapid.T.
type fataler interface {
	Fatalf(format string, args ...any)
}

// checkInvariants runs every entry point on one input and checks what must
// hold whatever the input.
func checkInvariants(t fataler, p Printer, fmtb, data []byte, space int) {
	mem := testMem()
	out, err := p.SeqPrintf(fmtb, data, mem, space)
	out2, err2 := p.SeqPrintf(fmtb, data, mem, space)
	if !bytes.Equal(out, out2) || !errors.Is(err2, err) {
		t.Fatalf("not deterministic: %q %v / %q %v", out, err, out2, err2)
	}
	dataOK := len(data)%8 == 0 && len(data) <= 8*MaxVarargs
	checkErr := p.Check(fmtb, len(data)/8)
	switch {
	case err == nil:
		if len(out) >= max(space, 0) {
			t.Fatalf("output of %d bytes does not fit %d", len(out), space)
		}
		if !dataOK || checkErr != nil {
			t.Fatalf("SeqPrintf accepted what Check refused: %v", checkErr)
		}
	case errors.Is(err, unix.EINVAL):
		if dataOK && checkErr == nil {
			t.Fatalf("SeqPrintf EINVAL but Check passed")
		}
	case errors.Is(err, unix.ENOSPC):
		// The buffer can fill up before the scan reaches a conversion
		// that Check refuses (one too many, say): ENOSPC then wins.
		if !dataOK {
			t.Fatalf("ENOSPC for a bad data_len")
		}
	case errors.Is(err, unix.EOVERFLOW):
		if !dataOK || checkErr != nil {
			t.Fatalf("EOVERFLOW for a format Check refused: %v", checkErr)
		}
	default:
		t.Fatalf("unexpected error %v", err)
	}

	size := max(space, 0)
	sout, ret, serr := p.Snprintf(fmtb, data, mem, size)
	if (serr == nil) != (err == nil || errors.Is(err, unix.EOVERFLOW)) {
		t.Fatalf("Snprintf %v, SeqPrintf %v", serr, err)
	}
	if serr == nil {
		if ret < 1 {
			t.Fatalf("Snprintf returned %d", ret)
		}
		if size == 0 && len(sout) != 0 {
			t.Fatalf("size 0 but %d bytes written", len(sout))
		}
		if size > 0 && (len(sout) != min(ret-1, size-1)+1 || sout[len(sout)-1] != 0) {
			t.Fatalf("Snprintf wrote %q for size %d, ret %d", sout, size, ret)
		}
		if err == nil && (ret-1 != len(out) || !bytes.Equal(sout[:len(out)], out)) {
			t.Fatalf("Snprintf %q (ret %d) vs SeqPrintf %q", sout, ret, out)
		}
	}

	if len(data) >= 8*MaxTracePrintkVarargs {
		var a [MaxTracePrintkVarargs]uint64
		for i := range a {
			a[i] = le64(data[8*i:])
		}
		msg, tret, terr := p.TracePrintk(fmtb, a, mem)
		if terr == nil {
			if len(msg) >= MaxBuf || bytes.IndexByte(msg, 0) >= 0 || tret < len(msg) {
				t.Fatalf("TracePrintk: %d bytes, ret %d", len(msg), tret)
			}
		}
	}
	vmsg, vret, verr := p.TraceVprintk(fmtb, data, mem)
	if (verr == nil) != (serr == nil) {
		t.Fatalf("TraceVprintk %v, Snprintf %v", verr, serr)
	}
	// With a %pI/%pi/%pB conversion the kernel can store arguments past
	// bin_args, in the buffer trace_vprintk prints into, so its output can
	// legitimately differ from bpf_snprintf's there.
	if verr == nil && !bytes.ContainsAny(fmtb, "iIB") {
		full, fret, _ := p.Snprintf(fmtb, data, mem, MaxBuf)
		if vret != fret-1 {
			t.Fatalf("TraceVprintk ret %d, Snprintf %d", vret, fret)
		}
		if k := bytes.IndexByte(full, 0); !bytes.Equal(vmsg, full[:k]) {
			t.Fatalf("TraceVprintk %q, Snprintf %q", vmsg, full)
		}
	}
}

func FuzzSeqPrintf(f *testing.F) {
	f.Add([]byte("%d %s %pI4\x00"), args(1, kHello, kIP4), uint16(100), uint8(0))
	f.Add([]byte("%p%\x00"), args(1), uint16(10), uint8(1))
	f.Add([]byte("%s|%c%d\x00"), args(kLong, 'c', 1), uint16(600), uint8(2))
	f.Add([]byte("ab%pI4%d\x00"), args(kIP4, 5), uint16(2), uint8(4))
	f.Add([]byte("%16777217d%pK\xe9\x00"), args(1, 2), uint16(4096), uint8(8))
	f.Add([]byte("no nul"), []byte{1, 2, 3}, uint16(0), uint8(16))
	f.Fuzz(func(t *testing.T, fmtb, data []byte, space uint16, flags uint8) {
		p := Printer{
			PtrKey:         [2]uint64{uint64(flags), 7},
			KptrRestrict:   int(flags & 3),
			CapSyslog:      flags&4 != 0,
			NoHashPointers: flags&8 != 0,
			ASCIIOnly:      flags&16 != 0,
		}
		checkInvariants(t, p, fmtb, data, int(space))
	})
}
