package bprintf

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Addresses of the test memory.
const (
	kBase  = 0xffff888000001000 // kernel region, 8 KiB
	kHello = kBase + 0          // "hello"
	kEmpty = kBase + 16         // ""
	kLong  = kBase + 64         // 600 × 'a', then NUL
	kIP4   = kBase + 1024       // 192.168.1.2
	kIP6   = kBase + 1040       // fe80::1:2
	kTail  = kBase + 8192 - 3   // "xyz" with the region's end before any NUL
	kSpace = kBase + 2048       // 1000 × 'b', then NUL
	uBase  = 0x0000555500000000 // user region, 4 KiB
	uHello = uBase + 0          // "user"
	uEmpty = uBase + 16         // ""
	uIP4   = uBase + 32         // 1.2.3.4 in user memory
	bad    = 0xdead000000000000
)

func testMem() *fakeMem {
	k := make([]byte, 8192)
	copy(k[kHello-kBase:], "hello\x00")
	copy(k[kLong-kBase:], strings.Repeat("a", 600)+"\x00")
	copy(k[kIP4-kBase:], []byte{192, 168, 1, 2})
	copy(k[kIP6-kBase:], []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2})
	copy(k[kSpace-kBase:], strings.Repeat("b", 1000)+"\x00")
	copy(k[kTail-kBase:], "xyz")
	u := make([]byte, 4096)
	copy(u[uHello-uBase:], "user\x00")
	copy(u[uIP4-uBase:], []byte{1, 2, 3, 4})
	return &fakeMem{regions: []fakeRegion{{base: kBase, b: k}, {base: uBase, b: u}}}
}

const neg1 = 1<<64 - 1

func negU(v int64) uint64 { return uint64(v) }

type seqCase struct {
	name string
	fmt  string
	args []uint64
	want string
	err  error
}

func runSeqCases(t *testing.T, p Printer, mem Memory, cases []seqCase) {
	t.Helper()
	for _, c := range cases {
		out, err := p.SeqPrintf(z(c.fmt), args(c.args...), mem, 1<<16)
		if c.err != nil {
			assert.ErrorIs(t, err, c.err, "%s: fmt %q", c.name, c.fmt)
			assert.Nil(t, out, c.name)
			continue
		}
		if assert.NoError(t, err, "%s: fmt %q", c.name, c.fmt) {
			assert.Equal(t, c.want, string(out), "%s: fmt %q", c.name, c.fmt)
		}
	}
}

func TestIntegers(t *testing.T) {
	runSeqCases(t, Printer{}, nil, []seqCase{
		{"d", "%d", []uint64{42}, "42", nil},
		{"d negative", "%d", []uint64{negU(-42)}, "-42", nil},
		{"i", "%i", []uint64{negU(-7)}, "-7", nil},
		{"u of -1", "%u", []uint64{neg1}, "4294967295", nil},
		{"x", "%x", []uint64{0xbeef}, "beef", nil},
		{"X", "%X", []uint64{0xbeef}, "BEEF", nil},
		{"int truncates", "%d %u %x", []uint64{0x1_8000_0000, 0x1_8000_0000, 0xdead_beef_cafe}, "-2147483648 2147483648 beefcafe", nil},
		{"INT_MAX", "%d", []uint64{0x7fff_ffff}, "2147483647", nil},
		{"zero", "%d %u %x %X", []uint64{0, 0, 0, 0}, "0 0 0 0", nil},
		{"ld", "%ld", []uint64{negU(-5)}, "-5", nil},
		{"lu", "%lu", []uint64{neg1}, "18446744073709551615", nil},
		{"lx", "%lx", []uint64{negU(-5)}, "fffffffffffffffb", nil},
		{"lX", "%lX", []uint64{0xabcdef0123}, "ABCDEF0123", nil},
		{"li min", "%li", []uint64{1 << 63}, "-9223372036854775808", nil},
		{"lld", "%lld", []uint64{1<<63 - 1}, "9223372036854775807", nil},
		{"llu", "%llu", []uint64{1 << 63}, "9223372036854775808", nil},
		{"llx", "%llx", []uint64{1 << 63}, "8000000000000000", nil},
		{"llX", "%llX", []uint64{negU(-2)}, "FFFFFFFFFFFFFFFE", nil},
		{"lli", "%lli", []uint64{negU(-1)}, "-1", nil},
	})
}

func TestFlagsAndWidths(t *testing.T) {
	runSeqCases(t, Printer{}, nil, []seqCase{
		{"width", "[%8d]", []uint64{negU(-42)}, "[     -42]", nil},
		{"left", "[%-8d]", []uint64{negU(-42)}, "[-42     ]", nil},
		{"zero pad", "[%08d]", []uint64{negU(-42)}, "[-0000042]", nil},
		{"zero pad hex", "[%08X]", []uint64{0xbeef}, "[0000BEEF]", nil},
		{"left wins over zero", "[%0-8d]", []uint64{5}, "[5       ]", nil},
		{"plus", "[%+d]", []uint64{5}, "[+5]", nil},
		{"space", "[% d]", []uint64{5}, "[ 5]", nil},
		{"plus wins over space", "[%+ d|% +d]", []uint64{5, 5}, "[+5|+5]", nil},
		{"plus on negative", "[%+d]", []uint64{negU(-5)}, "[-5]", nil},
		{"plus ignored unsigned", "[%+u|% x|%+X]", []uint64{5, 5, 5}, "[5|5|5]", nil},
		{"plus zero pad", "[%+08d]", []uint64{5}, "[+0000005]", nil},
		{"space zero pad", "[% 08d]", []uint64{5}, "[ 0000005]", nil},
		{"left plus", "[%-+8d]", []uint64{5}, "[+5      ]", nil},
		{"plus zero", "[%+d]", []uint64{0}, "[+0]", nil},
		{"repeated flags", "[%0+- 6d|%--6d|%00006d]", []uint64{12, 12, 12}, "[+12   |12    |000012]", nil},
		{"narrow width", "[%2d]", []uint64{12345}, "[12345]", nil},
		{"wide long", "[%20lld|%-20llu|%020llx]", []uint64{1 << 63, neg1, neg1},
			"[-9223372036854775808|18446744073709551615|0000ffffffffffffffff]", nil},
		{"width 0 digit then zero", "[%10x]", []uint64{0}, "[         0]", nil},
		// Widths beyond FIELD_WIDTH_MAX are clamped; an int-overflowing one
		// wraps (skip_atoi) and then clamps.
		{"width 2^32+1", "[%4294967297d]", []uint64{7}, "[7]", nil},
		{"width INT_MIN", "[%2147483648d]", []uint64{7}, "[7]", nil},
	})
}

func TestChars(t *testing.T) {
	runSeqCases(t, Printer{}, nil, []seqCase{
		{"c", "%c%c%c", []uint64{'a', 'b', 'c'}, "abc", nil},
		{"low byte", "%c", []uint64{0x1_41}, "A", nil},
		{"width", "[%3c|%-3c]", []uint64{'x', 'y'}, "[  x|y  ]", nil},
		{"zero flag pads with spaces", "[%03c]", []uint64{'w'}, "[  w]", nil},
		{"NUL byte is output", "[%c]", []uint64{0}, "[\x00]", nil},
		{"no check after c", "%cabc", []uint64{'x'}, "xabc", nil},
	})
}

func TestStrings(t *testing.T) {
	mem := testMem()
	long511 := strings.Repeat("a", 511)
	runSeqCases(t, Printer{}, mem, []seqCase{
		{"s", "<%s>", []uint64{kHello}, "<hello>", nil},
		{"width", "<%10s|%-10s|%2s>", []uint64{kHello, kHello, kHello}, "<     hello|hello     |hello>", nil},
		{"zero flag pads with spaces", "<%010s>", []uint64{kHello}, "<     hello>", nil},
		{"empty", "<%s>", []uint64{kEmpty}, "<>", nil},
		{"NULL", "<%s>", []uint64{0}, "<>", nil},
		{"bad address", "<%s>|%d", []uint64{bad, 9}, "<>|9", nil},
		{"fault before NUL", "<%s>", []uint64{kTail}, "<>", nil},
		{"user address", "<%s>", []uint64{uHello}, "<user>", nil},
		{"empty user string", "<%s>|%d", []uint64{uEmpty, 0x41424344}, "<>|1094861636", nil},
		{"pks", "<%pks>", []uint64{kHello}, "<hello>", nil},
		{"pks of user address", "<%pks>", []uint64{uHello}, "<>", nil},
		{"pus", "<%pus>", []uint64{uHello}, "<user>", nil},
		{"pus of kernel address", "<%pus>", []uint64{kHello}, "<>", nil},
		{"pks pus ignore width", "<%10pks|%-10pus>", []uint64{kHello, uHello}, "<hello|user>", nil},
		{"punctuation may follow", "%s.%s,%s:%s %s", []uint64{kHello, kHello, kHello, kHello, kHello}, "hello.hello,hello:hello hello", nil},
		{"truncated to 511", "%s", []uint64{kLong}, long511, nil},
		{"first string took all 512 bytes", "%s|%s", []uint64{kLong, kHello}, "", unix.ENOSPC},
		{"longer first string too", "%s|%s", []uint64{kSpace, kLong}, "", unix.ENOSPC},
		{"after ints", "%d%d%d%s", []uint64{1, 2, 3, kLong}, "123" + strings.Repeat("a", 499), nil},
		{"exactly full then int", "%s|%d", []uint64{kLong, 1}, "", unix.ENOSPC},
		{"full then char", "%s|%c", []uint64{kLong, 'c'}, "", unix.ENOSPC},
		{"letter after s", "%sabc", []uint64{kHello}, "", unix.EINVAL},
		{"letter after pks", "%pksx", []uint64{kHello}, "", unix.EINVAL},
		{"digit after s", "%s1", []uint64{kHello}, "", unix.EINVAL},
		{"Latin-1 punctuation after s", "%s\xa1|", []uint64{kHello}, "hello\xa1|", nil},
		{"Latin-1 space after s", "%s\xa0|", []uint64{kHello}, "hello\xa0|", nil},
		{"Latin-1 letter after s", "%s\xe9", []uint64{kHello}, "", unix.EINVAL},
	})
}

func TestTwoStringsFillTheBuffer(t *testing.T) {
	// 301 bytes for the first string and its NUL leave 211: the second
	// string keeps 210 bytes and a NUL.
	k := make([]byte, 1024)
	copy(k, strings.Repeat("x", 300))
	copy(k[400:], strings.Repeat("y", 300))
	mem := &fakeMem{regions: []fakeRegion{{base: kBase, b: k}}}
	out, err := Printer{}.SeqPrintf(z("%s|%s"), args(kBase, kBase+400), mem, 4096)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("x", 300)+"|"+strings.Repeat("y", 210), string(out))
}

func TestNoUserSpace(t *testing.T) {
	// Without UserMemory every address is a kernel address.
	mem := kernelMem{testMem()}
	runSeqCases(t, Printer{}, mem, []seqCase{
		{"s of low address", "<%s>", []uint64{uHello}, "<user>", nil},
		{"pks of low address", "<%pks>", []uint64{uHello}, "<user>", nil},
		{"pus never reads", "<%pus>", []uint64{uHello}, "<>", nil},
		{"pI4 of low address", "%pI4", []uint64{uIP4}, "1.2.3.4", nil},
	})
	runSeqCases(t, Printer{}, nil, []seqCase{
		{"nil memory", "<%s|%pks|%pus|%pI4>", []uint64{kHello, kHello, uHello, kIP4}, "<|||0.0.0.0>", nil},
	})
}

func TestPointers(t *testing.T) {
	p := Printer{}
	hashOf := func(v uint64) string {
		out, err := p.SeqPrintf(z("%p"), args(v), nil, 100)
		require.NoError(t, err)
		return string(out)
	}
	h := hashOf(0xffff888012345678)
	assert.Regexp(t, `^00000000[0-9a-f]{8}$`, h)
	assert.Equal(t, h, hashOf(0xffff888012345678), "stable")
	assert.NotEqual(t, h, hashOf(0xffff888012345679))
	h1234 := hashOf(0x1234)[8:]

	runSeqCases(t, p, nil, []seqCase{
		{"NULL is not hashed", "%p", []uint64{0}, "0000000000000000", nil},
		{"error pointer is not hashed", "%p %p", []uint64{negU(-22), negU(-4095)}, "ffffffffffffffea fffffffffffff001", nil},
		{"pK like p", "%pK", []uint64{0x1234}, "00000000" + h1234, nil},
		{"p width", "[%20p|%-20p|%020p]", []uint64{0x1234, 0x1234, 0x1234},
			"[            " + h1234 + "|" + h1234 + "            |000000000000" + h1234 + "]", nil},
		{"px", "%px %px", []uint64{0x1234, neg1}, "0000000000001234 ffffffffffffffff", nil},
		{"px width", "[%20px|%-20px|%020px|%2px]", []uint64{0xab, 0xab, 0xab, 0xab},
			"[                  ab|ab                  |000000000000000000ab|ab]", nil},
		{"px sign flags ignored", "[%+px|% px]", []uint64{0xab, 0xab}, "[00000000000000ab|00000000000000ab]", nil},
		{"p then punctuation", "%p. %p,", []uint64{0, 0}, "0000000000000000. 0000000000000000,", nil},
		{"p then space and end", "%p %p", []uint64{0, 0}, "0000000000000000 0000000000000000", nil},
		{"alphanumerics after the form are swallowed", "%pxyz|%pKabc|%psR|%pS0|", []uint64{0x10, 0, 0x20, 0x30},
			"0000000000000010|0000000000000000|0x20|0x30|", nil},
		{"Latin-1 letter after pK is swallowed", "%pK\xe9|", []uint64{0}, "0000000000000000|", nil},
		{"symbols print the address", "%ps %pS %pB", []uint64{0x1234, 0xffffffff81000000, 0}, "0x1234 0xffffffff81000000 0x0", nil},
		{"symbol width", "[%10ps|%-10pS|%10pB]", []uint64{0x1234, 0x1234, 0x1234}, "[    0x1234|0x1234    |0x1234]", nil},
		{"p%", "%p%", []uint64{0}, "", unix.EINVAL},
		{"pa", "%pa", []uint64{0}, "", unix.EINVAL},
		{"pV", "%pV", []uint64{0}, "", unix.EINVAL},
		{"pe", "%pe", []uint64{0}, "", unix.EINVAL},
		{"pk without s", "%pk", []uint64{0}, "", unix.EINVAL},
		{"pi5", "%pi5", []uint64{0}, "", unix.EINVAL},
		{"p then letter", "%pq", []uint64{0}, "", unix.EINVAL},
	})

	other := Printer{PtrKey: [2]uint64{1, 2}}
	out, err := other.SeqPrintf(z("%p"), args(0x1234), nil, 100)
	require.NoError(t, err)
	assert.NotEqual(t, "00000000"+h1234, string(out), "the key changes the hash")

	runSeqCases(t, Printer{NoHashPointers: true}, nil, []seqCase{
		{"no_hash_pointers", "%p %pK", []uint64{0x1234, 0x1234}, "0000000000001234 0000000000001234", nil},
	})
	runSeqCases(t, Printer{KptrRestrict: 1, CapSyslog: true}, nil, []seqCase{
		{"kptr_restrict 1 privileged", "%pK %p", []uint64{0x1234, 0}, "0000000000001234 0000000000000000", nil},
	})
	runSeqCases(t, Printer{KptrRestrict: 1}, nil, []seqCase{
		{"kptr_restrict 1 unprivileged", "%pK", []uint64{0x1234}, "0000000000000000", nil},
	})
	runSeqCases(t, Printer{KptrRestrict: 2, CapSyslog: true}, nil, []seqCase{
		{"kptr_restrict 2", "[%pK|%20pK]", []uint64{0x1234, 0x1234}, "[0000000000000000|                   0]", nil},
	})
}

func TestIPAddresses(t *testing.T) {
	mem := testMem()
	runSeqCases(t, Printer{}, mem, []seqCase{
		{"pI4", "%pI4", []uint64{kIP4}, "192.168.1.2", nil},
		{"pi4", "%pi4", []uint64{kIP4}, "192.168.001.002", nil},
		{"pI6", "%pI6", []uint64{kIP6}, "fe80:0000:0000:0000:0000:0000:0001:0002", nil},
		{"pi6", "%pi6", []uint64{kIP6}, "fe800000000000000000000000010002", nil},
		{"width ignored", "[%20pI4|%-20pi4]", []uint64{kIP4, kIP4}, "[192.168.1.2|192.168.001.002]", nil},
		{"suffixes swallowed", "%pI4h|%pI6c|%pi4n", []uint64{kIP4, kIP6, kIP4}, "192.168.1.2|fe80:0000:0000:0000:0000:0000:0001:0002|192.168.001.002", nil},
		{"bad address prints zeros", "%pI4 %pi4 %pI6", []uint64{bad, 0, kTail},
			"0.0.0.0 000.000.000.000 0000:0000:0000:0000:0000:0000:0000:0000", nil},
		{"user address prints zeros", "%pI4", []uint64{uIP4}, "0.0.0.0", nil},
		{"pI5", "%pI5", []uint64{kIP4}, "", unix.EINVAL},
		{"pI", "%pI", []uint64{kIP4}, "", unix.EINVAL},
	})
}

func TestPercentAndText(t *testing.T) {
	runSeqCases(t, Printer{}, nil, []seqCase{
		{"plain", "hello, world\n", nil, "hello, world\n", nil},
		{"whitespace", "a\tb\nc\vd\fe\rf", nil, "a\tb\nc\vd\fe\rf", nil},
		{"percent", "100%%", nil, "100%", nil},
		{"percent then d", "%%d %%%d", []uint64{7}, "%d %7", nil},
		{"UTF-8 text", "caf\xc3\xa9 %d", []uint64{1}, "caf\xc3\xa9 1", nil},
		{"empty", "", nil, "", nil},
	})
}

func TestFormatErrors(t *testing.T) {
	for _, f := range []string{
		"%", "%5", "%12345678", "%--------", "% %", "%-%", "%5%",
		"%5.2d", "%.3s", "%.d", "%#x", "%*d", "%-*d",
		"%hd", "%hhx", "%zu", "%jd", "%td", "%Lu", "%qd",
		"%o", "%n", "%f", "%e", "%g", "%a", "%lc", "%llc", "%ls", "%lp", "%lllx",
		"%p%", "%s%", "%sabc", "%pa", "%pV", "%pD", "%pM", "%pU", "%pE", "%ph", "%pb", "%pd", "%pks1",
		"\x01", "a\x7fb", "\x1b[0m", "%\x80", "%0\xe9",
	} {
		err := Printer{}.Check(z(f), MaxVarargs)
		assert.ErrorIs(t, err, unix.EINVAL, "fmt %q", f)
		_, err = Printer{}.SeqPrintf(z(f), args(1, 2, 3), testMem(), 4096)
		assert.ErrorIs(t, err, unix.EINVAL, "fmt %q", f)
	}
}

func TestArgumentCounts(t *testing.T) {
	p := Printer{}
	twelve := strings.Repeat("%d ", 12)
	out, err := p.SeqPrintf(z(twelve), args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), nil, 4096)
	require.NoError(t, err)
	assert.Equal(t, "1 2 3 4 5 6 7 8 9 10 11 12 ", string(out))

	_, err = p.SeqPrintf(z(twelve+"%d"), args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), nil, 4096)
	assert.ErrorIs(t, err, unix.EINVAL, "13 conversions: EINVAL (not E2BIG since 5.13)")
	_, err = p.SeqPrintf(z("%d"), args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13), nil, 4096)
	assert.ErrorIs(t, err, unix.EINVAL, "data_len 104 > 96")
	_, err = p.SeqPrintf(z("%d"), args(1, 2)[:12], nil, 4096)
	assert.ErrorIs(t, err, unix.EINVAL, "data_len %% 8 != 0")
	_, err = p.SeqPrintf(z("%d %d"), args(1), nil, 4096)
	assert.ErrorIs(t, err, unix.EINVAL, "more conversions than arguments")
	_, err = p.SeqPrintf(z("%d"), nil, nil, 4096)
	assert.ErrorIs(t, err, unix.EINVAL, "no arguments")
	out, err = p.SeqPrintf(z("%d"), args(1, 2, 3), nil, 4096)
	require.NoError(t, err)
	assert.Equal(t, "1", string(out), "extra arguments are ignored")
	out, err = p.SeqPrintf(z("%%"), nil, nil, 4096)
	require.NoError(t, err)
	assert.Equal(t, "%", string(out), "%% takes no argument")
}

func TestFormatSize(t *testing.T) {
	p := Printer{}
	_, err := p.SeqPrintf([]byte("abc"), nil, nil, 4096)
	assert.ErrorIs(t, err, unix.EINVAL, "no NUL within fmt_size")
	_, err = p.SeqPrintf(nil, nil, nil, 4096)
	assert.ErrorIs(t, err, unix.EINVAL, "fmt_size 0")
	out, err := p.SeqPrintf([]byte("ab\x00%d\x01"), nil, nil, 4096)
	require.NoError(t, err)
	assert.Equal(t, "ab", string(out), "bytes after the NUL are ignored")
}

func TestASCIIOnly(t *testing.T) {
	for _, f := range []string{"caf\xc3\xa9", "\x80", "\xff"} {
		assert.NoError(t, Printer{}.Check(z(f), 0), "%q", f)
		assert.ErrorIs(t, Printer{ASCIIOnly: true}.Check(z(f), 0), unix.EINVAL, "%q", f)
	}
}

func TestSeqOverflow(t *testing.T) {
	p := Printer{}
	out, err := p.SeqPrintf(z("12345"), nil, nil, 6)
	require.NoError(t, err)
	assert.Equal(t, "12345", string(out))
	_, err = p.SeqPrintf(z("12345"), nil, nil, 5)
	assert.ErrorIs(t, err, unix.EOVERFLOW, "count + len must stay below size")
	_, err = p.SeqPrintf(z(""), nil, nil, 0)
	assert.ErrorIs(t, err, unix.EOVERFLOW, "an overflowed seq_file stays overflowed")
	_, err = p.SeqPrintf(z("%d"), nil, nil, 0)
	assert.ErrorIs(t, err, unix.EINVAL, "format errors come first")
	out, err = p.SeqPrintf(z("%32767d"), args(1), nil, 32768)
	require.NoError(t, err)
	assert.Len(t, out, 32767)
	_, err = p.SeqPrintf(z("%32768d"), args(1), nil, 32768)
	assert.ErrorIs(t, err, unix.EOVERFLOW)
}

func TestHugeWidthsAreBounded(t *testing.T) {
	p := Printer{}
	f := z(strings.Repeat("%99999999999d", 12))
	a := args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
	start := time.Now()
	_, err := p.SeqPrintf(f, a, nil, 4096)
	assert.ErrorIs(t, err, unix.EOVERFLOW)
	out, ret, err := p.Snprintf(f, a, nil, 16)
	require.NoError(t, err)
	assert.Len(t, out, 16)
	// 99999999999 wraps to 1215752191 in a C int and is clamped to
	// FIELD_WIDTH_MAX.
	assert.Equal(t, 12*fieldWidthMax+1, ret)
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestSnprintf(t *testing.T) {
	p := Printer{}
	mem := testMem()
	for _, c := range []struct {
		name string
		fmt  string
		args []uint64
		size int
		out  string
		ret  int
	}{
		{"fits", "x=%d s=%s", []uint64{42, kHello}, 64, "x=42 s=hello\x00", 13},
		{"size 0 writes nothing", "x=%d", []uint64{42}, 0, "", 5},
		{"size 1", "x=%d", []uint64{42}, 1, "\x00", 5},
		{"truncated", "hello %s!", []uint64{kHello}, 4, "hel\x00", 13},
		{"exact", "%d", []uint64{12345}, 5, "1234\x00", 6},
		{"exact+1", "%d", []uint64{12345}, 6, "12345\x00", 6},
		{"NUL char", "a%cb", []uint64{0}, 8, "a\x00b\x00", 4},
		{"right-aligned cut", "%10s|", []uint64{kHello}, 9, "     hel\x00", 12},
		{"wide", "[%300d]", []uint64{1}, 4, "[  \x00", 303},
		// bstr_printf skips a pre-formatted argument without consuming it
		// once the buffer is full, so %d then reads the text "10.0" of
		// the address as an int.
		{"preformatted at the end", "ab%pI4%d", []uint64{kIP4, 5}, 2, "a\x00", 2 + 9 + 1},
		{"preformatted partly fits", "ab%pI4%d", []uint64{kIP4, 5}, 4, "ab1\x00", 2 + 11 + 1 + 1},
		{"no arguments", "plain", nil, 16, "plain\x00", 6},
	} {
		out, ret, err := p.Snprintf(z(c.fmt), args(c.args...), mem, c.size)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.out, string(out), c.name)
		assert.Equal(t, c.ret, ret, c.name)
	}
	_, _, err := p.Snprintf([]byte("no NUL"), nil, nil, 8)
	assert.ErrorIs(t, err, unix.EINVAL)
	_, _, err = p.Snprintf(z("%d"), args(1)[:7], nil, 8)
	assert.ErrorIs(t, err, unix.EINVAL)
}

func TestPreformattedAtEndReadsText(t *testing.T) {
	// "192.168.1.2" is stored first; with the output full, %d reads its
	// first four bytes "192." as a little-endian int.
	out, ret, err := Printer{}.Snprintf(z("ab%pI4%d"), args(kIP4, 5), testMem(), 2)
	require.NoError(t, err)
	assert.Equal(t, "a\x00", string(out))
	want := len("ab") + len("775043377") + 1 // '1','9','2','.' = 0x2e323931
	assert.Equal(t, want, ret)
}

func TestTracePrintk(t *testing.T) {
	p := Printer{}
	mem := testMem()
	msg, ret, err := p.TracePrintk(z("a=%d b=%s c=%pI4"), [3]uint64{negU(-7), kHello, kIP4}, mem)
	require.NoError(t, err)
	assert.Equal(t, "a=-7 b=hello c=192.168.1.2", string(msg))
	assert.Equal(t, len(msg), ret)

	_, _, err = p.TracePrintk(z("%d %d %d %d"), [3]uint64{1, 2, 3}, mem)
	assert.ErrorIs(t, err, unix.EINVAL, "a fourth conversion")

	msg, ret, err = p.TracePrintk(z("%1000d%50d"), [3]uint64{1, 2}, mem)
	require.NoError(t, err)
	assert.Len(t, msg, MaxBuf-1, "truncated to 1023 bytes")
	assert.Equal(t, 1050, ret, "the untruncated length")

	msg, ret, err = p.TracePrintk(z("before%cafter"), [3]uint64{0}, mem)
	require.NoError(t, err)
	assert.Equal(t, "before", string(msg), "the event copies a C string")
	assert.Equal(t, 12, ret)

	msg, ret, err = p.TraceVprintk(z(strings.Repeat("%d ", 12)), args(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), mem)
	require.NoError(t, err)
	assert.Equal(t, "1 2 3 4 5 6 7 8 9 10 11 12 ", string(msg))
	assert.Equal(t, len(msg), ret)
	_, _, err = p.TraceVprintk(z("%d"), args(1)[:4], mem)
	assert.ErrorIs(t, err, unix.EINVAL)
}

func TestCheck(t *testing.T) {
	p := Printer{}
	assert.NoError(t, p.Check(z("valid %d"), 1))
	assert.NoError(t, p.Check(z("%s %pks %pI4 %c %lld"), 5), "no memory is read")
	assert.ErrorIs(t, p.Check(z("%d %d"), 1), unix.EINVAL)
	assert.ErrorIs(t, p.Check([]byte("0123456789"), 1), unix.EINVAL, "no terminating zero")
	// Verification never needs the 512-byte buffer.
	assert.NoError(t, p.Check(z(strings.Repeat("%s", 12)), 12))
}

func TestSloppyMemory(t *testing.T) {
	// A Memory that returns more than asked, or bytes past a NUL, cannot
	// push the emulation off the kernel's rules.
	out, err := Printer{}.SeqPrintf(z("<%s|%pI4>"), args(1, 2), sloppyMem{}, 4096)
	require.NoError(t, err)
	assert.Equal(t, "<ab|0.0.0.0>", string(out))
}

type sloppyMem struct{}

func (sloppyMem) Read(addr uint64, n int) ([]byte, error) { return make([]byte, n+3), nil }
func (sloppyMem) ReadCString(addr uint64, max int) ([]byte, error) {
	return []byte("ab\x00cd" + strings.Repeat("e", 2*max)), nil
}

func TestSiphash(t *testing.T) {
	// The SipHash-2-4 reference vector for the 8-byte message 00..07 under
	// the key 00..0f.
	key := [2]uint64{0x0706050403020100, 0x0f0e0d0c0b0a0908}
	assert.Equal(t, uint64(0x93f5f5799a932462), siphash1u64(0x0706050403020100, key))
}

func TestOvershootPastBinArgs(t *testing.T) {
	k := make([]byte, 1024)
	copy(k, strings.Repeat("c", 505))
	copy(k[512:], []byte{10, 0, 0, 1})
	mem := &fakeMem{regions: []fakeRegion{{base: kBase, b: k}}}
	ip := uint64(kBase + 512)
	p := Printer{}

	// 6 bytes are left after the string: enough to start %pI4, whose text
	// is then cut to "10.0." but counted in full ("10.0.0.1" and a NUL).
	out, err := p.SeqPrintf(z("%s%pI4"), args(kBase, ip), mem, 4096)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("c", 505)+"10.0.", string(out))

	// tmp_buf is now at 515, past the end, and the unsigned room check
	// passes: the int goes to 516, the char to 520, the string is stored
	// empty at 521 without advancing. bstr_printf, 3 bytes behind, reads
	// the int from 512 (never written: zeros here, stale bytes in the
	// kernel), the char from 516 (the int's low byte) and the string from
	// 517.
	out, err = p.SeqPrintf(z("%s%pI4|%d|%c|%s|"), args(kBase, ip, 7, 'x', kBase), mem, 4096)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("c", 505)+"10.0.|0|\a||", string(out))

	// %pI4 starts with 4 bytes left and fails with 3; %pI6 needs 16.
	_, err = p.SeqPrintf(z("%s%d%pI4"), args(kBase+4, 1, ip), mem, 4096)
	assert.NoError(t, err, "502-byte string, int at 504: 4 left")
	_, err = p.SeqPrintf(z("%s%c%c%c%c%c%c%pI4"), args(kBase+3, 1, 2, 3, 4, 5, 6, ip), mem, 4096)
	assert.ErrorIs(t, err, unix.ENOSPC, "503-byte string and 6 chars: 3 left")
	_, err = p.SeqPrintf(z("%s%pI6"), args(kBase+16, ip), mem, 4096)
	assert.NoError(t, err, "490-byte string: 22 left")
	_, err = p.SeqPrintf(z("%s%c%c%c%c%c%c%c%pI6"), args(kBase+16, 1, 2, 3, 4, 5, 6, 7, ip), mem, 4096)
	assert.ErrorIs(t, err, unix.ENOSPC, "490-byte string and 7 chars: 15 left")

	// %pB has no room check at all: with 0 bytes left it stores nothing
	// and skips its full length.
	// (504 + 1 + 7 bytes fill bin_args exactly.)
	out, err = p.SeqPrintf(z("%s%pB|%pB"), args(kBase+1, 0x1234, 0x5678), mem, 4096)
	require.NoError(t, err)
	assert.Equal(t, strings.Repeat("c", 504)+"0x1234|", string(out))
}
