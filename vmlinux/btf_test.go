package vmlinux

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// describe renders a type deeply enough to compare two BTF type graphs:
// kinds, names, sizes, encodings, members with offsets, enum values,
// params. Named composite types are expanded once per call.
func describe(t btf.Type) string {
	var w strings.Builder
	seen := map[string]bool{}
	var walk func(t btf.Type)
	walk = func(t btf.Type) {
		switch u := t.(type) {
		case *btf.Void:
			w.WriteString("void")
		case *btf.Int:
			fmt.Fprintf(&w, "int(%s,%d,%v)", u.Name, u.Size, u.Encoding)
		case *btf.Pointer:
			w.WriteString("*")
			walk(u.Target)
		case *btf.Const:
			w.WriteString("const ")
			walk(u.Type)
		case *btf.Volatile:
			w.WriteString("volatile ")
			walk(u.Type)
		case *btf.Array:
			fmt.Fprintf(&w, "[%d]", u.Nelems)
			walk(u.Type)
		case *btf.Typedef:
			fmt.Fprintf(&w, "typedef %s=", u.Name)
			walk(u.Type)
		case *btf.Fwd:
			fmt.Fprintf(&w, "fwd %s %s", u.Kind, u.Name)
		case *btf.Enum:
			fmt.Fprintf(&w, "enum %s(%d,%v){", u.Name, u.Size, u.Signed)
			for _, v := range u.Values {
				fmt.Fprintf(&w, "%s=%d,", v.Name, v.Value)
			}
			w.WriteString("}")
		case *btf.Struct, *btf.Union:
			var (
				kw      = "struct"
				name    string
				size    uint32
				members []btf.Member
			)
			if s, ok := u.(*btf.Struct); ok {
				name, size, members = s.Name, s.Size, s.Members
			} else {
				un := u.(*btf.Union)
				kw, name, size, members = "union", un.Name, un.Size, un.Members
			}
			fmt.Fprintf(&w, "%s %s(%d)", kw, name, size)
			if name != "" && seen[kw+name] {
				return
			}
			seen[kw+name] = true
			w.WriteString("{")
			for _, m := range members {
				fmt.Fprintf(&w, "%s@%d:%d:", m.Name, m.Offset, m.BitfieldSize)
				walk(m.Type)
				w.WriteString(";")
			}
			w.WriteString("}")
		case *btf.FuncProto:
			w.WriteString("fn(")
			for _, p := range u.Params {
				fmt.Fprintf(&w, "%s:", p.Name)
				walk(p.Type)
				w.WriteString(",")
			}
			w.WriteString(")->")
			walk(u.Return)
		case *btf.Func:
			fmt.Fprintf(&w, "func %s %v ", u.Name, u.Linkage)
			walk(u.Type)
		default:
			fmt.Fprintf(&w, "?%T", t)
		}
	}
	walk(t)
	return w.String()
}

func named(l *Layout) []btf.Type {
	return append(append([]btf.Type(nil), l.decls...), l.anchors...)
}

func typeName(t btf.Type) string {
	if n := t.TypeName(); n != "" {
		return n
	}
	return describe(t) // anonymous enums
}

// TestBTFRoundTrip: Spec → Marshal → btf.LoadSpecFromReader gives the same
// types as the layout declares, for both layouts.
func TestBTFRoundTrip(t *testing.T) {
	for _, l := range layouts() {
		t.Run(l.Name(), func(t *testing.T) {
			raw, err := l.Marshal()
			require.NoError(t, err)
			require.Greater(t, len(raw), 24)
			assert.Equal(t, uint16(0xeb9f), binary.LittleEndian.Uint16(raw), "little-endian BTF magic")

			loaded, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
			require.NoError(t, err)
			spec, err := l.Spec()
			require.NoError(t, err)

			// Spec() and the raw blob describe the same types, and both
			// re-marshal to the same bytes.
			b1, err := btf.NewBuilder(allTypes(t, spec), nil)
			require.NoError(t, err)
			b2, err := btf.NewBuilder(allTypes(t, loaded), nil)
			require.NoError(t, err)
			r1, err := b1.Marshal(nil, &btf.MarshalOptions{Order: binary.LittleEndian})
			require.NoError(t, err)
			r2, err := b2.Marshal(nil, &btf.MarshalOptions{Order: binary.LittleEndian})
			require.NoError(t, err)
			assert.Equal(t, r1, r2)
			assert.Equal(t, raw, r2, "decoding and re-encoding is the identity")

			// Every named type comes back as declared.
			for _, want := range named(l) {
				name := want.TypeName()
				if name == "" {
					continue
				}
				got, err := spec.AnyTypesByName(name)
				require.NoError(t, err, name)
				var descs []string
				for _, g := range got {
					descs = append(descs, describe(g))
				}
				assert.Contains(t, descs, describe(want), name)
			}
			// Anonymous enums too.
			var anonEnums []string
			for typ, err := range loaded.All() {
				require.NoError(t, err)
				if e, ok := typ.(*btf.Enum); ok && e.Name == "" {
					anonEnums = append(anonEnums, describe(e))
				}
			}
			var wantAnon []string
			for _, typ := range l.decls {
				if e, ok := typ.(*btf.Enum); ok && e.Name == "" {
					wantAnon = append(wantAnon, describe(e))
				}
			}
			assert.Equal(t, wantAnon, anonEnums)

			// The struct layouts in the Spec are the layout's.
			for _, s := range l.Structs() {
				var st *btf.Struct
				require.NoError(t, spec.TypeByName(s.Name(), &st), s.Name())
				assert.Equal(t, s.Size(), st.Size, s.Name())
				for _, f := range s.Fields() {
					if f.Path == "" {
						continue
					}
					m := memberNamed(st, f.Path)
					require.NotNil(t, m, "%s.%s", s.Name(), f.Path)
					assert.Equal(t, f.Offset, uint32(m.Offset/8), "%s.%s", s.Name(), f.Path)
					assert.Equal(t, f.Size, sizeof(m.Type), "%s.%s", s.Name(), f.Path)
				}
			}
		})
	}
}

func allTypes(t *testing.T, spec *btf.Spec) []btf.Type {
	var out []btf.Type
	for typ, err := range spec.All() {
		require.NoError(t, err)
		if _, ok := typ.(*btf.Void); ok {
			continue
		}
		out = append(out, typ)
	}
	return out
}

func memberNamed(s *btf.Struct, name string) *btf.Member {
	for i := range s.Members {
		if s.Members[i].Name == name {
			return &s.Members[i]
		}
	}
	return nil
}

// TestAttachAnchors: the FUNCs and the tracepoint typedef are in the BTF
// with the kernel's shapes, so the bpf layer can resolve view/cgroup,
// iter/cgroup and tp_btf/sched_stat_wait by name as the kernel does.
func TestAttachAnchors(t *testing.T) {
	for _, l := range layouts() {
		spec, err := l.Spec()
		require.NoError(t, err)

		for _, c := range []struct {
			sec, ret string
			params   []string
		}{
			{"view/cgroup", "int", []string{"seq:*struct seq_file", "cgroup:*struct cgroup"}},
			{"iter/cgroup", "int", []string{"meta:*struct bpf_iter_meta", "cgroup:*struct cgroup"}},
		} {
			name, ok := AttachBTFName(c.sec)
			require.True(t, ok)
			var fn *btf.Func
			require.NoError(t, spec.TypeByName(name, &fn), name)
			assert.Equal(t, btf.StaticFunc, fn.Linkage)
			proto, ok := fn.Type.(*btf.FuncProto)
			require.True(t, ok)
			assert.Equal(t, c.ret, proto.Return.TypeName())
			var params []string
			for _, p := range proto.Params {
				ptr := p.Type.(*btf.Pointer)
				params = append(params, p.Name+":*struct "+ptr.Target.TypeName())
				// The pointee is the complete struct of the layout.
				st, ok := ptr.Target.(*btf.Struct)
				require.True(t, ok, "%s param %s", name, p.Name)
				s, err := l.Struct(st.Name)
				require.NoError(t, err)
				assert.Equal(t, s.Size(), st.Size)
			}
			assert.Equal(t, c.params, params)
		}

		name, ok := AttachBTFName("tp_btf/sched_stat_wait")
		require.True(t, ok)
		var td *btf.Typedef
		require.NoError(t, spec.TypeByName(name, &td))
		ptr, ok := td.Type.(*btf.Pointer)
		require.True(t, ok)
		proto, ok := ptr.Target.(*btf.FuncProto)
		require.True(t, ok)
		assert.IsType(t, &btf.Void{}, proto.Return)
		require.Len(t, proto.Params, 3)
		assert.Equal(t, "*void", strings.ReplaceAll(describe(proto.Params[0].Type), " ", ""))
		assert.Equal(t, "task_struct", proto.Params[1].Type.(*btf.Pointer).Target.TypeName())
		assert.Equal(t, "u64", proto.Params[2].Type.TypeName())
		for _, p := range proto.Params {
			assert.Empty(t, p.Name, "tracepoint args are anonymous, as in vmlinux")
		}
	}
}

// The BTF IDs are stable: types are added in declaration order.
func TestBTFIsDeterministic(t *testing.T) {
	for _, mk := range []func() *Layout{Default, Alternate} {
		a, err := mk().Marshal()
		require.NoError(t, err)
		b, err := mk().Marshal()
		require.NoError(t, err)
		assert.Equal(t, a, b)
	}
	d, _ := Default().Marshal()
	a, _ := Alternate().Marshal()
	assert.NotEqual(t, d, a)
}

func TestDescribeNames(t *testing.T) {
	// Every declared type has a distinct description key, so the round
	// trip test compares what it means to.
	l := Default()
	keys := map[string]bool{}
	for _, typ := range named(l) {
		k := typeName(typ)
		assert.False(t, keys[k], "duplicate %s", k)
		keys[k] = true
	}
}

// BenchmarkSpec is the cost of building a layout's BTF (the loader needs
// one per CO-RE target).
func BenchmarkSpec(b *testing.B) {
	l := Default()
	for b.Loop() {
		if _, err := l.Spec(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLayout is the cost of building a layout.
func BenchmarkLayout(b *testing.B) {
	for b.Loop() {
		Default()
	}
}
