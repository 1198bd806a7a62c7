package vfstest_test

import (
	"os"
	"testing"

	"github.com/simfs/simfs/vfs/vfstest"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A sandbox's mount is invisible to the rest of the process, its
// credentials and umask are its own, and closing it ends its goroutine.
func TestSandbox(t *testing.T) {
	sb := vfstest.New(t, "tmpfs", "mode=0755")
	require.False(t, sb.HostMounted(), "the mount must stay in the private namespace")
	var st unix.Statfs_t
	sb.Do(func() { require.NoError(t, unix.Statfs("/", &st)) })
	require.EqualValues(t, unix.TMPFS_MAGIC, st.Type)

	require.NoError(t, sb.SetCred(1000, 1000, []uint32{5}))
	var err error
	sb.Do(func() { err = unix.Mkdir("/x", 0777) })
	require.ErrorIs(t, err, unix.EACCES, "fsuid 1000 may not write the root")
	require.NoError(t, sb.SetCred(0, 0, nil))
	sb.Do(func() {
		unix.Umask(077)
		err = unix.Mkdir("/x", 0777)
	})
	require.NoError(t, err)
	sb.Do(func() { err = unix.Stat("/x", &unix.Stat_t{}) })
	require.NoError(t, err)
	// The test's own thread: untouched umask, no such path.
	old := unix.Umask(022)
	unix.Umask(old)
	require.NotEqual(t, 077, old)
	_, err = os.Stat(sb.HostDir + "/x")
	require.ErrorIs(t, err, os.ErrNotExist)

	sb.Close()
	require.False(t, sb.HostMounted())
	require.Panics(t, func() { sb.Do(func() {}) })
}
