package fusefs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestCgroupHierarchy serves the simulated cgroup2 hierarchy (kernfs) and
// drives it with shell tools: a cgroup directory's inode number is its
// id, interface files are fresh per open, tasks move by writing their pid,
// and cgroups made or removed by the simulator show up at once.
func TestCgroupHierarchy(t *testing.T) {
	v, c := newRamfs()
	h, err := cgroup.New(v, cgroup.Options{})
	require.NoError(t, err)
	srv, mnt := mount(t, v, h.Superblock().Root(), Options{})
	q := func(p string) string { return "'" + filepath.Join(mnt, p) + "'" }

	requireOK(t, sh(t, "mkdir "+q("a")))
	a, err := h.Lookup("/a")
	require.NoError(t, err)
	r := sh(t, "stat -c '%i %a %h' "+q("a")+" && cat "+q("a/cgroup.procs")+" && stat -c %s "+q("a/cgroup.procs"))
	requireOK(t, r)
	assert.Equal(t, fmt.Sprintf("%d 755 2\n0\n", a.ID()), r.out)
	st, err := v.Stat(c, "/") // the ramfs root, not the cgroup root
	require.NoError(t, err)
	assert.NotEqual(t, st.Ino, a.ID())

	tk, err := h.Spawn(a)
	require.NoError(t, err)
	pid := fmt.Sprint(tk.Pid())
	r = sh(t, "cat "+q("a/cgroup.procs"))
	assert.Equal(t, pid+"\n", r.out, "fresh content despite cached attributes")
	requireOK(t, sh(t, "echo "+pid+" > "+q("cgroup.procs")))
	r = sh(t, "cat "+q("a/cgroup.procs")+"; grep -x "+pid+" "+q("cgroup.procs"))
	assert.Equal(t, pid+"\n", r.out)
	requireErr(t, sh(t, "/bin/echo 999999 > "+q("cgroup.procs")), unix.ESRCH)
	requireErr(t, sh(t, "rmdir "+q("")), unix.EBUSY)
	requireOK(t, sh(t, "rmdir "+q("a")))
	_, err = h.Lookup("/a")
	assert.Error(t, err)

	// Made and removed by the simulator.
	b, err := h.Mkdir(vfs.RootCaller(), h.Root(), "b", 0755)
	require.NoError(t, err)
	srv.Settle()
	r = sh(t, "stat -c %i "+q("b")+" && ls "+q("b")+" | grep -c cgroup")
	requireOK(t, r)
	assert.True(t, strings.HasPrefix(r.out, fmt.Sprintf("%d\n", b.ID())), r.out)

	// An interface file held open across the removal of its cgroup
	// answers ENODEV, as kernfs does.
	cmd := exec.Command("/bin/sh", "-c", "exec 3<"+filepath.Join(mnt, "b", "cgroup.stat")+"; echo opened; read x; cat <&3; echo rc=$?")
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := bufio.NewReader(stdout)
	line, err := lines.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "opened\n", line)

	require.NoError(t, h.Rmdir(vfs.RootCaller(), b))
	srv.Settle()
	requireErr(t, sh(t, "stat "+q("b")), unix.ENOENT)
	_, err = io.WriteString(stdin, "go\n")
	require.NoError(t, err)
	rest, err := io.ReadAll(lines)
	require.NoError(t, err)
	require.NoError(t, cmd.Wait())
	assert.Equal(t, "rc=1\n", string(rest))
	assert.Contains(t, stderr.String(), strerror(unix.ENODEV))

	// statfs shows FUSE's magic, not cgroup2's.
	r = sh(t, "stat -f -c %t "+q(""))
	assert.Equal(t, "65735546\n", r.out)
	assert.Equal(t, int64(cgroup.SuperMagic), v.StatfsInode(h.Superblock().Root()).Type)
}
