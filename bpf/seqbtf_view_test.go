package bpf_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/simfs/simfs/bpf/btfshow"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// btfViewProg is a view/cgroup program that shows its cgroup (kn false) or
// the cgroup's kernfs_node (kn true) with bpf_seq_printf_btf(seq,
// &(struct btf_ptr){obj, typeID}, sizeof(struct btf_ptr), flags). When the
// helper fails it prints "ret=%lld\n" instead. Offsets and the type id
// come from the machine's layout, as a CO-RE-relocated program's would
// (bpf_core_type_id_kernel).
func btfViewProg(t *testing.T, l *vmlinux.Layout, kn bool, flags int32) asm.Instructions {
	spec, err := l.Spec()
	require.NoError(t, err)
	name := "cgroup"
	if kn {
		name = "kernfs_node"
	}
	var st *btf.Struct
	require.NoError(t, spec.TypeByName(name, &st))
	id, err := spec.TypeID(st)
	require.NoError(t, err)
	knOff, err := l.Offset("cgroup", "kn")
	require.NoError(t, err)

	insns := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.DWord), // seq
		asm.LoadMem(asm.R7, asm.R1, 8, asm.DWord), // cgroup
	}
	if kn {
		insns = append(insns, asm.LoadMem(asm.R7, asm.R7, int16(knOff), asm.DWord))
	}
	format := []byte("ret=%lld\n\x00\x00\x00\x00\x00\x00\x00")[:16]
	insns = append(insns,
		asm.StoreMem(asm.RFP, -16, asm.R7, asm.DWord),  // btf_ptr.ptr
		asm.StoreImm(asm.RFP, -8, int64(id), asm.Word), // btf_ptr.type_id
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),         // btf_ptr.flags
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.Mov.Imm(asm.R3, 16),
		asm.Mov.Imm(asm.R4, flags),
		asm.FnSeqPrintfBtf.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.StoreMem(asm.RFP, -24, asm.R0, asm.DWord),
		asm.LoadImm(asm.R1, int64(leU64(format[0:8])), asm.DWord),
		asm.StoreMem(asm.RFP, -40, asm.R1, asm.DWord),
		asm.LoadImm(asm.R1, int64(leU64(format[8:16])), asm.DWord),
		asm.StoreMem(asm.RFP, -32, asm.R1, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -40),
		asm.Mov.Imm(asm.R3, 10),
		asm.Mov.Reg(asm.R4, asm.RFP),
		asm.Add.Imm(asm.R4, -24),
		asm.Mov.Imm(asm.R5, 8),
		asm.FnSeqPrintf.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	return insns
}

func leU64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// readView loads prog as a view/cgroup program, links it, pins the link in
// bpffs, exposes it in dir and reads the exposure.
func readView(t *testing.T, m *kernel.Machine, p *kernel.Process, dir string, prog asm.Instructions) string {
	t.Helper()
	fd, log, err := p.ProgLoad(kernel.ProgLoadAttr{Section: "view/cgroup", Name: "btf_show", License: "GPL", Insns: prog})
	require.NoError(t, err, log)
	lfd, err := p.LinkCreate(fd, kernel.LinkCreateAttr{})
	require.NoError(t, err)
	pin := "/sys/fs/bpf/" + strings.ReplaceAll(strings.TrimPrefix(dir, "/"), "/", "_")
	require.NoError(t, p.ObjPin(lfd, pin))
	require.NoError(t, p.ObjPin(lfd, dir+"/btf_view"))
	out, err := p.ReadFile(dir + "/btf_view")
	require.NoError(t, err)
	require.NoError(t, p.Unlink(pin))
	require.NoError(t, p.Close(lfd))
	require.NoError(t, p.Close(fd))
	return string(out)
}

// TestViewSeqPrintfBtf: a view/cgroup program shows its cgroup's struct
// kernfs_node and struct cgroup with bpf_seq_printf_btf, on both vmlinux
// layouts (the type ids and offsets differ between them).
func TestViewSeqPrintfBtf(t *testing.T) {
	for _, layout := range []*vmlinux.Layout{vmlinux.Default(), vmlinux.Alternate()} {
		t.Run(layout.Name(), func(t *testing.T) {
			m, err := kernel.Boot(kernel.Config{Layout: layout})
			require.NoError(t, err)
			p := m.NewProcess(kernel.ProcessOptions{Umask: 022})
			require.NoError(t, p.Mkdir("/sys/fs/cgroup/btf", 0755))
			st, err := p.Stat("/sys/fs/cgroup/btf")
			require.NoError(t, err)

			// struct kernfs_node, compact: its id is the directory's inode
			// number; its mode a directory's. (The layouts order the
			// members differently.)
			out := readView(t, m, p, "/sys/fs/cgroup/btf", btfViewProg(t, layout, true, int32(btfshow.FlagCompact)))
			require.True(t, strings.HasPrefix(out, "(struct kernfs_node){"), out)
			assert.Contains(t, out, fmt.Sprintf(".id = (u64)%d,", st.Ino))
			assert.Contains(t, out, ".name = (char *)0x")
			assert.Contains(t, out, ".mode = (umode_t)16877,", "S_IFDIR|0755")
			assert.True(t, strings.HasSuffix(out, "}"), out)
			assert.NotContains(t, out, "\n")

			// struct cgroup, indented and without names: level 1 and the
			// kernfs_node pointer, hashed.
			out = readView(t, m, p, "/sys/fs/cgroup/btf", btfViewProg(t, layout, false, 0))
			require.True(t, strings.HasPrefix(out, "(struct cgroup){\n .self = (struct cgroup_subsys_state){\n  .cgroup = (struct cgroup *)0x"), out)
			assert.Contains(t, out, "\n .level = (int)1,\n")
			assert.Contains(t, out, "\n .kn = (struct kernfs_node *)0x")
			assert.True(t, strings.HasSuffix(out, "\n}\n"), out)

			// The root cgroup's level is 0: left out, unless BTF_F_ZERO.
			out = readView(t, m, p, "/sys/fs/cgroup", btfViewProg(t, layout, false, int32(btfshow.FlagCompact)))
			assert.NotContains(t, out, ".level")
			out = readView(t, m, p, "/sys/fs/cgroup", btfViewProg(t, layout, false, int32(btfshow.FlagCompact|btfshow.FlagZero|btfshow.FlagNoName)))
			assert.True(t, strings.HasPrefix(out, "{{0x"), out)

			// A flag the helper does not know: -EINVAL, nothing shown.
			out = readView(t, m, p, "/sys/fs/cgroup/btf", btfViewProg(t, layout, true, 1<<4))
			assert.Equal(t, "ret=-22\n", out)
		})
	}
}
