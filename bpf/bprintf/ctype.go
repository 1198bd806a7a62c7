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

var ctypeTable = [256]uint8{
	ctC, ctC, ctC, ctC, ctC, ctC, ctC, ctC, // 0-7
	ctC, ctC | ctS, ctC | ctS, ctC | ctS, ctC | ctS, ctC | ctS, ctC, ctC, // 8-15
	ctC, ctC, ctC, ctC, ctC, ctC, ctC, ctC, // 16-23
	ctC, ctC, ctC, ctC, ctC, ctC, ctC, ctC, // 24-31
	ctS | ctSP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, // 32-39
	ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, // 40-47
	ctD, ctD, ctD, ctD, ctD, ctD, ctD, ctD, // 48-55
	ctD, ctD, ctP, ctP, ctP, ctP, ctP, ctP, // 56-63
	ctP, ctU | ctX, ctU | ctX, ctU | ctX, ctU | ctX, ctU | ctX, ctU | ctX, ctU, // 64-71
	ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, // 72-79
	ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, // 80-87
	ctU, ctU, ctU, ctP, ctP, ctP, ctP, ctP, // 88-95
	ctP, ctL | ctX, ctL | ctX, ctL | ctX, ctL | ctX, ctL | ctX, ctL | ctX, ctL, // 96-103
	ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, // 104-111
	ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, // 112-119
	ctL, ctL, ctL, ctP, ctP, ctP, ctP, ctC, // 120-127
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 128-143
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // 144-159
	ctS | ctSP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, // 160-175
	ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, ctP, // 176-191
	ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctU, // 192-207
	ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctP, ctU, ctU, ctU, ctU, ctU, ctU, ctU, ctL, // 208-223
	ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, // 224-239
	ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctP, ctL, ctL, ctL, ctL, ctL, ctL, ctL, ctL, // 240-255
}

func isprint(c byte) bool { return ctypeTable[c]&(ctP|ctU|ctL|ctD|ctSP) != 0 }
func isspace(c byte) bool { return ctypeTable[c]&ctS != 0 }
func ispunct(c byte) bool { return ctypeTable[c]&ctP != 0 }
func isalnum(c byte) bool { return ctypeTable[c]&(ctU|ctL|ctD) != 0 }
func isdigit(c byte) bool { return ctypeTable[c]&ctD != 0 }
func isascii(c byte) bool { return c <= 0x7f }
