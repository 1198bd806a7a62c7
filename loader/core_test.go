package loader

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fix is one expected CO-RE fixup: the instruction, the field path, and
// the values before and after.
type fix struct {
	index         int
	kind, field   string
	local, target uint64
}

// insnValue is what a relocation rewrote: the offset of a load or store,
// the immediate of an ALU instruction.
func insnValue(ins asm.Instruction) uint64 {
	switch ins.OpCode.Class() {
	case asm.LdXClass, asm.StClass, asm.StXClass:
		return uint64(ins.Offset)
	}
	return uint64(ins.Constant)
}

func checkFixups(t *testing.T, p *Program, want []fix) {
	t.Helper()
	require.Len(t, p.CORE, len(want))
	for i, w := range want {
		got := p.CORE[i]
		assert.Equal(t, w.index, got.Index, "relocation %d", i)
		assert.Equal(t, w.kind, got.Kind, "relocation %d", i)
		assert.Equal(t, w.field, got.Field, "relocation %d", i)
		assert.Equal(t, w.local, got.Local, "relocation %d (%s)", i, got)
		assert.Equal(t, w.target, got.Target, "relocation %d (%s)", i, got)
		assert.False(t, got.Poisoned)
		assert.Equal(t, w.target, insnValue(p.Instructions[w.index]), "instruction %d: %v", w.index, p.Instructions[w.index])
		// Relocated once: the metadata is gone.
		assert.Nil(t, btf.CORERelocationMetadata(&p.Instructions[w.index]))
	}
	assert.Nil(t, p.Poisoned)
}

// TestCORETwoLayouts relocates the objects, compiled against the real
// kernel's vmlinux.h (cgroup.kn at 256, kernfs_node.id at 96), against two
// simulated layouts and checks the rewritten offsets.
func TestCORETwoLayouts(t *testing.T) {
	other := layout{
		cgroupLevel: 0, cgroupKn: 64, kernfsID: 8, seqNum: 16,
		taskGroup: 712, tgCSS: 0, cssCgroup: 32,
	}
	for _, tt := range []struct {
		name string
		l    layout
	}{{"A", defaultLayout}, {"B", other}} {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.l
			kn, id, seqNum := uint64(l.cgroupKn), uint64(l.kernfsID), uint64(l.seqNum)

			iter := loadObj(t, cgroupIter, l).Program("cgroup_id_printer")
			// bpf_iter__cgroup's members sit in anonymous unions in
			// vmlinux.h (__bpf_md_ptr); the path names them as C does.
			checkFixups(t, iter, []fix{
				{0, "byte_off", "bpf_iter__cgroup.meta", 0, 0},
				{1, "byte_off", "bpf_iter_meta.seq", 0, 0},
				{2, "byte_off", "bpf_iter__cgroup.cgroup", 8, 8},
				{13, "byte_off", "bpf_iter__cgroup.meta", 0, 0},
				{14, "byte_off", "bpf_iter_meta.seq_num", 16, seqNum},
				{23, "byte_off", "cgroup.kn", 256, kn},
				{24, "byte_off", "kernfs_node.id", 96, id},
				{33, "byte_off", "cgroup.kn", 256, kn},
				{35, "byte_off", "kernfs_node.id", 96, id},
			})
			assert.Equal(t, "struct cgroup", iter.CORE[5].Type)
			assert.Equal(t, "0:12", iter.CORE[5].Accessor)

			pin := loadObj(t, pinningObj, l)
			// task->sched_task_group->css.cgroup: css is embedded, so
			// its offset and cgroup's add up in one relocation.
			checkFixups(t, pin.Program("wait_record"), []fix{
				{3, "byte_off", "task_struct.sched_task_group", 712, uint64(l.taskGroup)},
				{4, "byte_off", "task_group.css.cgroup", 0, uint64(l.tgCSS + l.cssCgroup)},
				{6, "byte_off", "cgroup.kn", 256, kn},
				{7, "byte_off", "kernfs_node.id", 96, id},
			})
			checkFixups(t, pin.Program("wait_show"), []fix{
				{2, "byte_off", "cgroup.kn", 256, kn},
				{3, "byte_off", "kernfs_node.id", 96, id},
			})

			f := loadObj(t, featuresObj, l)
			// BPF_CORE_READ computes addresses with relocated ALU
			// immediates; bpf_core_field_exists is a field_exists.
			checkFixups(t, f.Program("show"), []fix{
				{0, "byte_off", "cgroup.kn", 8, kn},
				{4, "field_exists", "cgroup.level", 1, 1},
				{9, "byte_off", "kernfs_node.id", 0, id},
			})
			checkFixups(t, f.Program("on_wait"), []fix{
				{2, "byte_off", "task_struct.pid", 0, 8},
			})
		})
	}
}

func TestCOREMissingFieldPoisons(t *testing.T) {
	tests := []struct {
		name     string
		obj      string
		prog     string
		l        layout
		poisoned map[int]int // instruction index -> raw slot
		field    string
		why      string
	}{
		{"cgroup.kn", cgroupIter, "cgroup_id_printer",
			func() layout { l := defaultLayout; l.cgroupKn = -1; return l }(),
			map[int]int{23: 25, 33: 36}, "cgroup.kn", "the target's struct cgroup has no field kn"},
		{"no kernfs_node", cgroupIter, "cgroup_id_printer",
			func() layout { l := defaultLayout; l.noKernfsNode = true; return l }(),
			map[int]int{24: 26, 35: 38}, "kernfs_node.id", "the target has no struct kernfs_node"},
		{"nested", pinningObj, "wait_record",
			func() layout { l := defaultLayout; l.cssCgroup = -1; return l }(),
			map[int]int{4: 4}, "task_group.css.cgroup", "the target's struct cgroup_subsys_state has no field cgroup"},
		{"cgroup.level", featuresObj, "dump_cgroup",
			func() layout { l := defaultLayout; l.cgroupLevel = -1; return l }(),
			map[int]int{11: 12, 31: 35, 42: 47}, "cgroup.level", "the target's struct cgroup has no field level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := targetBTF(t, tt.l)
			obj, err := LoadFile(tt.obj, target)
			require.NoError(t, err)
			p := obj.Program(tt.prog)
			require.NotNil(t, p)

			require.Len(t, p.Poisoned, len(tt.poisoned))
			for index, slot := range tt.poisoned {
				ins := p.Instructions[index]
				assert.True(t, IsPoisoned(ins), "instruction %d: %v", index, ins)
				assert.True(t, ins.IsBuiltinCall())
				assert.Equal(t, int64(btf.COREBadRelocationSentinel), ins.Constant)

				msg := p.Poisoned[slot]
				assert.Contains(t, msg, tt.field)
				assert.Contains(t, msg, tt.why)
				assert.Contains(t, msg, tt.prog)
			}
			npoisoned := 0
			for _, r := range p.CORE {
				if r.Poisoned {
					npoisoned++
					assert.Equal(t, tt.field, r.Field)
					assert.Equal(t, tt.why, r.Message)
					assert.Equal(t, tt.poisoned[r.Index], r.Slot)
					assert.Zero(t, r.Target)
				}
			}
			assert.Equal(t, len(tt.poisoned), npoisoned)
			for i, ins := range p.Instructions {
				if _, ok := tt.poisoned[i]; !ok {
					assert.False(t, IsPoisoned(ins), "instruction %d", i)
				}
			}

			// Strict mode fails the load and names the field.
			_, err = LoadWithOptions(readerOf(t, tt.obj), Options{Target: target, Strict: true})
			require.Error(t, err)
			assert.ErrorIs(t, err, unix.EINVAL)
			var le *Error
			require.True(t, errors.As(err, &le))
			assert.Contains(t, err.Error(), tt.field)
			assert.Contains(t, err.Error(), tt.why)
		})
	}
}

// A field_exists relocation for a missing field is not poisoned: it
// becomes 0, and the program can take the other branch.
func TestCOREFieldExistsMissing(t *testing.T) {
	l := defaultLayout
	l.cgroupLevel = -1
	p := loadObj(t, featuresObj, l).Program("show")
	assert.Nil(t, p.Poisoned)
	require.Len(t, p.CORE, 3)
	assert.Equal(t, "field_exists", p.CORE[1].Kind)
	assert.Equal(t, uint64(1), p.CORE[1].Local)
	assert.Equal(t, uint64(0), p.CORE[1].Target)
	assert.Equal(t, int64(0), p.Instructions[4].Constant)
}

func TestCORENeedsTarget(t *testing.T) {
	_, err := LoadFile(cgroupIter, nil)
	assert.ErrorIs(t, err, unix.EINVAL)
	assert.Contains(t, err.Error(), "no target BTF")
}

// Against the running kernel's own BTF, the objects built on this machine
// kind relocate without poisoning. Skips where /sys/kernel/btf/vmlinux is
// missing or the kernel has no cgroup_iter or cgroup scheduling.
func TestCOREKernelBTF(t *testing.T) {
	kernel, err := btf.LoadSpec("/sys/kernel/btf/vmlinux")
	if err != nil {
		t.Skipf("no kernel BTF: %v", err)
	}
	var ctx *btf.Struct
	if err := kernel.TypeByName("bpf_iter__cgroup", &ctx); err != nil {
		t.Skip("kernel has no cgroup_iter")
	}
	for _, path := range []string{cgroupIter, pinningObj, featuresObj} {
		obj, err := LoadWithOptions(readerOf(t, path), Options{Target: kernel, Strict: true})
		if err != nil && strings.Contains(err.Error(), "sched_task_group") {
			t.Logf("%s: kernel without CONFIG_CGROUP_SCHED: %v", path, err)
			continue
		}
		require.NoError(t, err, path)
		for _, p := range obj.Programs {
			assert.Nil(t, p.Poisoned, p.Name)
		}
	}
}

func readerOf(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}
