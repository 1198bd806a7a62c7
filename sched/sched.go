// Package sched is simfs's simulated scheduler. It stands for one thing in
// kernel/sched: schedstats' wait accounting — update_stats_wait_start when a
// task is queued on a runqueue without running, update_stats_wait_end when
// it is picked (kernel/sched/fair.c, kernel/sched/stats.c) — and the
// sched_stat_wait(task_struct *p, u64 delta) tracepoint that the latter
// fires, which is what the bpf_view RFC's selftest program wait_record
// attaches to. None of CFS or EEVDF is here: no vruntime, no weights, no
// deadlines, no wakeup preemption.
//
// # Model
//
// Simulated time advances in ticks (Options.Tick, 4 ms by default: HZ=250).
// The tasks are the live simulated tasks of the machine's cgroup hierarchy
// (cgroup.Task); each alternates CPU bursts and sleeps whose lengths it
// draws from its own random stream, seeded by Options.Seed and its pid, so a
// run is a function of the seed and of the operations between steps. Each
// of Options.CPUs simulated CPUs has a FIFO runqueue and at most one running
// task. Within a tick, time is continuous: a burst that ends blocks its
// task and the CPU picks the next queued task at that instant (schedule()
// from a blocking task); a task that wakes is queued on its previous CPU
// if that is idle, else on an idle one, else on the one with the fewest
// tasks. At each tick a task that has run for Options.Slice while others
// wait on its CPU goes to the back of the queue (the tick preemption), and
// an idle CPU pulls the first waiting task of the busiest other CPU (idle
// balancing; the task keeps its wait start, as a migrating task's does).
// Tasks of a frozen cgroup are taken off the CPUs at the next tick and do
// not run until it is thawed.
//
// Every time a queued task is picked, sched_stat_wait fires with p the
// address of the task's struct task_struct in BPF memory (package kobj)
// and delta the nanoseconds it waited since it was queued. As in the
// kernel the event fires for every wait that ends, including waits of 0 ns:
// a task that wakes on an idle CPU runs at once here (the kernel's delta
// there is the few µs of the wakeup path), so a task waits only while other
// tasks hold the CPUs it could run on.
//
// The scheduler is driven by Step (one tick) and Run (several); Start runs
// it in the background at a wall-clock interval until Stop or Close. It
// does not change the machine otherwise: cgroup files such as cpu.stat
// keep their zeros.
//
// # Left out
//
// Scheduling classes, priorities, nice values and cpu.weight, bandwidth
// control, wakeup preemption and wakeup latency, load balancing beyond the
// idle pull, CPU affinity, the other schedstats tracepoints
// (sched_stat_sleep, _iowait, _blocked, _runtime) and the schedstats files
// (/proc/<pid>/schedstat; Tasks gives the same numbers).
package sched

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/simfs/simfs/bpf"
	"github.com/simfs/simfs/cgroup"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/kobj"
)

// Options configure a scheduler.
type Options struct {
	// Seed seeds every task's random stream (0: the machine's
	// kernel.Config.Seed).
	Seed uint64
	// CPUs is the number of simulated CPUs (default 1).
	CPUs int
	// Tick is the simulated time one Step advances (default 4 ms).
	Tick time.Duration
	// Slice is how long a task runs while others wait on its CPU before
	// the tick preempts it (default: one tick).
	Slice time.Duration
}

// Defaults.
const (
	DefaultTick = 4 * time.Millisecond
	DefaultCPUs = 1
)

// Task states.
const (
	StateRunning  = "running"
	StateQueued   = "queued"
	StateSleeping = "sleeping"
	StateFrozen   = "frozen"
)

// TaskStats are one task's scheduling statistics, those of
// /proc/<pid>/schedstat and then some.
type TaskStats struct {
	Pid   int    `json:"pid"`
	State string `json:"state"`
	CPU   int    `json:"cpu"`
	// Run is the time it ran, Wait the time it waited queued (both
	// /proc/<pid>/schedstat's), Waits how many waits ended (its
	// timeslices), MaxWait the longest.
	Run     time.Duration `json:"run_ns"`
	Wait    time.Duration `json:"wait_ns"`
	Waits   uint64        `json:"waits"`
	MaxWait time.Duration `json:"max_wait_ns"`
}

// Status describes the scheduler.
type Status struct {
	CPUs  int           `json:"cpus"`
	Tick  time.Duration `json:"tick_ns"`
	Slice time.Duration `json:"slice_ns"`
	Seed  uint64        `json:"seed"`
	// Now is the simulated time, Ticks the steps taken.
	Now     time.Duration `json:"now_ns"`
	Ticks   uint64        `json:"ticks"`
	NrTasks int           `json:"nr_tasks"`
	// Fired counts sched_stat_wait events fired with programs attached,
	// Errors the program runs among them that failed, LastError the last
	// such failure.
	Fired     uint64 `json:"fired"`
	Errors    uint64 `json:"errors"`
	LastError string `json:"last_error,omitempty"`
	// Background is the wall-clock interval of Start, 0 when stopped.
	Background time.Duration `json:"background_ns"`
}

type state int

const (
	sleeping state = iota
	queued
	running
	frozen
)

var stateNames = [...]string{sleeping: StateSleeping, queued: StateQueued, running: StateRunning, frozen: StateFrozen}

type task struct {
	tk  *cgroup.Task
	pid int
	rng *rand.Rand

	state     state
	cpu       int
	waitStart int64 // when it was queued
	wakeAt    int64 // when it wakes (sleeping)
	heapIdx   int   // in the sleepers heap, -1 if not there
	burstLeft int64 // CPU time left in the current burst
	slice     int64 // time run since it was last picked

	run, wait, maxWait int64
	waits              uint64
}

type cpu struct {
	curr  *task
	since int64 // when curr's run time was last accounted
	rq    []*task
}

// Scheduler is a simulated scheduler of one machine's tasks.
type Scheduler struct {
	h    *cgroup.Hierarchy
	objs *kobj.Objects
	tp   *bpf.Tracepoint
	opts Options

	stepMu sync.Mutex // one step at a time, its firing included

	mu       sync.Mutex
	now      int64
	ticks    uint64
	cpus     []*cpu
	tasks    map[*cgroup.Task]*task
	order    []*task // by pid
	sleepers sleepHeap
	fired    uint64
	errs     uint64
	lastErr  string
	unhook   func()
	closed   bool
	bgEvery  time.Duration
	bgStop   chan struct{}
	bgDone   chan struct{}
}

// New creates a scheduler for the tasks of m's cgroup hierarchy: those
// alive now, queued at simulated time 0, and those spawned later.
func New(m *kernel.Machine, o Options) (*Scheduler, error) {
	if o.Seed == 0 {
		o.Seed = m.Seed()
	}
	if o.CPUs == 0 {
		o.CPUs = DefaultCPUs
	}
	if o.Tick == 0 {
		o.Tick = DefaultTick
	}
	if o.Slice == 0 {
		o.Slice = o.Tick
	}
	switch {
	case o.CPUs < 0 || o.CPUs > 1024:
		return nil, fmt.Errorf("sched: %d CPUs (1 to 1024)", o.CPUs)
	case o.Tick < time.Microsecond:
		return nil, fmt.Errorf("sched: tick %v is shorter than 1µs", o.Tick)
	case o.Slice < 0:
		return nil, fmt.Errorf("sched: negative slice %v", o.Slice)
	}
	s := &Scheduler{h: m.Cgroups(), objs: m.KernelObjects(), tp: m.SchedStatWait(), opts: o, tasks: make(map[*cgroup.Task]*task)}
	for range o.CPUs {
		s.cpus = append(s.cpus, &cpu{})
	}
	// Hook first, then scan: a task spawned in between is seen twice and
	// added once.
	s.unhook = s.h.AddHook(s.onChange)
	s.mu.Lock()
	defer s.mu.Unlock()
	var walk func(cg *cgroup.Cgroup)
	walk = func(cg *cgroup.Cgroup) {
		for _, tk := range cg.Tasks() {
			s.addLocked(tk)
		}
		for _, c := range cg.Children() {
			walk(c)
		}
	}
	walk(s.h.Root())
	return s, nil
}

func (s *Scheduler) onChange(ch cgroup.Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	switch ch.Kind {
	case cgroup.TaskSpawned:
		s.addLocked(ch.Task)
	case cgroup.TaskExited:
		s.removeLocked(ch.Task)
	}
}

// addLocked makes tk runnable now, with a first burst to run.
func (s *Scheduler) addLocked(tk *cgroup.Task) {
	if _, ok := s.tasks[tk]; ok || tk.Exited() {
		return
	}
	t := &task{tk: tk, pid: tk.Pid(), heapIdx: -1, cpu: -1,
		rng: rand.New(rand.NewPCG(s.opts.Seed, uint64(tk.Pid())))}
	s.tasks[tk] = t
	i := sort.Search(len(s.order), func(i int) bool { return s.order[i].pid >= t.pid })
	s.order = append(s.order, nil)
	copy(s.order[i+1:], s.order[i:])
	s.order[i] = t
	s.wakeLocked(t, s.now)
}

func (s *Scheduler) removeLocked(tk *cgroup.Task) {
	t, ok := s.tasks[tk]
	if !ok {
		return
	}
	s.detachLocked(t)
	delete(s.tasks, tk)
	i := sort.Search(len(s.order), func(i int) bool { return s.order[i].pid >= t.pid })
	if i < len(s.order) && s.order[i] == t {
		s.order = append(s.order[:i], s.order[i+1:]...)
	}
}

// detachLocked takes t off its CPU, runqueue or the sleepers.
func (s *Scheduler) detachLocked(t *task) {
	switch t.state {
	case running:
		c := s.cpus[t.cpu]
		s.accountLocked(c, s.now)
		c.curr = nil
	case queued:
		c := s.cpus[t.cpu]
		for i, x := range c.rq {
			if x == t {
				c.rq = append(c.rq[:i], c.rq[i+1:]...)
				break
			}
		}
	case sleeping:
		if t.heapIdx >= 0 {
			heap.Remove(&s.sleepers, t.heapIdx)
		}
	}
	t.state = frozen
}

// The workload: bursts of a quarter tick to four and a quarter ticks of
// CPU, sleeps of up to six ticks.
func (s *Scheduler) burst(t *task) int64 {
	tick := int64(s.opts.Tick)
	return tick/4 + t.rng.Int64N(4*tick) + 1
}

func (s *Scheduler) sleep(t *task) int64 {
	return t.rng.Int64N(6*int64(s.opts.Tick)) + 1
}

// wakeLocked queues t at time at with a new burst (select_task_rq, then
// enqueue_entity with update_stats_wait_start).
func (s *Scheduler) wakeLocked(t *task, at int64) {
	t.burstLeft = s.burst(t)
	s.enqueueLocked(t, s.selectCPU(t), at)
}

func (s *Scheduler) enqueueLocked(t *task, c int, at int64) {
	t.state, t.cpu, t.waitStart = queued, c, at
	s.cpus[c].rq = append(s.cpus[c].rq, t)
}

func (s *Scheduler) selectCPU(t *task) int {
	idle := func(c *cpu) bool { return c.curr == nil && len(c.rq) == 0 }
	if t.cpu >= 0 && idle(s.cpus[t.cpu]) {
		return t.cpu
	}
	best, load := -1, 0
	for i, c := range s.cpus {
		n := len(c.rq)
		if c.curr != nil {
			n++
		}
		if best < 0 || n < load || (n == load && i == t.cpu) {
			best, load = i, n
		}
	}
	return best
}

// accountLocked charges c's running task for the time up to t.
func (s *Scheduler) accountLocked(c *cpu, t int64) {
	if c.curr != nil {
		d := t - c.since
		c.curr.burstLeft -= d
		c.curr.slice += d
		c.curr.run += d
	}
	c.since = t
}

// firing is one sched_stat_wait to fire after the step.
type firing struct {
	tk    *cgroup.Task
	delta uint64
}

// pickLocked runs the first queued task of c at t (set_next_entity with
// update_stats_wait_end).
func (s *Scheduler) pickLocked(c *cpu, t int64, out *[]firing) {
	n := c.rq[0]
	c.rq = c.rq[1:]
	delta := t - n.waitStart
	n.wait += delta
	n.waits++
	n.maxWait = max(n.maxWait, delta)
	n.state, n.slice = running, 0
	c.curr, c.since = n, t
	*out = append(*out, firing{n.tk, uint64(delta)})
}

// scheduleLocked gives every idle CPU a task, pulling one from the
// busiest other CPU when its own queue is empty.
func (s *Scheduler) scheduleLocked(t int64, out *[]firing) {
	for i, c := range s.cpus {
		if c.curr != nil {
			continue
		}
		if len(c.rq) == 0 {
			busiest := -1
			for j, o := range s.cpus {
				if j != i && len(o.rq) > 0 && (busiest < 0 || len(o.rq) > len(s.cpus[busiest].rq)) {
					busiest = j
				}
			}
			if busiest < 0 {
				c.since = t
				continue
			}
			o := s.cpus[busiest]
			m := o.rq[0]
			o.rq = o.rq[1:]
			m.cpu = i
			c.rq = append(c.rq, m)
		}
		s.pickLocked(c, t, out)
	}
}

// freezeLocked takes the tasks of frozen cgroups off the CPUs and queues
// the tasks of thawed ones, at the tick.
func (s *Scheduler) freezeLocked() {
	cache := map[*cgroup.Cgroup]bool{}
	for _, t := range s.order {
		cg := t.tk.Cgroup()
		f, ok := cache[cg]
		if !ok {
			f = cg != nil && cg.Frozen()
			cache[cg] = f
		}
		switch {
		case f && t.state != frozen:
			s.detachLocked(t)
		case !f && t.state == frozen:
			s.wakeLocked(t, s.now)
		}
	}
}

// stepLocked advances one tick and returns the waits that ended.
func (s *Scheduler) stepLocked() []firing {
	var out []firing
	s.freezeLocked()
	s.scheduleLocked(s.now, &out)
	end := s.now + int64(s.opts.Tick)
	for {
		// The next event: a burst that ends, or a task that wakes.
		next := end + 1
		for _, c := range s.cpus {
			if c.curr != nil {
				next = min(next, c.since+c.curr.burstLeft)
			}
		}
		if len(s.sleepers) > 0 {
			next = min(next, s.sleepers[0].wakeAt)
		}
		if next > end {
			break
		}
		for _, c := range s.cpus {
			s.accountLocked(c, next)
		}
		s.now = next
		for _, c := range s.cpus {
			if t := c.curr; t != nil && t.burstLeft <= 0 {
				c.curr = nil
				t.state, t.wakeAt = sleeping, next+s.sleep(t)
				heap.Push(&s.sleepers, t)
			}
		}
		for len(s.sleepers) > 0 && s.sleepers[0].wakeAt == next {
			s.wakeLocked(heap.Pop(&s.sleepers).(*task), next)
		}
		s.scheduleLocked(next, &out)
	}
	for _, c := range s.cpus {
		s.accountLocked(c, end)
	}
	s.now = end
	s.ticks++
	// The tick: preempt a task whose slice is used up while others wait.
	for i, c := range s.cpus {
		if t := c.curr; t != nil && t.slice >= int64(s.opts.Slice) && len(c.rq) > 0 {
			c.curr = nil
			s.enqueueLocked(t, i, end)
		}
	}
	s.scheduleLocked(end, &out)
	return out
}

// Step advances simulated time by one tick and fires sched_stat_wait for
// every wait that ended in it, in the order they ended. The error joins
// the failures of the programs run (the step itself always happens).
func (s *Scheduler) Step() error {
	s.stepMu.Lock()
	defer s.stepMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	out := s.stepLocked()
	s.mu.Unlock()
	return s.fire(out)
}

var errClosed = errors.New("sched: scheduler closed")

// Run takes n steps and returns the first error.
func (s *Scheduler) Run(n int) error {
	var first error
	for range n {
		if err := s.Step(); err != nil {
			if errors.Is(err, errClosed) {
				return err
			}
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// fire runs the attached programs for each ended wait, outside the
// scheduler's lock: programs take the BPF CPU and kernel-object locks.
func (s *Scheduler) fire(out []firing) error {
	var errs []error
	for _, f := range out {
		if s.tp.Attached() == 0 {
			continue
		}
		addr, err := s.objs.Task(f.tk)
		if err != nil {
			continue // it exited since
		}
		err = s.tp.Fire(f.tk, addr, f.delta)
		if err != nil && f.tk.Exited() {
			// It exited during the run and its task_struct went: the
			// kernel never fires for a task that is gone.
			continue
		}
		s.mu.Lock()
		s.fired++
		if err != nil {
			s.errs++
			s.lastErr = err.Error()
		}
		s.mu.Unlock()
		if err != nil && len(errs) < 8 {
			errs = append(errs, fmt.Errorf("sched_stat_wait(pid %d, %d): %w", f.tk.Pid(), f.delta, err))
		}
	}
	return errors.Join(errs...)
}

// Now is the simulated time.
func (s *Scheduler) Now() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.now)
}

// Status describes the scheduler.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{CPUs: len(s.cpus), Tick: s.opts.Tick, Slice: s.opts.Slice, Seed: s.opts.Seed,
		Now: time.Duration(s.now), Ticks: s.ticks, NrTasks: len(s.order),
		Fired: s.fired, Errors: s.errs, LastError: s.lastErr, Background: s.bgEvery}
}

// Tasks lists the scheduled tasks by pid.
func (s *Scheduler) Tasks() []TaskStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TaskStats, 0, len(s.order))
	for _, t := range s.order {
		st := TaskStats{Pid: t.pid, State: stateNames[t.state], CPU: t.cpu,
			Run: time.Duration(t.run), Wait: time.Duration(t.wait), Waits: t.waits, MaxWait: time.Duration(t.maxWait)}
		if t.state == running {
			// Run time up to now of the running task.
			st.Run += time.Duration(s.now - s.cpus[t.cpu].since)
		}
		out = append(out, st)
	}
	return out
}

// Start steps the scheduler every interval of wall-clock time in a
// goroutine until Stop or Close. onErr (may be nil) hears the errors of
// steps whose programs failed. Starting a running scheduler changes its
// interval.
func (s *Scheduler) Start(every time.Duration, onErr func(error)) error {
	if every <= 0 {
		return fmt.Errorf("sched: interval %v", every)
	}
	s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	stop, done := make(chan struct{}), make(chan struct{})
	s.bgEvery, s.bgStop, s.bgDone = every, stop, done
	go func() {
		defer close(done)
		tk := time.NewTicker(every)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
			}
			if err := s.Step(); err != nil && !errors.Is(err, errClosed) && onErr != nil {
				onErr(err)
			}
		}
	}()
	return nil
}

// Stop ends the background stepping of Start and waits for it.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	stop, done := s.bgStop, s.bgDone
	s.bgStop, s.bgDone, s.bgEvery = nil, nil, 0
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// Close stops the scheduler for good: the background stepping ends and it
// no longer follows the hierarchy's tasks.
func (s *Scheduler) Close() {
	s.Stop()
	s.mu.Lock()
	s.closed = true
	unhook := s.unhook
	s.unhook = nil
	s.mu.Unlock()
	if unhook != nil {
		unhook()
	}
}

// sleepHeap orders sleeping tasks by wake time, then pid.
type sleepHeap []*task

func (h sleepHeap) Len() int { return len(h) }
func (h sleepHeap) Less(i, j int) bool {
	if h[i].wakeAt != h[j].wakeAt {
		return h[i].wakeAt < h[j].wakeAt
	}
	return h[i].pid < h[j].pid
}
func (h sleepHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *sleepHeap) Push(x any) {
	t := x.(*task)
	t.heapIdx = len(*h)
	*h = append(*h, t)
}
func (h *sleepHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.heapIdx = -1
	return t
}
