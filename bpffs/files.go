package bpffs

import (
	"bytes"
	"fmt"
	"sort"
	"sync"

	"github.com/cilium/ebpf/btf"
	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

func sortNewestFirst(ents []vfs.Dirent) {
	sort.Slice(ents, func(i, j int) bool { return ents[i].Seq > ents[j].Seq })
}

// fileOps picks the file operations bpf_mkprog, bpf_mkmap and bpf_mklink
// pick.
func (fs *FS) fileOps(obj bpf.Object) vfs.FileOps {
	switch o := obj.(type) {
	case *bpf.Map:
		if o.Spec().BTF != nil {
			return &mapFile{m: o}
		}
	case *bpf.Link:
		if it, ok := o.Ops().(bpf.IterLink); ok {
			return &iterFile{it: it}
		}
	}
	return eioOps{}
}

// eioOps is bpffs_obj_fops: open fails with EIO.
type eioOps struct{}

func (eioOps) Open(*vfs.File) error                             { return unix.EIO }
func (eioOps) Read(*vfs.File, []byte, int64) (int, error)       { return 0, unix.EIO }
func (eioOps) Write(*vfs.File, []byte, int64) (int, error)      { return 0, unix.EIO }
func (eioOps) Release(*vfs.File)                                {}
func (eioOps) Seek(*vfs.File, int64, int64, int) (int64, error) { return 0, unix.ESPIPE }

// preloadOps answers like this kernel's maps.debug and progs.debug.
type preloadOps struct{}

func (preloadOps) Open(*vfs.File) error                        { return unix.ENOENT }
func (preloadOps) Read(*vfs.File, []byte, int64) (int, error)  { return 0, unix.ENOENT }
func (preloadOps) Write(*vfs.File, []byte, int64) (int, error) { return 0, unix.ENOENT }
func (preloadOps) Release(*vfs.File)                           {}

// iterFile is bpf_iter_fops: a new session per open, read sequentially,
// no lseek, writes EINVAL.
type iterFile struct {
	it bpf.IterLink
}

type iterState struct {
	mu   sync.Mutex
	sess *bpf.IterSession
}

func (f *iterFile) Open(file *vfs.File) error {
	sess, err := f.it.NewSession(file.Caller().Task)
	if err != nil {
		return err
	}
	file.Private = &iterState{sess: sess}
	return nil
}

func (f *iterFile) Read(file *vfs.File, p []byte, off int64) (int, error) {
	st := file.Private.(*iterState)
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sess.Read(p)
}

func (f *iterFile) Write(*vfs.File, []byte, int64) (int, error) { return 0, unix.EINVAL }

func (f *iterFile) Release(file *vfs.File) {
	if st, ok := file.Private.(*iterState); ok {
		st.sess.Close()
	}
}

func (f *iterFile) Seek(*vfs.File, int64, int64, int) (int64, error) { return 0, unix.ESPIPE }

// mapFile is bpffs_map_fops: a seq_file that prints two warning lines and
// one line per element, keyed by get_next_key order; no lseek, writes
// EINVAL. The text is produced at the first read and served from the
// per-open snapshot.
type mapFile struct {
	m *bpf.Map
}

type mapState struct {
	mu   sync.Mutex
	text []byte
	done bool
}

func (f *mapFile) Open(file *vfs.File) error {
	file.Private = &mapState{}
	return nil
}

func (f *mapFile) Read(file *vfs.File, p []byte, off int64) (int, error) {
	st := file.Private.(*mapState)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.done {
		st.text = f.render()
		st.done = true
	}
	if off >= int64(len(st.text)) {
		return 0, nil
	}
	return copy(p, st.text[off:]), nil
}

func (f *mapFile) render() []byte {
	var b bytes.Buffer
	b.WriteString("# WARNING!! The output is for debug purpose only\n")
	b.WriteString("# WARNING!! The output format will change\n")
	spec := f.m.Spec()
	var key []byte
	for {
		next, err := f.m.NextKey(key)
		if err != nil {
			break
		}
		key = next
		val, err := f.m.Lookup(key)
		if err != nil {
			continue
		}
		switch spec.Type {
		case bpf.MapArray, bpf.MapPercpuArray:
			fmt.Fprintf(&b, "%d: ", le32(key))
			b.WriteString(formatBTF(spec.BTF.Value, val))
		default:
			b.WriteString(formatBTF(spec.BTF.Key, key))
			b.WriteString(": ")
			b.WriteString(formatBTF(spec.BTF.Value, val))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

func (f *mapFile) Write(*vfs.File, []byte, int64) (int, error) { return 0, unix.EINVAL }
func (f *mapFile) Release(*vfs.File)                           {}
func (f *mapFile) Seek(*vfs.File, int64, int64, int) (int64, error) {
	return 0, unix.ESPIPE
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// formatBTF renders a value the way btf_type_seq_show does for the common
// cases: integers in decimal (chars as 'c' when printable), arrays and
// structs in braces, section data as its variables.
func formatBTF(t btf.Type, b []byte) string {
	var out bytes.Buffer
	showBTF(&out, t, b)
	return out.String()
}

func showBTF(out *bytes.Buffer, t btf.Type, b []byte) {
	t = btf.UnderlyingType(t)
	switch tt := t.(type) {
	case *btf.Int:
		showInt(out, tt, b)
	case *btf.Enum:
		showUint(out, b, int(tt.Size), tt.Signed)
	case *btf.Pointer:
		fmt.Fprintf(out, "%d", leN(b, 8))
	case *btf.Array:
		esz, err := btf.Sizeof(tt.Type)
		if err != nil || esz == 0 {
			out.WriteString("[]")
			return
		}
		out.WriteByte('[')
		for i := 0; i < int(tt.Nelems) && (i+1)*esz <= len(b); i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			showBTF(out, tt.Type, b[i*esz:(i+1)*esz])
		}
		out.WriteByte(']')
	case *btf.Struct:
		showMembers(out, tt.Members, b)
	case *btf.Union:
		showMembers(out, tt.Members, b)
	case *btf.Datasec:
		fmt.Fprintf(out, "section (\"%s\") = {", tt.Name)
		for i, v := range tt.Vars {
			if i > 0 {
				out.WriteByte(',')
			}
			end := int(v.Offset + v.Size)
			if end > len(b) {
				break
			}
			vt := v.Type
			if vv, ok := vt.(*btf.Var); ok {
				vt = vv.Type
			}
			showBTF(out, vt, b[v.Offset:end])
		}
		out.WriteByte('}')
	default:
		fmt.Fprintf(out, "%x", b)
	}
}

func showMembers(out *bytes.Buffer, ms []btf.Member, b []byte) {
	out.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			out.WriteByte(',')
		}
		off := int(m.Offset / 8)
		sz, err := btf.Sizeof(m.Type)
		if err != nil || off+sz > len(b) {
			out.WriteString("?")
			continue
		}
		showBTF(out, m.Type, b[off:off+sz])
	}
	out.WriteByte('}')
}

func showInt(out *bytes.Buffer, t *btf.Int, b []byte) {
	if t.Encoding&btf.Char != 0 && t.Size == 1 {
		c := b[0]
		if c >= 0x20 && c < 0x7f {
			fmt.Fprintf(out, "'%c'", c)
		} else {
			fmt.Fprintf(out, "%d", c)
		}
		return
	}
	if t.Encoding&btf.Bool != 0 {
		if b[0] != 0 {
			out.WriteString("true")
		} else {
			out.WriteString("false")
		}
		return
	}
	showUint(out, b, int(t.Size), t.Encoding&btf.Signed != 0)
}

func showUint(out *bytes.Buffer, b []byte, size int, signed bool) {
	v := leN(b, size)
	if signed {
		shift := uint(64 - 8*size)
		fmt.Fprintf(out, "%d", int64(v<<shift)>>shift)
		return
	}
	fmt.Fprintf(out, "%d", v)
}

func leN(b []byte, n int) uint64 {
	var v uint64
	for i := 0; i < n && i < len(b) && i < 8; i++ {
		v |= uint64(b[i]) << (8 * i)
	}
	return v
}
