package fusefs

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseGroups(t *testing.T) {
	for _, tc := range []struct {
		in     string
		groups []uint32
		ok     bool
	}{
		{"Name:\tsh\nUid:\t0\t0\t0\t0\nGroups:\t4 24 1234 \nNSpid:\t1\n", []uint32{4, 24, 1234}, true},
		{"Groups:\t\n", nil, true},
		{"Name:\tsh\n", nil, false},
		{"Groups:\tx\n", nil, false},
	} {
		g, ok := parseGroups([]byte(tc.in))
		assert.Equal(t, tc.ok, ok, tc.in)
		assert.Equal(t, tc.groups, g, tc.in)
	}
}
