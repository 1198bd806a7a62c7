package interp_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/simfs/simfs/interp"
	"github.com/simfs/simfs/interp/bpfasm"
	"github.com/simfs/simfs/interp/conformance"
)

// unwind is uBPF's helper 5, which the suite's call_unwind_fail test uses.
func unwind(_ *interp.Call, r1, _, _, _, _ uint64) (uint64, error) {
	if r1 == 0 {
		return 0, interp.ErrExit
	}
	return r1, nil
}

// runSuiteProgram runs code the way the conformance plugin does.
func runSuiteProgram(code, mem []byte) (uint64, error) {
	prog, err := interp.LoadRaw(code, interp.Options{
		Profile:        interp.ISA,
		AllowedHelpers: func(id int32) bool { return id == 5 },
	})
	if err != nil {
		return 0, err
	}
	if mem == nil {
		mem = []byte{}
	}
	res, err := prog.Run(&interp.RunOptions{
		Ctx:     mem,
		Regs:    [5]uint64{0, uint64(len(mem))},
		Helpers: []interp.Helper{5: unwind},
	})
	return res.R0, err
}

// TestConformance runs every .data file of bpf_conformance in place (from
// $BPF_CONFORMANCE_DIR) at cpu v4, through the assembler and through the raw
// section when there is one.
func TestConformance(t *testing.T) {
	dir := conformance.Dir()
	if dir == "" {
		t.Skip("BPF_CONFORMANCE_DIR is not set")
	}
	files, err := conformance.Files(filepath.Join(dir, "tests"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var passed, failed, viaAsm, viaRaw int
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			tf, err := conformance.Parse(f)
			require.NoError(t, err)
			require.Empty(t, tf.Unknown)
			require.True(t, tf.HasResult || tf.HasError, "a test with neither result nor error")
			var variants []string
			codes := map[string][]byte{}
			if tf.HasAsm {
				code, err := bpfasm.Assemble(tf.Asm)
				require.NoError(t, err)
				variants = append(variants, "asm")
				codes["asm"] = code
			}
			if len(tf.RawTokens) > 0 {
				code, err := tf.RawWords()
				require.NoError(t, err)
				variants = append(variants, "raw")
				codes["raw"] = code
			}
			require.NotEmpty(t, variants)
			ok := true
			for _, v := range variants {
				r0, err := runSuiteProgram(codes[v], tf.Mem)
				if tf.HasError && tf.Error != "" {
					ok = assert.Error(t, err, "%s: expected error %q", v, tf.Error) && ok
					continue
				}
				if !assert.NoError(t, err, v) {
					ok = false
					continue
				}
				ok = assert.Equal(t, fmt.Sprintf("%#x", tf.Result), fmt.Sprintf("%#x", r0), v) && ok
				if v == "asm" {
					viaAsm++
				} else {
					viaRaw++
				}
			}
			if ok {
				passed++
			} else {
				failed++
			}
		})
	}
	t.Logf("conformance tests/: %d files, %d passed, %d failed (%d runs via the assembler, %d via raw sections)",
		len(files), passed, failed, viaAsm, viaRaw)
	assert.Zero(t, failed)
}

// TestConformanceNegative checks that every negative/*.data is rejected (by
// the test parser, the assembler, the loader or at run time) or gives a
// result other than the one it states.
func TestConformanceNegative(t *testing.T) {
	dir := conformance.Dir()
	if dir == "" {
		t.Skip("BPF_CONFORMANCE_DIR is not set")
	}
	files, err := conformance.Files(filepath.Join(dir, "negative"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	outcomes := map[string]int{}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			tf, err := conformance.Parse(f)
			require.NoError(t, err)
			outcome := func() string {
				switch {
				case tf.Unknown != "":
					return "unknown directive"
				case !tf.HasAsm && len(tf.RawTokens) == 0:
					return "no program"
				}
				var code []byte
				if len(tf.RawTokens) > 0 {
					// The suite's runner reads each token as a 64-bit word;
					// the unused-* files are written as bytes. Both
					// readings must be rejected; the byte reading must be
					// rejected for the field the file is about.
					words, err := tf.RawWords()
					require.NoError(t, err)
					_, err = runSuiteProgram(words, tf.Mem)
					require.Error(t, err, "word reading of the raw section")
					if b, ok := tf.RawBytes(); ok {
						_, err := runSuiteProgram(b, tf.Mem)
						var le *interp.LoadError
						require.ErrorAs(t, err, &le, "byte reading of the raw section")
						assert.ErrorIs(t, err, syscall.EINVAL)
						if strings.HasPrefix(name, "unused-") {
							assert.Contains(t, le.Msg, "reserved fields")
							assert.Equal(t, 0, le.Index)
						}
					}
					return "rejected at load"
				}
				code, err := bpfasm.Assemble(tf.Asm)
				if err != nil {
					return "assembler error"
				}
				r0, err := runSuiteProgram(code, tf.Mem)
				var le *interp.LoadError
				switch {
				case errors.As(err, &le):
					return "rejected at load"
				case err != nil:
					return "run-time error"
				case tf.HasError && tf.Error != "":
					return "ran although an error was expected"
				case tf.HasResult && r0 != tf.Result:
					return "result differs"
				}
				t.Errorf("%s passed: r0=%#x", name, r0)
				return "passed"
			}()
			outcomes[outcome]++
		})
	}
	t.Logf("conformance negative/: %d files: %v", len(files), outcomes)
	assert.Zero(t, outcomes["passed"])
}
