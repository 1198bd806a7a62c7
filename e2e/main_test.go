// Package e2e runs one script of file operations against three targets —
// a real bpffs, a real cgroup2 mount and simfs's FUSE mount of both — and
// requires every observation to agree: errno, mode, link count, size and
// fresh file content, as gVisor checks its file systems against Linux
// with one syscall test suite.
//
// Every operation is made by a child process (this test binary
// re-executed in helper mode, SIMFS_E2E_HELPER) with raw system calls, so
// the comparison sees exactly what a program sees through the kernel: for
// simfs that is the kernel's FUSE client in front of the simulator. The
// serving process (`simfs mount`, built and started by the test) never
// touches its own mount. BPF objects are pinned with BPF_OBJ_PIN: on the
// real side from cilium/ebpf objects and a raw bpf(2), on the simfs side
// with the CLI (`simfs map create`, `simfs prog load`, `simfs pin`), which
// the daemon runs in the simulated kernel. Tasks are a real `sleep` moved
// by writing its pid, and `simfs task spawn` pids.
//
// What cannot agree because simfs is reached through FUSE is asserted as
// the difference it must be (step.fuse), never skipped: statfs's f_type
// (FUSE_SUPER_MAGIC), the capabilities behind a request (the simulator
// sees a uid: a PSI trigger window that needs CAP_SYS_RESOURCE), and the
// writer of "0" to cgroup.procs (a host process the simulator cannot
// move). Readdir order is compared as is: the kernel does not sort a FUSE
// listing, and simfs reproduces dcache and kernfs order. The asynchronous
// RELEASE of FUSE is not observed by any step (bpffs objects cannot be
// opened, closing a cgroup file has no visible effect); fusefs's own
// end-to-end tests cover it. Differences of simfs's library that are not
// FUSE's (step.known, step.orderKnown) are logged with their reason, and
// logged again when they go away. The tests need
// root, /dev/fuse and mounts of bpf and cgroup2, and skip cleanly
// otherwise; everything mounted or created is removed by t.Cleanup.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperMain(os.Args[1:]))
	}
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}
