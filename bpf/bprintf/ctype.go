package bprintf

// Character classes of the kernel's lib/ctype.c. The kernel classifies all
// 256 byte values (Latin-1 above 0x9f), and since Linux 6.2 char is unsigned,
// so a byte like 0xe9 is a letter (isalnum) and 0xa0 a space for the kernel's
// isspace/isalnum/ispunct, unlike Go's or C's "C" locale.
const (
	ctU  = 0x01 // upper
	ctL  = 0x02 // lower
	ctD  = 0x04 // digit
	ctC  = 0x08 // cntrl
	ctP  = 0x10 // punct
	ctS  = 0x20 // white space (space/lf/tab)
	ctX  = 0x40 // hex digit
	ctSP = 0x80 // hard space (0x20)
)

// ctype is _ctype[c]: the class bits of byte c.
func ctype(c byte) uint8 {
	switch {
	case c == ' ':
		return ctS | ctSP
	case c >= '\t' && c <= '\r':
		return ctC | ctS
	case c < ' ' || c == 0x7f:
		return ctC
	case c >= '0' && c <= '9':
		return ctD
	case c >= 'A' && c <= 'F':
		return ctU | ctX
	case c >= 'A' && c <= 'Z':
		return ctU
	case c >= 'a' && c <= 'f':
		return ctL | ctX
	case c >= 'a' && c <= 'z':
		return ctL
	case c < 0x7f: // the rest of printable ASCII
		return ctP
	case c < 0xa0: // 0x80-0x9f: no class at all
		return 0
	case c == 0xa0: // no-break space
		return ctS | ctSP
	case c <= 0xbf || c == 0xd7 || c == 0xf7:
		return ctP
	case c <= 0xde:
		return ctU
	default:
		return ctL
	}
}

func isprint(c byte) bool { return ctype(c)&(ctP|ctU|ctL|ctD|ctSP) != 0 }
func isspace(c byte) bool { return ctype(c)&ctS != 0 }
func ispunct(c byte) bool { return ctype(c)&ctP != 0 }
func isalnum(c byte) bool { return ctype(c)&(ctU|ctL|ctD) != 0 }
func isdigit(c byte) bool { return ctype(c)&ctD != 0 }
func isascii(c byte) bool { return c <= 0x7f }
