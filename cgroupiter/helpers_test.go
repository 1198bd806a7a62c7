package cgroupiter_test

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const cgroupIterObj = "../examples/cgroup_iter/cgroup_iter.bpf.o"

// The orders, as BPF_LINK_CREATE takes them.
const (
	orderSelf = 1
	orderPre  = 2
	orderPost = 3
	orderUp   = 4
)

func boot(t testing.TB, layout *vmlinux.Layout) (*kernel.Machine, *kernel.Process) {
	t.Helper()
	m, err := kernel.Boot(kernel.Config{Layout: layout})
	require.NoError(t, err)
	return m, m.NewProcess(kernel.ProcessOptions{Umask: 022})
}

// printer loads the cgroup_iter example's cgroup_id_printer with its
// globals set before the load, as the selftest sets skel->bss, and returns
// the program fd. The object's other fds are closed when the test ends.
func printer(t testing.TB, m *kernel.Machine, p *kernel.Process, terminateEarly bool, terminal uint64) int {
	t.Helper()
	obj, err := m.OpenObjectFile(cgroupIterObj)
	require.NoError(t, err)
	var early int32
	if terminateEarly {
		early = 1
	}
	require.NoError(t, obj.SetVariable("terminate_early", le32(uint32(early))))
	require.NoError(t, obj.SetVariable("terminal_cgroup", le64(terminal)))
	fds, err := p.LoadObject(obj, kernel.LoadObjectOptions{})
	require.NoError(t, err)
	t.Cleanup(fds.Close)
	fd, ok := fds.Progs["cgroup_id_printer"]
	require.True(t, ok)
	return fd
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func le64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

// cgroupPath is where a path relative to the work cgroup lives.
func cgroupPath(work, rel string) string {
	if rel == "" || rel == "." {
		return work
	}
	return path.Join(work, rel)
}

// mkdirs creates the directories in order.
func mkdirs(t testing.TB, p *kernel.Process, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		require.NoError(t, p.Mkdir(d, 0755), d)
	}
}

// cgroupID is the id of the cgroup directory at path: its inode number.
func cgroupID(t testing.TB, p *kernel.Process, dir string) uint64 {
	t.Helper()
	st, err := p.Stat(dir)
	require.NoError(t, err)
	return st.Ino
}

// attach creates a cgroup iterator link starting at the cgroup directory
// dir (by fd, as the selftest does; "" means neither fd nor id).
func attach(p *kernel.Process, prog int, dir string, order uint32) (int, error) {
	a := kernel.LinkCreateAttr{Order: order}
	if dir != "" {
		cfd, err := p.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			return -1, err
		}
		defer p.Close(cfd)
		a.CgroupFD = cfd
	}
	return p.LinkCreate(prog, a)
}

// readAll reads fd to the end with reads of chunk bytes, as the selftest's
// read_from_cgroup_iter does with its 128-byte buffer, then checks that a
// read after the end returns 0.
func readAll(t testing.TB, p *kernel.Process, fd, chunk int) (string, error) {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, chunk)
	for {
		n, err := p.Read(fd, buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String(), err
		}
		if n == 0 {
			break
		}
	}
	n, err := p.Read(fd, buf)
	if n != 0 || err != nil {
		return b.String(), fmt.Errorf("second read after the end: %d bytes, %w", n, err)
	}
	return b.String(), nil
}

// readIterCreate reads one anonymous session (BPF_ITER_CREATE) of link.
func readIterCreate(t testing.TB, p *kernel.Process, link, chunk int) (string, error) {
	t.Helper()
	fd, err := p.IterCreate(link)
	require.NoError(t, err)
	defer p.Close(fd)
	return readAll(t, p, fd, chunk)
}

// readPinned reads one session of the link pinned at pin: open(2), reads,
// close(2), as cat does.
func readPinned(t testing.TB, p *kernel.Process, pin string, chunk int) (string, error) {
	t.Helper()
	fd, err := p.Open(pin, unix.O_RDONLY, 0)
	require.NoError(t, err)
	defer p.Close(fd)
	return readAll(t, p, fd, chunk)
}

// readChunks records every read of a session of chunk bytes until EOF or
// an error, as "n:data" items and a final errno item.
func readChunks(p *kernel.Process, fd, chunk int) []string {
	var out []string
	buf := make([]byte, chunk)
	for i := 0; i < 100000; i++ {
		n, err := p.Read(fd, buf)
		switch {
		case err != nil:
			var errno unix.Errno
			if !errors.As(err, &errno) {
				errno = 0
			}
			return append(out, "err "+errno.Error())
		case n == 0:
			return append(out, "EOF")
		}
		out = append(out, fmt.Sprintf("%d:%q", n, buf[:n]))
	}
	return append(out, "no end")
}
