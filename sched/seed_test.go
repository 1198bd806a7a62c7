package sched_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path"
	"runtime"
	"testing"

	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
	"github.com/simfs/simfs/vmlinux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

const seedObject = "../examples/pinning_kernfs/pinning_kernfs.bpf.o"

// loadObject opens a clang-built object against the machine's types and
// loads it in p (bpf_object__open and __load), returning the fds by
// program and map name.
func loadObject(t *testing.T, m *kernel.Machine, p *kernel.Process, file string) (progs, maps map[string]int) {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	obj, err := m.OpenObject(f)
	require.NoError(t, err)
	fds, err := p.LoadObject(obj, kernel.LoadObjectOptions{})
	require.NoError(t, err)
	return fds.Progs, fds.Maps
}

func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// The seed's own programs end to end through the library: wait_record on
// the scheduler's sched_stat_wait fills wait_map with the longest wait per
// cgroup, and wait_show, exposed in each cgroup directory as a view link,
// prints it. The numbers are checked against the map and against the
// scheduler's own account of every task's longest wait.
func TestSeedProgramsEndToEnd(t *testing.T) {
	for _, layout := range []*vmlinux.Layout{vmlinux.Default(), vmlinux.Alternate()} {
		t.Run(layout.Name(), func(t *testing.T) {
			m, err := kernel.Boot(kernel.Config{Seed: 2022, Layout: layout})
			require.NoError(t, err)
			p := m.NewProcess(kernel.ProcessOptions{Comm: "test_progs"})
			s := newSched(t, m, sched.Options{})

			progs, maps := loadObject(t, m, p, seedObject)
			require.Contains(t, progs, "wait_record")
			require.Contains(t, progs, "wait_show")
			// skel->links.wait_record: attach to the tracepoint.
			rec, err := p.LinkCreate(progs["wait_record"], kernel.LinkCreateAttr{})
			require.NoError(t, err)
			require.Equal(t, 1, m.SchedStatWait().Attached())

			// The tree: busy a (three tasks) with a child a/d (one), b (one),
			// and c with none.
			cgroups := map[string]int{"a": 3, "a/d": 1, "b": 1, "c": 0}
			tasks := map[string][]int{}
			for _, dir := range []string{"a", "a/d", "b", "c"} {
				tasks[dir] = spawn(t, p, "/sys/fs/cgroup/"+dir, cgroups[dir])
			}
			require.NoError(t, s.Run(1000), "no program run failed")
			st := s.Status()
			assert.Positive(t, st.Fired)
			assert.Zero(t, st.Errors)

			// The view link, pinned in bpffs first, then exposed in every
			// cgroup directory.
			view, err := p.LinkCreate(progs["wait_show"], kernel.LinkCreateAttr{})
			require.NoError(t, err)
			require.ErrorIs(t, p.ObjPin(view, "/sys/fs/cgroup/a/wait"), unix.ENXIO, "pin_kernfs_first")
			require.NoError(t, p.ObjPin(view, "/sys/fs/bpf/wait_show"))
			stats := byPid(s)
			for dir, pids := range tasks {
				file := path.Join("/sys/fs/cgroup", dir, "wait")
				require.NoError(t, p.ObjPin(view, file))
				out, err := p.ReadFile(file)
				require.NoError(t, err)
				st, err := p.Stat(path.Join("/sys/fs/cgroup", dir))
				require.NoError(t, err)
				id := st.Ino

				t.Logf("%s: %q", dir, out)
				var gotID, gotWait uint64
				n, err := fmt.Sscanf(string(out), "%d %d\n", &gotID, &gotWait)
				require.NoError(t, err, "%q", out)
				require.Equal(t, 2, n, "unexpected_seq_show_output")
				assert.Equal(t, id, gotID, "%s: the id of the cgroup the file is read in", dir)

				var want uint64
				for _, pid := range pids {
					want = max(want, uint64(stats[pid].MaxWait))
				}
				val, err := p.MapLookup(maps["wait_map"], u64(id))
				if len(pids) == 0 {
					assert.ErrorIs(t, err, unix.ENOENT, "%s: no task, no entry", dir)
					assert.Equal(t, fmt.Sprintf("%d 0\n", id), string(out))
					continue
				}
				require.NoError(t, err, dir)
				assert.Equal(t, binary.LittleEndian.Uint64(val), gotWait, "%s: the view prints what the map holds", dir)
				assert.Equal(t, want, gotWait, "%s: the longest wait of its tasks, as the scheduler counted it", dir)
				assert.NotZero(t, gotWait, "%s: its tasks waited", dir)
			}
			// The root has no tasks: it prints 0, like c.
			require.NoError(t, p.ObjPin(view, "/sys/fs/cgroup/wait"))
			out, err := p.ReadFile("/sys/fs/cgroup/wait")
			require.NoError(t, err)
			assert.Equal(t, "1 0\n", string(out))

			// do_unpin and the bpffs unlink of the seed's check_cgroup_seq_show.
			require.NoError(t, p.WriteFile("/sys/fs/cgroup/a/wait", []byte("rm\x00")))
			_, err = p.Stat("/sys/fs/cgroup/a/wait")
			require.ErrorIs(t, err, unix.ENOENT)
			require.NoError(t, p.Unlink("/sys/fs/bpf/wait_show"))
			assert.Empty(t, m.View().Exposures(), "unpinning removed every other exposure")

			// Detaching wait_record stops the recording.
			require.NoError(t, p.Close(rec))
			assert.Zero(t, m.SchedStatWait().Attached())
			fired := s.Status().Fired
			require.NoError(t, s.Run(10))
			assert.Equal(t, fired, s.Status().Fired)
		})
	}
}

// Values grow as the machine runs: a later read shows a wait at least as
// long, and moving a task moves its future waits to its new cgroup.
func TestSeedValuesFollowTheMachine(t *testing.T) {
	m, err := kernel.Boot(kernel.Config{Seed: 1})
	require.NoError(t, err)
	p := m.NewProcess(kernel.ProcessOptions{})
	s := newSched(t, m, sched.Options{})
	progs, maps := loadObject(t, m, p, seedObject)
	_, err = p.LinkCreate(progs["wait_record"], kernel.LinkCreateAttr{})
	require.NoError(t, err)
	spawn(t, p, "/sys/fs/cgroup/a", 2)
	moved := spawn(t, p, "/sys/fs/cgroup/b", 1)[0]
	require.NoError(t, p.Mkdir("/sys/fs/cgroup/e", 0755))
	st, err := p.Stat("/sys/fs/cgroup/e")
	require.NoError(t, err)
	_, err = p.MapLookup(maps["wait_map"], u64(st.Ino))
	require.ErrorIs(t, err, unix.ENOENT)

	require.NoError(t, s.Run(200))
	require.NoError(t, p.WriteFile("/sys/fs/cgroup/e/cgroup.procs", []byte(fmt.Sprint(moved))))
	require.NoError(t, s.Run(300))
	val, err := p.MapLookup(maps["wait_map"], u64(st.Ino))
	require.NoError(t, err, "the moved task's waits are recorded under its new cgroup")
	assert.NotZero(t, binary.LittleEndian.Uint64(val))
}

// Tasks that exit while the scheduler fires for them are no program
// failures: the kernel never fires for a task that is gone.
func TestExitsWhileFiring(t *testing.T) {
	m, err := kernel.Boot(kernel.Config{Seed: 4})
	require.NoError(t, err)
	p := m.NewProcess(kernel.ProcessOptions{})
	s := newSched(t, m, sched.Options{CPUs: 2})
	progs, _ := loadObject(t, m, p, seedObject)
	_, err = p.LinkCreate(progs["wait_record"], kernel.LinkCreateAttr{})
	require.NoError(t, err)
	require.NoError(t, p.Mkdir("/sys/fs/cgroup/churn", 0755))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 300 {
			var pids []int
			for range 4 {
				if pid, err := p.TaskSpawn("/sys/fs/cgroup/churn"); err == nil {
					pids = append(pids, pid)
				}
			}
			runtime.Gosched()
			for _, pid := range pids {
				_ = p.TaskExit(pid)
			}
		}
	}()
	spawn(t, p, "/sys/fs/cgroup/churn", 4)
	for {
		require.NoError(t, s.Step())
		select {
		case <-done:
			st := s.Status()
			assert.Positive(t, st.Fired)
			assert.Zero(t, st.Errors, st.LastError)
			return
		default:
		}
	}
}
