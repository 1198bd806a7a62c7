package bpfview_test

import (
	"flag"
	"os"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines and lets SIMFS_RAPID_CHECKS and
// SIMFS_RAPID_STEPS raise the property tests' budget (rapid's defaults,
// 100 checks of about 30 steps, keep `go test -race` short).
func TestMain(m *testing.M) {
	flag.Parse()
	// More steps than rapid's default (30): the lifecycle needs a few to
	// reach interesting states (load, link, pin, expose).
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.steps" })
	if !set {
		if err := flag.Set("rapid.steps", "100"); err != nil {
			panic(err)
		}
	}
	for env, fl := range map[string]string{"SIMFS_RAPID_CHECKS": "rapid.checks", "SIMFS_RAPID_STEPS": "rapid.steps"} {
		if v := os.Getenv(env); v != "" {
			if err := flag.Set(fl, v); err != nil {
				panic(err)
			}
		}
	}
	goleak.VerifyTestMain(m)
}

// viewMapProg is the seed's wait_show with its map: it looks the cgroup's
// id up in the hash map mapFD (8-byte keys and values) and prints
// "<cgroup id> <value>\n", or "<cgroup id> <dflt>\n" when the id has no
// entry; it returns ret.
func viewMapProg(t require.TestingT, l *vmlinux.Layout, mapFD int, dflt int64, ret int32) asm.Instructions {
	kn, err := l.Offset("cgroup", "kn")
	require.NoError(t, err)
	id, err := l.Offset("kernfs_node", "id")
	require.NoError(t, err)
	format := "%llu %lld\n"
	words := cstring(format)
	fmtOff := int16(-24 - 8*len(words))
	skip := asm.JEq.Imm(asm.R0, 0, "")
	skip.Offset = 2
	insns := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord), // seq
		asm.LoadMem(asm.R7, asm.R1, 8, asm.DWord), // cgroup
		asm.LoadMem(asm.R8, asm.R7, int16(kn), asm.DWord),
		asm.LoadMem(asm.R8, asm.R8, int16(id), asm.DWord),
		asm.StoreMem(asm.RFP, -16, asm.R8, asm.DWord), // args[0]
		asm.StoreMem(asm.RFP, -24, asm.R8, asm.DWord), // the key
		asm.LoadImm(asm.R9, dflt, asm.DWord),
		asm.StoreMem(asm.RFP, -8, asm.R9, asm.DWord), // args[1]
		asm.LoadMapPtr(asm.R1, mapFD),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -24),
		asm.FnMapLookupElem.Call(),
		skip,
		asm.LoadMem(asm.R9, asm.R0, 0, asm.DWord),
		asm.StoreMem(asm.RFP, -8, asm.R9, asm.DWord),
	}
	return appendSeqPrintf(insns, format, fmtOff, ret)
}
