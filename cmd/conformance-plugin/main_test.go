package main

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simfs/simfs/interp/conformance"
)

// spaced renders bytes the way the suite's runner writes them: "xx " each.
func spaced(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		fmt.Fprintf(&sb, "%02x ", c)
	}
	return sb.String()
}

// TestProtocol drives the plugin through its protocol with the reference
// bytes and memory of every compiled.tsv row.
func TestProtocol(t *testing.T) {
	dir := conformance.Dir()
	if dir == "" {
		t.Skip("BPF_CONFORMANCE_DIR is not set")
	}
	rows, err := conformance.ReadCompiled(filepath.Join(dir, "compiled.tsv"))
	require.NoError(t, err)
	var passed, rejected int
	for _, row := range rows {
		if row.AsmError || len(row.Code) == 0 {
			continue
		}
		t.Run(row.Name, func(t *testing.T) {
			mem, err := hex.DecodeString(strings.ReplaceAll(row.Mem, " ", ""))
			require.NoError(t, err)
			args := []string{}
			if len(mem) > 0 {
				args = append(args, hex.EncodeToString(mem))
			}
			r0, err := run(args, strings.NewReader(spaced(row.Code)))
			if strings.HasPrefix(row.Name, "negative/") {
				if err != nil {
					rejected++
					return
				}
				want, perr := strconv.ParseUint(strings.TrimPrefix(row.Result, "0x"), 16, 64)
				assert.True(t, perr != nil || want != r0 || row.Error != "", "negative test passed")
				rejected++
				return
			}
			require.NoError(t, err)
			want, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(row.Result), "0x"), 16, 64)
			require.NoError(t, err)
			assert.Equal(t, want, r0)
			passed++
		})
	}
	t.Logf("plugin: %d tests passed, %d negative cases rejected or mismatched", passed, rejected)
}

func TestProtocolOptions(t *testing.T) {
	// --program instead of stdin, runner options ignored, no memory.
	r0, err := run([]string{"--program", "b7000000070000009500000000000000", "--debug"}, strings.NewReader(""))
	require.NoError(t, err)
	assert.EqualValues(t, 7, r0)
	// r2 is the memory's length.
	r0, err = run([]string{"aabbcc"}, strings.NewReader("bf 20 00 00 00 00 00 00 95 00 00 00 00 00 00 00"))
	require.NoError(t, err)
	assert.EqualValues(t, 3, r0)
	_, err = run(nil, strings.NewReader("zz"))
	assert.Error(t, err)
	_, err = run([]string{"--elf"}, strings.NewReader(""))
	assert.Error(t, err)
	_, err = run(nil, strings.NewReader("95 01 00 00 00 00 00 00"))
	assert.ErrorContains(t, err, "reserved fields")
}
