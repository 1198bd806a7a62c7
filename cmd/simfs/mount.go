package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/simfs/simfs/daemon"
	"github.com/simfs/simfs/fusefs"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
	"github.com/simfs/simfs/vfs"
	"golang.org/x/sys/unix"
)

// fuseMount is what the daemon needs of one FUSE mount (fusefs.Server).
type fuseMount interface {
	Settle()
	Unmount() error
	Wait()
	IOURing() (bool, error)
}

// The values of --io-uring.
const (
	uringAuto = "auto" // FUSE over io_uring when the kernel has it switched on
	uringOn   = "on"   // the same, and say why when it is not used
	uringOff  = "off"  // always /dev/fuse
)

// serveFUSE serves the simulated tree at simPath on hostDir.
func serveFUSE(m *kernel.Machine, simPath, hostDir string, o daemonOpts, logger *log.Logger) (fuseMount, error) {
	root, err := m.VFS().Resolve(vfs.RootCaller(), simPath, true)
	if err != nil {
		return nil, err
	}
	fm, err := fusefs.Serve(m.VFS(), root, hostDir, fusefs.Options{
		AllowOther: o.allowOther, Logger: logger, IOURing: o.uring != uringOff && os.Geteuid() == 0,
		Passthrough: o.passthrough})
	if err != nil {
		return nil, err
	}
	if on, why := fm.IOURing(); !on && why != nil && o.uring == uringOn {
		logger.Printf("%s: serving /dev/fuse: %v", hostDir, why)
	}
	return fm, nil
}

// transport names how the requests of fm travel (daemon.Mount.Transport).
func transport(fm fuseMount) string {
	if on, _ := fm.IOURing(); on {
		return "io_uring"
	}
	return "/dev/fuse"
}

// prepareMountpoint makes dir ready for a mount: a stale FUSE mount left by
// a daemon that was killed (every access fails with ENOTCONN) is detached,
// a missing directory is created. It reports whether it cleared a stale
// mount.
func prepareMountpoint(dir string) (bool, error) {
	cleared, err := fusefs.ClearStale(dir)
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return cleared, err
	}
	if err := os.MkdirAll(dir, 0755); err != nil {
		return cleared, err
	}
	return cleared, nil
}

// daemonOpts are the options of mount and serve.
type daemonOpts struct {
	bpfDir, cgDir string // host mount points; empty for serve
	allowOther    bool
	socket        string
	json          bool
	// seed is the machine's kernel.Config.Seed, sched its scheduler's
	// options and schedEvery the wall-clock time between two of its
	// ticks in the background (0: it runs only on `simfs sched run`).
	seed       uint64
	sched      sched.Options
	schedEvery time.Duration
	// ready, if set, is called once the daemon serves; the demo uses it
	// and then cancels ctx.
	ready func(info daemon.DaemonInfo, m *kernel.Machine) error
	// procs, if positive, is the GOMAXPROCS of a daemon that mounts,
	// unless the GOMAXPROCS environment variable sets it.
	procs int
	// uring is --io-uring: uringAuto, uringOn or uringOff.
	uring string
	// passthrough is --passthrough (fusefs.Options.Passthrough).
	passthrough bool
}

// DefaultMountProcs is the GOMAXPROCS a mounting daemon runs with. With
// one processor the Go runtime hands fewer processors between the threads
// that sleep in read(2) on /dev/fuse, and an open+read+close of a view
// takes about half as long (docs/PERFORMANCE.md, "FUSE"); the simulator's
// own work is not parallel enough to miss the others.
const DefaultMountProcs = 1

// DefaultSchedEvery is how often, in wall-clock time, the daemon's
// scheduler takes a tick.
const DefaultSchedEvery = 10 * time.Millisecond

// machineFlags adds the flags that shape the simulated machine.
func machineFlags(f *flags, o *daemonOpts) {
	f.Uint64Var(&o.seed, "seed", 0, "the machine's random seed (the scheduler's workload)")
	f.IntVar(&o.sched.CPUs, "cpus", sched.DefaultCPUs, "simulated CPUs of the scheduler")
	f.DurationVar(&o.sched.Tick, "tick", sched.DefaultTick, "simulated time of one scheduler tick")
	f.DurationVar(&o.schedEvery, "sched-every", DefaultSchedEvery, "wall-clock time between two scheduler ticks (0: only on `simfs sched run`)")
}

func cmdMount(e *env, args []string) error {
	f := newFlags(e, "mount", false)
	bpfDir := f.String("bpf", "", "where to mount bpffs (default DIR/bpf)")
	cgDir := f.String("cgroup", "", "where to mount cgroup2 (default DIR/cgroup)")
	allowOther := f.Bool("allow-other", false, "let other users reach the mounts (allow_other)")
	socket := f.String("socket", "", "control socket path (default: in the registry directory)")
	var o daemonOpts
	f.IntVar(&o.procs, "gomaxprocs", DefaultMountProcs, "processors the daemon's Go runtime uses when it serves /dev/fuse (io_uring: all); 0: all (the GOMAXPROCS environment variable wins)")
	f.BoolVar(&o.passthrough, "passthrough", false, "serve read-only opens from a snapshot taken at open that the kernel reads itself (FUSE passthrough): faster, but the output is produced at open, overlapping opens share it, and an open file outlives a removal (see go doc ./fusefs Options.Passthrough)")
	f.StringVar(&o.uring, "io-uring", uringAuto, "FUSE over io_uring: auto (when the kernel has it switched on and simfs runs as root), on (the same, saying why when not), off")
	machineFlags(f, &o)
	pos, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if o.uring != uringAuto && o.uring != uringOn && o.uring != uringOff {
		return usageErr("--io-uring takes auto, on or off, not %q", o.uring)
	}
	if len(pos) == 0 && (*bpfDir == "" || *cgDir == "") {
		return usageErr("give DIR, or both --bpf and --cgroup")
	}
	o.bpfDir, o.cgDir, o.allowOther, o.socket, o.json = *bpfDir, *cgDir, *allowOther, *socket, f.json
	if len(pos) == 1 {
		if o.bpfDir == "" {
			o.bpfDir = filepath.Join(pos[0], "bpf")
		}
		if o.cgDir == "" {
			o.cgDir = filepath.Join(pos[0], "cgroup")
		}
	}
	for _, p := range []*string{&o.bpfDir, &o.cgDir} {
		if *p, err = filepath.Abs(*p); err != nil {
			return err
		}
	}
	if o.bpfDir == o.cgDir {
		return usageErr("bpffs and cgroup2 need different mount points")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDaemon(ctx, e, o)
}

func cmdServe(e *env, args []string) error {
	f := newFlags(e, "serve", false)
	socket := f.String("socket", "", "control socket path (default: in the registry directory)")
	var o daemonOpts
	machineFlags(f, &o)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	o.socket, o.json = *socket, f.json
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runDaemon(ctx, e, o)
}

// runDaemon boots a machine, starts its scheduler, serves it over FUSE
// (unless o has no mount points) and on a control socket until ctx ends,
// then takes everything down: the registry entry, the clients (their
// processes exit), the mounts, the scheduler.
func runDaemon(ctx context.Context, e *env, o daemonOpts) error {
	logger := log.New(e.stderr, "simfs: ", 0)
	// One processor suits /dev/fuse; the io_uring queues, one thread per
	// CPU, are faster with all of them (docs/PERFORMANCE.md, "FUSE").
	uring := o.uring != uringOff && fusefs.IOURingAvailable() == nil
	if o.procs > 0 && o.bpfDir != "" && os.Getenv("GOMAXPROCS") == "" && !uring {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(o.procs))
	}
	m, err := kernel.Boot(kernel.Config{Seed: o.seed})
	if err != nil {
		return err
	}
	sc, err := sched.New(m, o.sched)
	if err != nil {
		return usageErr("%v", err)
	}
	defer sc.Close()
	if o.schedEvery > 0 {
		if err := sc.Start(o.schedEvery, schedErrorLogger(logger)); err != nil {
			return err
		}
	}
	reg, err := daemon.OpenRegistry()
	if err != nil {
		return err
	}
	live, _ := reg.List(true) // prunes entries of daemons that died
	id := fmt.Sprint(os.Getpid())
	info := daemon.DaemonInfo{ID: id, Pid: os.Getpid(), Socket: o.socket}
	if info.Socket == "" {
		info.Socket = reg.SocketPath(id)
	}
	if info.Socket, err = filepath.Abs(info.Socket); err != nil {
		return err
	}

	var mounts []fuseMount
	defer func() {
		for _, fm := range mounts {
			if err := fm.Unmount(); err != nil {
				logger.Print(err)
			}
		}
		waitAll(mounts, 5*time.Second, logger)
	}()
	for _, mp := range []struct{ host, sim string }{{o.bpfDir, kernel.BPFFSPath}, {o.cgDir, kernel.CgroupPath}} {
		if mp.host == "" {
			continue
		}
		if other, busy := daemon.FindDaemon(live, mp.host); busy {
			return fmt.Errorf("%s is served by the running simfs daemon pid %d: %w", mp.host, other.Pid, unix.EBUSY)
		}
		cleared, err := prepareMountpoint(mp.host)
		if err != nil {
			return err
		}
		if cleared {
			logger.Printf("replaced a stale mount on %s (its daemon was gone)", mp.host)
		}
		fm, err := serveFUSE(m, mp.sim, mp.host, o, logger)
		if err != nil {
			return err
		}
		mounts = append(mounts, fm)
		info.Mounts = append(info.Mounts, daemon.Mount{Host: mp.host, Sim: mp.sim, Transport: transport(fm)})
	}

	srv := daemon.New(daemon.Config{
		Machine: m, Sched: sc, Info: info, Logger: logger,
		AfterRequest: func() {
			for _, fm := range mounts {
				fm.Settle()
			}
		},
	})
	l, err := daemon.Listen(info.Socket)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Close()
		<-served
	}()
	if err := reg.Register(srv.Info()); err != nil {
		return err
	}
	defer reg.Unregister(id)
	if o.socket != "" {
		// A socket outside the registry directory is not removed by
		// Unregister.
		defer os.Remove(info.Socket)
	}

	if o.json {
		b, _ := json.Marshal(srv.Info())
		fmt.Fprintln(e.stdout, string(b))
	} else {
		for _, mt := range info.Mounts {
			fmt.Fprintf(e.stdout, "simfs: %s is %s\n", mt.Host, mt.Sim)
		}
		if len(info.Mounts) > 0 && info.Mounts[0].Transport == "io_uring" {
			fmt.Fprintln(e.stdout, "simfs: FUSE requests travel over io_uring")
		}
		if len(info.Mounts) == 0 {
			fmt.Fprintln(e.stdout, "simfs: no FUSE mount; commands take simulated paths (/sys/fs/bpf/..., /sys/fs/cgroup/...)")
		}
		fmt.Fprintf(e.stdout, "simfs: control socket %s (pid %d); Ctrl-C to stop\n", info.Socket, info.Pid)
	}
	if o.ready != nil {
		if err := o.ready(srv.Info(), m); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case err := <-served:
		served <- err
		if err != nil {
			return err
		}
	}
	return nil
}

// waitAll waits for the FUSE servers to finish, at most d: with files
// still open on a lazily detached mount the kernel keeps the connection
// until they are closed.
func waitAll(mounts []fuseMount, d time.Duration, logger *log.Logger) {
	done := make(chan struct{})
	go func() {
		for _, fm := range mounts {
			fm.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
		logger.Printf("files are still open on the detached mounts; exiting without waiting for them")
	}
}

// schedErrorLogger logs the failures of programs the background scheduler
// runs (a faulting sched_stat_wait program fails on every tick): the first,
// then one a second at most, with the count of those not shown.
func schedErrorLogger(logger *log.Logger) func(error) {
	var last time.Time
	skipped := 0
	return func(err error) {
		if now := time.Now(); now.Sub(last) >= time.Second {
			if skipped > 0 {
				logger.Printf("sched: %d more failures of sched_stat_wait programs", skipped)
			}
			logger.Printf("sched: %v", err)
			last, skipped = now, 0
			return
		}
		skipped++
	}
}

// jsonLine is v as one line of JSON.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
