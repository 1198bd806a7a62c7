package cgroup

import (
	"math"

	"golang.org/x/sys/unix"
)

// isSpace is the kernel's isspace (lib/ctype.c): the C spaces plus 0xa0,
// which the kernel's Latin-1 table also counts.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r', 0xa0:
		return true
	}
	return false
}

func skipSpaces(s string) string {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	return s
}

// strstrip is the kernel's strstrip: leading and trailing whitespace go.
func strstrip(s string) string {
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return skipSpaces(s)
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isXDigit(c byte) bool {
	c = toLower(c)
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}

// fixupRadix is _parse_integer_fixup_radix.
func fixupRadix(s string, base uint64) (string, uint64) {
	if base == 0 {
		if len(s) > 0 && s[0] == '0' {
			if len(s) > 2 && toLower(s[1]) == 'x' && isXDigit(s[2]) {
				base = 16
			} else {
				base = 8
			}
		} else {
			base = 10
		}
	}
	if base == 16 && len(s) > 1 && s[0] == '0' && toLower(s[1]) == 'x' {
		s = s[2:]
	}
	return s, base
}

// parseInteger is _parse_integer: it returns the value (wrapping), how
// many characters it used and whether the value overflowed 64 bits.
func parseInteger(s string, base uint64) (res uint64, n int, overflow bool) {
	for n < len(s) {
		c := s[n]
		lc := toLower(c)
		var val uint64
		switch {
		case '0' <= c && c <= '9':
			val = uint64(c - '0')
		case 'a' <= lc && lc <= 'f':
			val = uint64(lc-'a') + 10
		default:
			return res, n, overflow
		}
		if val >= base {
			return res, n, overflow
		}
		if res&0xf000000000000000 != 0 && res > (math.MaxUint64-val)/base {
			overflow = true
		}
		res = res*base + val
		n++
	}
	return res, n, overflow
}

// kstrtoull0 is _kstrtoull: the whole string must be a number, with one
// trailing newline allowed.
func kstrtoull0(s string, base uint64) (uint64, error) {
	s, base = fixupRadix(s, base)
	res, n, overflow := parseInteger(s, base)
	if overflow {
		return 0, unix.ERANGE
	}
	if n == 0 {
		return 0, unix.EINVAL
	}
	s = s[n:]
	if len(s) > 0 && s[0] == '\n' {
		s = s[1:]
	}
	if s != "" {
		return 0, unix.EINVAL
	}
	return res, nil
}

// kstrtoll is the kernel's kstrtoll.
func kstrtoll(s string, base uint64) (int64, error) {
	if len(s) > 0 && s[0] == '-' {
		tmp, err := kstrtoull0(s[1:], base)
		if err != nil {
			return 0, err
		}
		if int64(-tmp) > 0 {
			return 0, unix.ERANGE
		}
		return int64(-tmp), nil
	}
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	tmp, err := kstrtoull0(s, base)
	if err != nil {
		return 0, err
	}
	if int64(tmp) < 0 {
		return 0, unix.ERANGE
	}
	return int64(tmp), nil
}

// kstrtoint is the kernel's kstrtoint (EINVAL for garbage, ERANGE when
// the value does not fit an int).
func kstrtoint(s string, base uint64) (int, error) {
	v, err := kstrtoll(s, base)
	if err != nil {
		return 0, err
	}
	if v != int64(int32(v)) {
		return 0, unix.ERANGE
	}
	return int(v), nil
}

// scanTwoUint is vsscanf(buf, "<word> %u %u", &a, &b) == 2: the word must
// match exactly at the start; each %u skips whitespace and needs a decimal
// digit; the value wraps to 32 bits; anything after the second number is
// ignored.
func scanTwoUint(s, word string) (a, b uint32, ok bool) {
	if len(s) < len(word) || s[:len(word)] != word {
		return 0, 0, false
	}
	s = s[len(word):]
	var out [2]uint32
	for i := range out {
		s = skipSpaces(s)
		if s == "" || s[0] < '0' || s[0] > '9' {
			return 0, 0, false
		}
		v, n, _ := parseInteger(s, 10)
		out[i] = uint32(v)
		s = s[n:]
	}
	return out[0], out[1], true
}
