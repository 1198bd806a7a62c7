package loader

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func programNames(o *Object) []string {
	var n []string
	for _, p := range o.Programs {
		n = append(n, p.Name+" "+p.Section)
	}
	return n
}

func mapNames(o *Object) []string {
	var n []string
	for _, m := range o.Maps {
		n = append(n, m.Name)
	}
	return n
}

// TestMakeExamples rebuilds the examples with `make examples` into a
// temporary directory (vmlinux.h from this machine's kernel) and loads the
// results. Their bytes may differ from the committed objects' (another
// kernel, another clang); their programs and maps may not.
func TestMakeExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds with clang")
	}
	needTools(t, "make", "clang", "bpftool")
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("no kernel BTF to generate vmlinux.h from")
	}
	out := t.TempDir()
	cmd := exec.Command("make", "-C", "..", "examples", "EXAMPLES_OUT="+out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)

	for _, ex := range []string{"pinning_kernfs", "cgroup_iter"} {
		t.Run(ex, func(t *testing.T) {
			built, err := LoadFile(filepath.Join(out, ex, ex+".bpf.o"), targetBTF(t, defaultLayout))
			require.NoError(t, err)
			committed := loadObj(t, filepath.Join("..", "examples", ex, ex+".bpf.o"), defaultLayout)
			assert.Equal(t, programNames(committed), programNames(built))
			assert.Equal(t, mapNames(committed), mapNames(built))
			for _, p := range built.Programs {
				assert.Nil(t, p.Poisoned, p.Name)
				assert.NotEmpty(t, p.CORE, "%s: compiled against vmlinux.h, so CO-RE relocated", p.Name)
			}
		})
	}
}

// TestMakeTestdata rebuilds the loader's own test object the same way.
func TestMakeTestdata(t *testing.T) {
	if testing.Short() {
		t.Skip("builds with clang")
	}
	needTools(t, "make", "clang")
	out := t.TempDir()
	b, err := exec.Command("make", "-C", "testdata", "OUT="+out).CombinedOutput()
	require.NoError(t, err, "%s", b)
	built, err := LoadFile(filepath.Join(out, "features.bpf.o"), targetBTF(t, defaultLayout))
	require.NoError(t, err)
	committed := loadObj(t, featuresObj, defaultLayout)
	assert.Equal(t, programNames(committed), programNames(built))
	assert.Equal(t, mapNames(committed), mapNames(built))
}

// Without clang (or bpftool), `make examples` fails saying what is missing.
func TestMakeExamplesMissingTools(t *testing.T) {
	needTools(t, "make")
	for _, tt := range []struct {
		arg, msg  string
		needClang bool // the bpftool check comes after the clang check
	}{
		{"CLANG=simfs-no-such-clang", "'simfs-no-such-clang' not found; install clang", false},
		{"BPFTOOL=simfs-no-such-bpftool", "'simfs-no-such-bpftool' not found", true},
	} {
		if tt.needClang {
			needTools(t, "clang")
		}
		out := t.TempDir()
		b, err := exec.Command("make", "-C", "..", "examples", "EXAMPLES_OUT="+out, tt.arg).CombinedOutput()
		require.Error(t, err, "%s", b)
		assert.Contains(t, string(b), tt.msg)
	}
}
