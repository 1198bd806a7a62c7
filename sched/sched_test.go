package sched_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func boot(t testing.TB, seed uint64) (*kernel.Machine, *kernel.Process) {
	t.Helper()
	m, err := kernel.Boot(kernel.Config{Seed: seed})
	require.NoError(t, err)
	return m, m.NewProcess(kernel.ProcessOptions{})
}

func newSched(t testing.TB, m *kernel.Machine, o sched.Options) *sched.Scheduler {
	t.Helper()
	s, err := sched.New(m, o)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// spawn makes n tasks in the cgroup directory dir (created if needed).
func spawn(t testing.TB, p *kernel.Process, dir string, n int) []int {
	t.Helper()
	if _, err := p.Stat(dir); err != nil {
		require.NoError(t, p.Mkdir(dir, 0755))
	}
	var pids []int
	for range n {
		pid, err := p.TaskSpawn(dir)
		require.NoError(t, err)
		pids = append(pids, pid)
	}
	return pids
}

func byPid(s *sched.Scheduler) map[int]sched.TaskStats {
	out := map[int]sched.TaskStats{}
	for _, ts := range s.Tasks() {
		out[ts.Pid] = ts
	}
	return out
}

// A scenario: tasks in three cgroups, one exiting half way.
func scenario(t *testing.T, seed uint64, cpus int) []sched.TaskStats {
	m, p := boot(t, seed)
	s := newSched(t, m, sched.Options{CPUs: cpus})
	spawn(t, p, "/sys/fs/cgroup/a", 3)
	b := spawn(t, p, "/sys/fs/cgroup/b", 2)
	require.NoError(t, s.Run(100))
	require.NoError(t, p.TaskExit(b[0]))
	spawn(t, p, "/sys/fs/cgroup/c", 1)
	require.NoError(t, s.Run(100))
	assert.Equal(t, 200*sched.DefaultTick, s.Now())
	return s.Tasks()
}

func TestDeterministicUnderASeed(t *testing.T) {
	one := scenario(t, 7, 1)
	require.Len(t, one, 5)
	assert.Equal(t, one, scenario(t, 7, 1), "the same seed and operations give the same schedule")
	assert.NotEqual(t, one, scenario(t, 8, 1), "another seed, another schedule")
	two := scenario(t, 7, 2)
	assert.NotEqual(t, one, two)
}

func TestTheMachineSeedIsTheDefault(t *testing.T) {
	m, _ := boot(t, 42)
	s := newSched(t, m, sched.Options{})
	st := s.Status()
	assert.Equal(t, uint64(42), st.Seed)
	assert.Equal(t, 1, st.CPUs)
	assert.Equal(t, 4*time.Millisecond, st.Tick)
	assert.Equal(t, st.Tick, st.Slice)
}

func TestBadOptions(t *testing.T) {
	m, _ := boot(t, 0)
	for _, o := range []sched.Options{{CPUs: -1}, {CPUs: 5000}, {Tick: time.Nanosecond}, {Slice: -1}} {
		_, err := sched.New(m, o)
		assert.Error(t, err, "%+v", o)
	}
}

// A task waits only while others hold the CPUs it could run on.
func TestWaitsNeedContention(t *testing.T) {
	t.Run("alone", func(t *testing.T) {
		m, p := boot(t, 1)
		s := newSched(t, m, sched.Options{})
		pid := spawn(t, p, "/sys/fs/cgroup/a", 1)[0]
		require.NoError(t, s.Run(500))
		ts := byPid(s)[pid]
		assert.Greater(t, ts.Waits, uint64(50), "it woke many times")
		assert.Zero(t, ts.MaxWait, "alone on the CPU it never waits")
		assert.Positive(t, ts.Run)
	})
	t.Run("as many tasks as CPUs", func(t *testing.T) {
		m, p := boot(t, 1)
		s := newSched(t, m, sched.Options{CPUs: 3})
		spawn(t, p, "/sys/fs/cgroup/a", 3)
		require.NoError(t, s.Run(500))
		for _, ts := range s.Tasks() {
			assert.Zero(t, ts.MaxWait, "pid %d", ts.Pid)
		}
	})
	t.Run("more tasks than CPUs", func(t *testing.T) {
		m, p := boot(t, 1)
		s := newSched(t, m, sched.Options{CPUs: 2})
		spawn(t, p, "/sys/fs/cgroup/a", 5)
		require.NoError(t, s.Run(500))
		var total time.Duration
		for _, ts := range s.Tasks() {
			assert.Positive(t, ts.MaxWait, "pid %d", ts.Pid)
			assert.LessOrEqual(t, ts.MaxWait, ts.Wait)
			total += ts.Run
		}
		assert.LessOrEqual(t, total, 2*s.Now(), "two CPUs run at most 2×now")
		assert.Greater(t, total, s.Now(), "five busy tasks keep both CPUs mostly busy")
	})
}

// No CPU idles while a task waits (checked at every tick), and a task
// never waits longer than the others' slices allow.
func TestWorkConserving(t *testing.T) {
	m, p := boot(t, 3)
	s := newSched(t, m, sched.Options{CPUs: 3})
	spawn(t, p, "/sys/fs/cgroup/a", 4)
	spawn(t, p, "/sys/fs/cgroup/b", 4)
	for range 300 {
		require.NoError(t, s.Step())
		running, queued := 0, 0
		perCPU := map[int]int{}
		for _, ts := range s.Tasks() {
			switch ts.State {
			case sched.StateRunning:
				running++
				perCPU[ts.CPU]++
			case sched.StateQueued:
				queued++
			}
		}
		if queued > 0 {
			require.Equal(t, 3, running, "a CPU idles while %d tasks wait", queued)
		}
		for c, n := range perCPU {
			require.Equal(t, 1, n, "CPU %d runs %d tasks", c, n)
		}
	}
	for _, ts := range s.Tasks() {
		// At most 7 others, each preempted after a slice (one tick) plus
		// the rest of the tick it was picked in.
		assert.LessOrEqual(t, ts.MaxWait, 7*2*sched.DefaultTick, "pid %d", ts.Pid)
	}
}

func TestFrozenCgroupsDoNotRun(t *testing.T) {
	m, p := boot(t, 5)
	s := newSched(t, m, sched.Options{})
	a := spawn(t, p, "/sys/fs/cgroup/a", 2)
	spawn(t, p, "/sys/fs/cgroup/b", 1)
	require.NoError(t, s.Run(50))
	require.NoError(t, p.WriteFile("/sys/fs/cgroup/a/cgroup.freeze", []byte("1\n")))
	require.NoError(t, s.Step()) // the tick notices
	before := byPid(s)
	require.NoError(t, s.Run(100))
	after := byPid(s)
	for _, pid := range a {
		assert.Equal(t, sched.StateFrozen, after[pid].State)
		assert.Equal(t, before[pid].Run, after[pid].Run, "a frozen task does not run")
		assert.Equal(t, before[pid].Waits, after[pid].Waits)
	}
	require.NoError(t, p.WriteFile("/sys/fs/cgroup/a/cgroup.freeze", []byte("0\n")))
	require.NoError(t, s.Run(100))
	for _, pid := range a {
		assert.Greater(t, byPid(s)[pid].Run, after[pid].Run, "thawed, it runs again")
	}
}

func TestExitAndSpawnBetweenSteps(t *testing.T) {
	m, p := boot(t, 9)
	spawn(t, p, "/sys/fs/cgroup/a", 2) // before the scheduler: found by the scan
	s := newSched(t, m, sched.Options{})
	assert.Len(t, s.Tasks(), 2)
	require.NoError(t, s.Run(10))
	pids := spawn(t, p, "/sys/fs/cgroup/b", 2)
	assert.Len(t, s.Tasks(), 4)
	for _, ts := range s.Tasks() {
		require.NoError(t, p.TaskExit(ts.Pid))
	}
	assert.Empty(t, s.Tasks())
	require.NoError(t, s.Run(10))
	assert.Equal(t, 20*sched.DefaultTick, s.Now())
	_ = pids
	// cgroup.kill ends every task of a cgroup at once.
	spawn(t, p, "/sys/fs/cgroup/b", 3)
	require.NoError(t, s.Run(5))
	require.NoError(t, p.WriteFile("/sys/fs/cgroup/b/cgroup.kill", []byte("1")))
	assert.Empty(t, s.Tasks())
	require.NoError(t, s.Run(5))
}

func TestCloseStopsFollowing(t *testing.T) {
	m, p := boot(t, 0)
	s, err := sched.New(m, sched.Options{})
	require.NoError(t, err)
	s.Close()
	s.Close()
	spawn(t, p, "/sys/fs/cgroup/a", 1)
	assert.Empty(t, s.Tasks())
	assert.Error(t, s.Step())
	assert.Error(t, s.Start(time.Millisecond, nil))
}

// The background stepping runs until Stop; goleak checks it ends.
func TestBackground(t *testing.T) {
	m, p := boot(t, 0)
	s := newSched(t, m, sched.Options{})
	spawn(t, p, "/sys/fs/cgroup/a", 3)
	require.Error(t, s.Start(0, nil))
	require.NoError(t, s.Start(time.Millisecond, func(err error) { t.Error(err) }))
	assert.Equal(t, time.Millisecond, s.Status().Background)
	deadline := time.Now().Add(10 * time.Second)
	for s.Status().Ticks < 20 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	assert.GreaterOrEqual(t, s.Status().Ticks, uint64(20))
	// Steps by hand interleave with the background ones.
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, s.Run(10))
			spawn(t, p, "/sys/fs/cgroup/a", 1)
		}()
	}
	wg.Wait()
	require.NoError(t, s.Start(2*time.Millisecond, nil), "restart with another interval")
	s.Stop()
	ticks := s.Status().Ticks
	time.Sleep(10 * time.Millisecond)
	assert.Equal(t, ticks, s.Status().Ticks, "stopped")
	assert.Zero(t, s.Status().Background)
}

func BenchmarkStep(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			m, p := boot(b, 1)
			s := newSched(b, m, sched.Options{CPUs: 4})
			for i := range 10 {
				spawn(b, p, fmt.Sprintf("/sys/fs/cgroup/c%d", i), n/10)
			}
			b.ResetTimer()
			for range b.N {
				_ = s.Step()
			}
		})
	}
}
