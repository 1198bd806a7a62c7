package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTranslate(t *testing.T) {
	mounts := []Mount{
		{Host: "/tmp/sim/bpf", Sim: "/sys/fs/bpf"},
		{Host: "/tmp/sim/cgroup", Sim: "/sys/fs/cgroup"},
		{Host: "/tmp/sim/cgroup/deep", Sim: "/other"}, // the longest match wins
	}
	for _, tc := range []struct {
		host, sim string
		ok        bool
	}{
		{"/tmp/sim/bpf", "/sys/fs/bpf", true},
		{"/tmp/sim/bpf/", "/sys/fs/bpf", true},
		{"/tmp/sim/bpf/x", "/sys/fs/bpf/x", true},
		{"/tmp/sim/bpf/a/../b", "/sys/fs/bpf/b", true},
		{"/tmp/sim/cgroup/a/b", "/sys/fs/cgroup/a/b", true},
		{"/tmp/sim/cgroup/deep/x", "/other/x", true},
		{"/tmp/sim/bpfx", "", false},
		{"/tmp/sim", "", false},
		{"/sys/fs/bpf/x", "", false},
	} {
		sim, ok := Translate(mounts, tc.host)
		assert.Equal(t, tc.ok, ok, tc.host)
		assert.Equal(t, tc.sim, sim, tc.host)
		if ok && tc.host != "/tmp/sim/bpf/a/../b" && tc.host != "/tmp/sim/bpf/" {
			assert.Equal(t, tc.host, Untranslate(mounts, sim), "round trip of %s", tc.host)
		}
	}
	assert.Equal(t, "/tmp/x", Untranslate(mounts, "/tmp/x"))
	assert.Equal(t, "/sys/fs/bpfx", Untranslate(mounts, "/sys/fs/bpfx"))
}

func TestRegistry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "reg")
	require.NoError(t, ensurePrivateDir(dir))
	st, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0700), st.Mode().Perm())

	r := &Registry{Dir: dir}
	me := DaemonInfo{ID: "me", Pid: os.Getpid(), Socket: r.SocketPath("me"),
		Mounts: []Mount{{Host: "/tmp/a/bpf", Sim: "/sys/fs/bpf"}, {Host: "/tmp/a/cgroup", Sim: "/sys/fs/cgroup"}}}
	require.NoError(t, r.Register(me))

	// A daemon that died: its pid no longer exists.
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := DaemonInfo{ID: "dead", Pid: cmd.Process.Pid, Socket: r.SocketPath("dead"), Mounts: []Mount{{Host: "/tmp/b/bpf", Sim: "/sys/fs/bpf"}}}
	require.NoError(t, r.Register(dead))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junk.json"), []byte("{"), 0600))

	infos, err := r.List(false)
	require.NoError(t, err)
	require.Len(t, infos, 1)
	assert.Equal(t, me.ID, infos[0].ID)
	assert.FileExists(t, filepath.Join(dir, "dead.json"), "List(false) leaves entries alone")
	_, err = r.List(true)
	require.NoError(t, err)
	assert.NoFileExists(t, filepath.Join(dir, "dead.json"), "List(true) prunes dead daemons")

	in, ok := FindDaemon(infos, "/tmp/a/cgroup/x/y")
	assert.True(t, ok)
	assert.Equal(t, "me", in.ID)
	_, ok = FindDaemon(infos, "/tmp/b/bpf/x")
	assert.False(t, ok, "the dead daemon's mounts are nobody's")

	r.Unregister("me")
	infos, err = r.List(false)
	require.NoError(t, err)
	assert.Empty(t, infos)
}

func TestRegistryRefusesOthersDirectories(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a directory owned by someone else")
	}
	dir := filepath.Join(t.TempDir(), "reg")
	require.NoError(t, os.Mkdir(dir, 0777))
	require.NoError(t, os.Chown(dir, 65534, 65534))
	assert.Error(t, ensurePrivateDir(dir))
}

func TestAsmDirectives(t *testing.T) {
	src, err := ParseAsm(`# comment
.type view/cgroup
.name show
.license "Dual BSD/GPL"
.map counts /sys/fs/bpf/counts   # trailing comment
lddw %r1, map:counts
lddw %r2, map_value:counts+0x10
mov %r0, 0
exit
`)
	require.NoError(t, err)
	assert.Equal(t, "view/cgroup", src.Type)
	assert.Equal(t, "show", src.Name)
	assert.Equal(t, "Dual BSD/GPL", src.License)
	assert.Equal(t, []AsmMap{{Name: "counts", Path: "/sys/fs/bpf/counts", Line: 5}}, src.Maps)
	code, err := src.Assemble(func(string) int { return 7 })
	require.NoError(t, err)
	want := []byte{
		0x18, 0x11, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // lddw r1, src 1 (map fd 7)
		0x18, 0x22, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, // lddw r2, src 2 (fd 7, offset 16)
		0xb7, 0, 0, 0, 0, 0, 0, 0,
		0x95, 0, 0, 0, 0, 0, 0, 0,
	}
	assert.Equal(t, want, code)

	for _, bad := range []string{
		"lddw %r1, map:nope\nexit",
		".map a /x\n.map a /y\nexit",
		".map a\nexit",
		".map a /x\nlddw %r1, map:a+8\nexit",
		".map a /x\nmov %r1, map:a\nexit",
		".map a /x\nlddw %r11, map:a\nexit",
	} {
		_, err := ParseAsm(bad)
		assert.Error(t, err, bad)
	}
	// Line numbers in assembler errors are the text's.
	src, err = ParseAsm(".map a /x\nlddw %r1, map:a\nbogus\n")
	require.NoError(t, err)
	_, err = src.Assemble(func(string) int { return 3 })
	assert.ErrorContains(t, err, "line 3")

	out, err := RewriteMapPaths(".map a /host/bpf/a\n.map b /sys/fs/bpf/b # c\nexit\n", func(p string) (string, error) {
		return "/S" + p, nil
	})
	require.NoError(t, err)
	assert.Equal(t, ".map a /S/host/bpf/a\n.map b /S/sys/fs/bpf/b\nexit\n", out)
}
