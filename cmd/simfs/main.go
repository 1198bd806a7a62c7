// Command simfs runs the simulated bpffs and cgroup2 of the 2022 RFC
// "Pinning bpf objects outside bpffs" over FUSE, and is the bpftool-shaped
// CLI that talks to it.
//
//	simfs mount DIR                       serve DIR/bpf and DIR/cgroup until Ctrl-C
//	simfs demo [--once]                   the RFC lifecycle, step by step
//	simfs prog load FILE PATH [--type T]  load text assembly or an ELF object, pin it
//	simfs prog loadall OBJ DIR            load a clang-built object, pin all it has
//	simfs link create PROG LINK           attach a program (a view link for view/cgroup)
//	simfs pin SRC DST                     pin again, or expose in a cgroup directory
//	simfs task spawn CGROUP_DIR           a simulated task, which the scheduler runs
//
// Run `simfs help` for every command. Commands other than mount, serve,
// demo and btf dump talk to a running daemon over its control socket,
// found from their path arguments (see package daemon).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/simfs/simfs/daemon"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// env is what a command runs with.
type env struct {
	stdout, stderr io.Writer
	// mounts translate paths in messages back to the host's.
	mounts []daemon.Mount
}

type command struct {
	name  string
	usage string
	run   func(e *env, args []string) error
}

func commands() []command {
	return []command{
		{"mount", "mount DIR [--bpf DIR2] [--cgroup DIR3] [--allow-other] [--socket PATH] [--gomaxprocs N] [--io-uring auto|on|off] [--passthrough] [MACHINE FLAGS] [--json]", cmdMount},
		{"serve", "serve [--socket PATH] [MACHINE FLAGS] [--json]   (the daemon without FUSE: commands take simulated paths)", cmdServe},
		{"demo", "demo [--once] [--dir DIR] [--library]", cmdDemo},
		{"status", "status [--json]   (running daemons and their mounts)", cmdStatus},
		{"prog load", "prog load FILE PATH [--type TYPE] [--prog NAME] [--name NAME] [--license L] [--json]", cmdProgLoad},
		{"prog loadall", "prog loadall OBJ DIR [--json]", cmdProgLoadAll},
		{"prog show", "prog show [--json]", cmdShow("prog")},
		{"prog run", "prog run PATH [--ctx HEX] [--repeat N] [--json]", cmdProgRun},
		{"map create", "map create PATH --type hash|array|percpu_hash|percpu_array --key SIZE --value SIZE --entries N [--flags F] [--name NAME] [--json]", cmdMapCreate},
		{"map show", "map show [--json]", cmdShow("map")},
		{"map dump", "map dump PATH [--json]", cmdMapDump},
		{"map lookup", "map lookup PATH KEY|--key-u32 N|--key-u64 N [--json]", cmdMapLookup},
		{"map update", "map update PATH KEY VALUE [--key-u32 N|--key-u64 N] [--value-u32 N|--value-u64 N] [--noexist|--exist] [--json]", cmdMapUpdate},
		{"map delete", "map delete PATH KEY|--key-u32 N|--key-u64 N [--json]", cmdMapDelete},
		{"link create", "link create PROG_PATH LINK_PATH [--cgroup DIR --order pre|post|self|up] [--json]", cmdLinkCreate},
		{"link show", "link show [--json]", cmdShow("link")},
		{"pin", "pin SRC DST [--json]", cmdPin},
		{"task spawn", "task spawn CGROUP_DIR [--json]", cmdTaskSpawn},
		{"task exit", "task exit PID [--json]", cmdTaskExit},
		{"sched run", "sched run TICKS [--json]   (run the simulated scheduler now)", cmdSchedRun},
		{"sched show", "sched show [--json]   (the scheduler and its tasks)", cmdSchedShow},
		{"events", "events [--json]", cmdEvents},
		{"btf dump", "btf dump [--json]", cmdBTFDump},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: simfs COMMAND [ARGS]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintln(w, "  simfs "+c.usage)
	}
	fmt.Fprintln(w, "\nMACHINE FLAGS: --seed N --cpus N --tick 4ms --sched-every 10ms (0: the scheduler runs only on `simfs sched run`).")
	fmt.Fprintln(w, "Paths inside a running mount find their daemon; --socket PATH (or $SIMFS_SOCKET) picks one by hand.")
	fmt.Fprintln(w, "Errors name the errno: simfs: BPF_OBJ_PIN DIR/cgroup/a/x: ENXIO (No such device or address).")
}

// errUsage is a command line that does not parse; it exits 2.
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func usageErr(format string, args ...any) error { return errUsage{fmt.Sprintf(format, args...)} }

func run(args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		w := stdout
		if len(args) == 0 {
			w = stderr
		}
		usage(w)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) < len(words) || strings.Join(args[:len(words)], " ") != c.name {
			continue
		}
		err := c.run(e, args[len(words):])
		if err == nil {
			return 0
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue errUsage
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "simfs: %s\nusage: simfs %s\n", ue.msg, c.usage)
			return 2
		}
		fmt.Fprintf(stderr, "simfs: %s\n", e.describe(err))
		return 1
	}
	fmt.Fprintf(stderr, "simfs: unknown command %q\n", strings.Join(args, " "))
	usage(stderr)
	return 2
}

// describe renders an error with its errno's symbolic name and simulated
// paths shown as the host sees them.
func (e *env) describe(err error) string {
	var de *daemon.Error
	var msg string
	switch {
	case errors.As(err, &de):
		msg = de.Error()
	default:
		var errno syscall.Errno
		if errors.As(err, &errno) {
			msg = strings.TrimSuffix(strings.TrimSuffix(err.Error(), errno.Error()), ": ")
			if msg == "" {
				msg = daemon.ErrnoString(errno)
			} else {
				msg += ": " + daemon.ErrnoString(errno)
			}
		} else {
			msg = err.Error()
		}
	}
	return hostPaths(e.mounts, msg)
}

// hostPaths replaces simulated paths in a message by the host paths that
// show them.
func hostPaths(mounts []daemon.Mount, msg string) string {
	words := strings.Split(msg, " ")
	for i, w := range words {
		trail := strings.TrimLeft(w, `"'(`)
		lead := w[:len(w)-len(trail)]
		core := strings.TrimRight(trail, `"'):,`)
		tail := trail[len(core):]
		if strings.HasPrefix(core, "/") {
			words[i] = lead + daemon.Untranslate(mounts, core) + tail
		}
	}
	return strings.Join(words, " ")
}
