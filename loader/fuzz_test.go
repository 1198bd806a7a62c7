package loader

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// FuzzLoad feeds arbitrary bytes, seeded with the committed objects and
// mutations of them, to Load: it must return an *Error or an object, never
// panic or hang.
func FuzzLoad(f *testing.F) {
	target := targetBTF(f, defaultLayout)
	for _, path := range []string{cgroupIter, pinningObj, featuresObj} {
		obj := readFile(f, path)
		f.Add(obj)
		// Truncations at the ELF header, the first section and the end.
		for _, n := range []int{16, 64, 200, len(obj) / 3, len(obj) - 100} {
			f.Add(obj[:n])
		}
		// Flipped bytes in the ELF header fields and in the section
		// header table.
		shoff := int(binary.LittleEndian.Uint64(obj[0x28:]))
		for _, off := range []int{5, 18, 0x28, 0x3a, 0x3c, 0x3e, shoff + 64 + 4, shoff + 64 + 32, shoff + 128 + 24} {
			if off < len(obj) {
				m := bytes.Clone(obj)
				m[off] ^= 0xff
				f.Add(m)
			}
		}
	}
	f.Add([]byte{})
	f.Add([]byte("\x7fELF"))

	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := Load(bytes.NewReader(data), target)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) || le.Errno == 0 {
				t.Fatalf("error without errno: %T %v", err, err)
			}
			if obj != nil {
				t.Fatal("object and error")
			}
			return
		}
		for _, p := range obj.Programs {
			for _, r := range p.MapRefs {
				if obj.Map(r.Map) == nil {
					t.Fatalf("program %s references missing map %s", p.Name, r.Map)
				}
			}
			insns, err := p.Resolve(func(r MapRef) (uint64, error) { return 1<<32 + uint64(r.Offset), nil })
			if err != nil {
				t.Fatal(err)
			}
			_ = insns.Marshal(io.Discard, binary.LittleEndian)
		}
		for _, v := range obj.Variables {
			_ = obj.SetVariable(v.Name, make([]byte, v.Size))
		}
	})
}
