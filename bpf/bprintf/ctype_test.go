package bprintf

import "testing"

// TestCtype checks ctype against lib/ctype.c's _ctype table.
func TestCtype(t *testing.T) {
	table := [256]uint8{
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
	for c := 0; c < 256; c++ {
		if got := ctype(byte(c)); got != table[c] {
			t.Errorf("ctype(%#x) = %#x, want %#x", c, got, table[c])
		}
	}
}
