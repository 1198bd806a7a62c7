package kernfs_test

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/simfs/simfs/kernfs"
	"github.com/simfs/simfs/seqfile"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

// mnode is the model of a kernfs node.
type mnode struct {
	id       uint64
	name     string
	parent   *mnode
	dir      bool
	removed  bool
	children map[string]*mnode
	node     *kernfs.Node
}

func (m *mnode) path() string {
	if m.parent == nil {
		return mnt
	}
	return m.parent.path() + "/" + m.name
}

func (m *mnode) gone() bool {
	for p := m; p != nil; p = p.parent {
		if p.removed {
			return true
		}
	}
	return false
}

func content(id uint64) string {
	return fmt.Sprintf("file %d\n%s\n", id, strings.Repeat("x", int(id%40)))
}

// mfile is the model of an open file.
type mfile struct {
	f       *vfs.File
	n       *mnode
	pos     int64 // the file position
	readPos int64 // seq_file's read_pos
	idx     int   // seq_file's index
	left    string
	closed  bool
}

type kernfsMachine struct {
	e        *env
	root     *mnode
	nodes    []*mnode
	files    []*mfile
	lastID   uint64
	releases map[*kernfs.OpenFile]int
	ops      *kernfs.Ops
}

func (m *kernfsMachine) init(t *rapid.T) {
	m.e = newEnv(t, kernfs.RootOptions{})
	m.root = &mnode{id: 1, dir: true, children: map[string]*mnode{}, node: m.e.r.Node()}
	m.nodes = []*mnode{m.root}
	m.lastID = 1
	m.releases = map[*kernfs.OpenFile]int{}
	m.ops = &kernfs.Ops{
		SeqShow: func(of *kernfs.OpenFile, b *seqfile.Buffer) error {
			_, _ = b.WriteString(content(of.Node().ID()))
			return nil
		},
		Write:   func(of *kernfs.OpenFile, buf []byte, off int64) (int, error) { return len(buf), nil },
		Release: func(of *kernfs.OpenFile) { m.releases[of]++ },
	}
}

func (m *kernfsMachine) pick(t *rapid.T, label string, ok func(*mnode) bool) *mnode {
	var cands []*mnode
	for _, n := range m.nodes {
		if ok(n) {
			cands = append(cands, n)
		}
	}
	if len(cands) == 0 {
		t.Skip("no candidate")
	}
	return rapid.SampledFrom(cands).Draw(t, label)
}

func (m *kernfsMachine) create(t *rapid.T, dir bool) {
	parent := m.pick(t, "parent", func(n *mnode) bool { return n.dir && (!n.gone() || rapid.Bool().Draw(t, "allowGone")) })
	name := rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(t, "name")
	var n *kernfs.Node
	var err error
	if dir {
		n, err = m.e.r.CreateDir(nil, parent.node, name, kernfs.Attr{Mode: 0755})
	} else {
		n, err = m.e.r.CreateFile(nil, parent.node, name, kernfs.Attr{Mode: 0644}, m.ops)
	}
	if !parent.gone() {
		m.lastID++ // taken even when the name is in use
	}
	switch {
	case parent.gone():
		if !errIs(err, unix.ENOENT) {
			t.Fatalf("create in removed dir: %v", err)
		}
	case parent.children[name] != nil:
		if !errIs(err, unix.EEXIST) {
			t.Fatalf("create existing: %v", err)
		}
	default:
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		if n.ID() != m.lastID {
			t.Fatalf("id %d, want %d", n.ID(), m.lastID)
		}
		mn := &mnode{id: n.ID(), name: name, parent: parent, dir: dir, node: n}
		if dir {
			mn.children = map[string]*mnode{}
		}
		parent.children[name] = mn
		m.nodes = append(m.nodes, mn)
	}
}

func errIs(err error, en unix.Errno) bool { return err != nil && vfs.Errno(err) == en }

func (m *kernfsMachine) Mkdir(t *rapid.T)  { m.create(t, true) }
func (m *kernfsMachine) Mkfile(t *rapid.T) { m.create(t, false) }

func (m *kernfsMachine) Remove(t *rapid.T) {
	n := m.pick(t, "node", func(n *mnode) bool { return n.parent != nil })
	m.e.r.Remove(nil, n.node)
	if !n.gone() {
		n.removed = true
		delete(n.parent.children, n.name)
	}
}

func (m *kernfsMachine) Open(t *rapid.T) {
	n := m.pick(t, "file", func(n *mnode) bool { return !n.dir })
	f, err := m.e.v.Open(m.e.c, n.path(), unix.O_RDWR, 0)
	if n.gone() {
		// The path is dead, or names a newer node.
		if err == nil {
			if kernfs.NodeOf(f.Inode()) == n.node {
				t.Fatalf("opened removed node %d", n.id)
			}
			_ = f.Close()
		}
		return
	}
	if err != nil {
		t.Fatalf("open %s: %v", n.path(), err)
	}
	m.files = append(m.files, &mfile{f: f, n: n})
}

func (m *kernfsMachine) pickFile(t *rapid.T) *mfile {
	var cands []*mfile
	for _, f := range m.files {
		if !f.closed {
			cands = append(cands, f)
		}
	}
	if len(cands) == 0 {
		t.Skip("no open file")
	}
	return rapid.SampledFrom(cands).Draw(t, "fd")
}

func (m *kernfsMachine) Read(t *rapid.T) {
	f := m.pickFile(t)
	size := rapid.IntRange(1, 80).Draw(t, "size")
	buf := make([]byte, size)
	k, err := f.f.Read(buf)
	want, wantErr := f.modelRead(f.pos, size)
	if wantErr != 0 {
		if !errIs(err, wantErr) {
			t.Fatalf("read of removed %d: %d bytes, %v", f.n.id, k, err)
		}
		return
	}
	if err != nil || string(buf[:k]) != want {
		t.Fatalf("read %d at %d: %q, %v; want %q", f.n.id, f.pos, buf[:k], err, want)
	}
	f.pos += int64(k)
}

// modelRead is seq_read_iter over a single-record kernfs file, reduced to
// its observable state: where the last read ended (readPos), whether the
// record was produced (idx) and its unread rest (left).
func (f *mfile) modelRead(p int64, n int) (string, unix.Errno) {
	c := content(f.n.id)
	removed := f.n.gone()
	if p == 0 {
		f.idx, f.left = 0, ""
	}
	if p != f.readPos {
		// traverse: produce records up to p.
		f.idx, f.left = 0, ""
		if p != 0 {
			if removed {
				f.readPos = 0
				return "", unix.ENODEV
			}
			f.idx = 1
			if p < int64(len(c)) {
				f.left = c[p:]
			}
		}
		f.readPos = p
	}
	out := ""
	if f.left != "" {
		k := min(n, len(f.left))
		out, f.left = f.left[:k], f.left[k:]
		if f.left != "" {
			f.readPos += int64(len(out))
			return out, 0
		}
	}
	switch {
	case removed: // start fails
		if out == "" {
			return "", unix.ENODEV
		}
	case f.idx == 0:
		f.idx = 1
		k := min(n-len(out), len(c))
		out += c[:k]
		f.left = c[k:]
	}
	f.readPos += int64(len(out))
	return out, 0
}

func (m *kernfsMachine) Seek0(t *rapid.T) {
	f := m.pickFile(t)
	pos, err := f.f.Seek(0, io.SeekStart)
	if f.n.gone() {
		if !errIs(err, unix.ENODEV) {
			t.Fatalf("lseek removed: %v", err)
		}
		return
	}
	if err != nil || pos != 0 {
		t.Fatalf("lseek: %d %v", pos, err)
	}
	f.pos = 0
}

func (m *kernfsMachine) Write(t *rapid.T) {
	f := m.pickFile(t)
	k, err := f.f.Write([]byte("1\n"))
	if f.n.gone() {
		if !errIs(err, unix.ENODEV) {
			t.Fatalf("write removed: %v", err)
		}
		return
	}
	if err != nil || k != 2 {
		t.Fatalf("write: %d %v", k, err)
	}
	f.pos += 2
}

func (m *kernfsMachine) Close(t *rapid.T) {
	f := m.pickFile(t)
	if err := f.f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	f.closed = true
}

func (m *kernfsMachine) Check(t *rapid.T) {
	for _, n := range m.nodes {
		found := m.e.r.FindByID(n.id)
		if n.gone() {
			if found != nil {
				t.Fatalf("removed node %d found by id", n.id)
			}
			continue
		}
		if found != n.node {
			t.Fatalf("live node %d not found by id", n.id)
		}
		found.Put()
		if !n.dir {
			continue
		}
		ents, err := m.e.v.ReadDir(m.e.c, n.path())
		if err != nil {
			t.Fatalf("readdir %s: %v", n.path(), err)
		}
		var want []*mnode
		for _, c := range n.children {
			want = append(want, c)
		}
		sort.Slice(want, func(i, j int) bool {
			hi, hj := kernfs.NameHash(want[i].name), kernfs.NameHash(want[j].name)
			return hi < hj || hi == hj && want[i].name < want[j].name
		})
		if len(ents) != len(want) {
			t.Fatalf("readdir %s: %d entries, want %d", n.path(), len(ents), len(want))
		}
		for i := range ents {
			if ents[i].Name != want[i].name || ents[i].Ino != want[i].id {
				t.Fatalf("readdir %s[%d]: %s/%d, want %s/%d", n.path(), i, ents[i].Name, ents[i].Ino, want[i].name, want[i].id)
			}
		}
		st, err := m.e.v.Stat(m.e.c, n.path())
		if err != nil {
			t.Fatalf("stat %s: %v", n.path(), err)
		}
		subdirs := 0
		for _, c := range n.children {
			if c.dir {
				subdirs++
			}
		}
		if st.Nlink != uint32(2+subdirs) || st.Ino != n.id {
			t.Fatalf("stat %s: nlink %d ino %d", n.path(), st.Nlink, st.Ino)
		}
	}
	// Release runs exactly once per open file, at close or removal.
	for _, f := range m.files {
		of := f.f.Private.(*kernfs.OpenFile)
		want := 0
		if f.closed || f.n.gone() {
			want = 1
		}
		if m.releases[of] != want {
			t.Fatalf("file of %d: %d releases, want %d", f.n.id, m.releases[of], want)
		}
	}
}

func (m *kernfsMachine) cleanup() {
	for _, f := range m.files {
		if !f.closed {
			_ = f.f.Close()
		}
	}
}

func TestKernfsStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &kernfsMachine{}
		m.init(t)
		defer m.cleanup()
		t.Repeat(map[string]func(*rapid.T){
			"":       m.Check,
			"mkdir":  m.Mkdir,
			"mkfile": m.Mkfile,
			"remove": m.Remove,
			"open":   m.Open,
			"read":   m.Read,
			"seek0":  m.Seek0,
			"write":  m.Write,
			"close":  m.Close,
		})
	})
}
