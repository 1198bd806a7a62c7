package btfshow_test

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/simfs/simfs/bpf/btfshow"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// idTypes is a Types over an arbitrary, possibly malformed type graph.
type idTypes []btf.Type

func (ts idTypes) TypeByID(id btf.TypeID) (btf.Type, error) {
	if int(id) >= len(ts) {
		return nil, btf.ErrNotFound
	}
	return ts[id], nil
}

// randomTypes builds a graph of n types that refer to each other freely:
// cycles through values, nil and void targets, bitfields wider than their
// type, offsets past the struct, huge arrays.
func randomTypes(t *rapid.T) idTypes {
	n := rapid.IntRange(1, 12).Draw(t, "n")
	ts := make(idTypes, n+1)
	ts[0] = &btf.Void{}
	for i := 1; i <= n; i++ {
		switch rapid.IntRange(0, 11).Draw(t, "kind") {
		case 0:
			ts[i] = &btf.Int{Name: "i", Size: rapid.SampledFrom([]uint32{0, 1, 2, 3, 4, 8, 16, 17, 1 << 20}).Draw(t, "size"),
				Encoding: btf.IntEncoding(rapid.IntRange(0, 7).Draw(t, "enc"))}
		case 1:
			ts[i] = &btf.Pointer{}
		case 2:
			ts[i] = &btf.Array{Nelems: rapid.SampledFrom([]uint32{0, 1, 3, 17, 1 << 31}).Draw(t, "nelems")}
		case 3:
			ts[i] = &btf.Struct{Name: "s", Size: rapid.Uint32Range(0, 1<<16).Draw(t, "ssize")}
		case 4:
			ts[i] = &btf.Union{Name: "", Size: rapid.Uint32Range(0, 64).Draw(t, "usize")}
		case 5:
			e := &btf.Enum{Name: "e", Size: rapid.SampledFrom([]uint32{1, 2, 4, 8}).Draw(t, "esize"), Signed: rapid.Bool().Draw(t, "signed")}
			for j := rapid.IntRange(0, 3).Draw(t, "nvals"); j > 0; j-- {
				e.Values = append(e.Values, btf.EnumValue{Name: "V", Value: rapid.Uint64().Draw(t, "val")})
			}
			ts[i] = e
		case 6:
			ts[i] = &btf.Typedef{Name: "td"}
		case 7:
			ts[i] = &btf.Const{}
		case 8:
			ts[i] = &btf.Volatile{}
		case 9:
			ts[i] = &btf.Fwd{Name: "f"}
		case 10:
			ts[i] = &btf.Datasec{Name: ".d", Size: 8}
		default:
			ts[i] = &btf.Var{Name: "v"}
		}
	}
	ref := func(label string) btf.Type {
		j := rapid.IntRange(-1, n).Draw(t, label)
		if j < 0 {
			return nil
		}
		return ts[j]
	}
	for _, typ := range ts[1:] {
		switch v := typ.(type) {
		case *btf.Pointer:
			v.Target = ref("target")
		case *btf.Array:
			v.Type = ref("elem")
		case *btf.Typedef:
			v.Type = ref("td")
		case *btf.Const:
			v.Type = ref("const")
		case *btf.Volatile:
			v.Type = ref("volatile")
		case *btf.Var:
			v.Type = ref("var")
		case *btf.Struct:
			v.Members = randomMembers(t, ref)
		case *btf.Union:
			v.Members = randomMembers(t, ref)
		}
	}
	return ts
}

func randomMembers(t *rapid.T, ref func(string) btf.Type) []btf.Member {
	var ms []btf.Member
	for j := rapid.IntRange(0, 4).Draw(t, "nmembers"); j > 0; j-- {
		ms = append(ms, btf.Member{
			Name:         rapid.SampledFrom([]string{"", "m", "a_very_long_member_name_that_goes_on_and_on_and_on_and_on_and_on_and_on"}).Draw(t, "mname"),
			Type:         ref("mtype"),
			Offset:       btf.Bits(rapid.SampledFrom([]uint32{0, 3, 8, 64, 200, 1 << 30}).Draw(t, "moff")),
			BitfieldSize: btf.Bits(rapid.SampledFrom([]uint32{0, 0, 1, 7, 64, 130, 255}).Draw(t, "mbits")),
		})
	}
	return ms
}

// TestNeverPanics: any type graph, any bytes, any flags and type id: Show
// returns, and its output is bounded by its step budget.
func TestNeverPanics(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ts := randomTypes(t)
		data := rapid.SliceOfN(rapid.Byte(), 0, 96).Draw(t, "data")
		off := rapid.Uint64Range(0, 100).Draw(t, "off")
		id := btf.TypeID(rapid.IntRange(0, len(ts)).Draw(t, "id"))
		flags := rapid.Uint64Range(0, 31).Draw(t, "flags")
		const steps = 2000
		var out bytes.Buffer
		full := rapid.IntRange(1, 1<<16).Draw(t, "room")
		btfshow.Show(btfshow.Config{Types: ts, Mem: mem{base, data}, Flags: flags, MaxSteps: steps,
			Emit: func(p []byte) bool { out.Write(p); return out.Len() < full }}, id, base+off)
		if out.Len() > full+4*1024 {
			t.Fatalf("output %d bytes past a room of %d", out.Len(), full)
		}
	})
}

// FuzzRawBTF feeds raw BTF (seeded with the simulator's vmlinux) and raw
// object bytes through Show for every type id.
func FuzzRawBTF(f *testing.F) {
	raw, err := vmlinux.Default().Marshal()
	require.NoError(f, err)
	f.Add(raw, []byte("some object bytes, some object bytes, some object bytes"), uint8(0))
	f.Fuzz(func(t *testing.T, raw, data []byte, flags uint8) {
		spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
		if err != nil {
			return
		}
		for id := btf.TypeID(0); id < 2000; id++ {
			if _, err := spec.TypeByID(id); err != nil {
				break
			}
			var n int
			btfshow.Show(btfshow.Config{Types: spec, Mem: mem{base, data}, Flags: uint64(flags), MaxSteps: 5000,
				Emit: func(p []byte) bool { n += len(p); return n < 1<<20 }}, id, base)
		}
	})
}

// The vmlinux layout's every type shows over zeros without error.
func TestVmlinuxTypes(t *testing.T) {
	for _, l := range []*vmlinux.Layout{vmlinux.Default(), vmlinux.Alternate()} {
		spec, err := l.Spec()
		require.NoError(t, err)
		zeros := make([]byte, 8192)
		binary.LittleEndian.PutUint64(zeros, 1)
		for id := btf.TypeID(1); ; id++ {
			typ, err := spec.TypeByID(id)
			if err != nil {
				break
			}
			_, st := btfshow.Format(btfshow.Config{Types: spec, Mem: mem{base, zeros}}, id, base)
			switch typ.(type) {
			case *btf.Func, *btf.FuncProto, *btf.Fwd, *btf.Datasec, *btf.Var:
			default:
				require.Zero(t, st, "%s: %v", l.Name(), typ)
			}
		}
	}
}
