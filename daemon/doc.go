// Package daemon is simfs's control plane: the daemon behind `simfs mount`
// that owns one simulated machine, its control socket, the protocol the
// CLI speaks over it, and the registry through which a CLI finds the
// daemon whose mount contains a path. It stands for no kernel file; it is
// what bpftool and a shell would reach through bpf(2) and open(2) on a
// patched kernel, and the processes they run in.
//
// # Processes
//
// One connection is one simulated process ([kernel.Machine.NewProcess]):
// its uid and gid are the peer's (SO_PEERCRED), its umask the one the
// client sends in hello. The user the daemon runs as is root inside the
// machine, as the creator of a user namespace is root in it: a user who
// starts `simfs serve` owns that machine, whatever their uid on the host.
// Other users keep their uid and gid. Every fd a request opens in it (BPF_OBJ_GET,
// BPF_PROG_LOAD, ...) lives in that process, and when the connection
// closes — the command finished, or was killed — the process exits
// ([kernel.Process.Exit]) and every fd is closed, so no reference leaks.
// Requests on one connection run one at a time; connections run
// concurrently.
//
// # Protocol (version 1)
//
// Newline-delimited JSON over a unix stream socket. A request is
//
//	{"v":1,"id":7,"op":"pin","args":{"src":"/sys/fs/bpf/p","dst":"/sys/fs/cgroup/a/p"}}
//
// and its answer, with the same id, is either
//
//	{"v":1,"id":7,"ok":true,"result":{...}}
//	{"v":1,"id":7,"ok":false,"errno":"ENXIO","error":"BPF_OBJ_PIN /sys/fs/cgroup/a/p"}
//
// errno is the symbolic name ([ErrnoName]; kernel-internal ones such as
// ENOTSUPP by their kernel name), error the message without the errno's
// own text. A request with another "v" is answered EPROTONOSUPPORT and the
// connection closed. []byte fields (keys, values, contexts, objects, file
// data) are base64, as encoding/json writes them. Paths are simulated
// paths (/sys/fs/bpf/..., /sys/fs/cgroup/...): clients translate host
// paths inside a mount with [Translate].
//
// The first request must be hello; the ops, their args and results
// (the Go types in this package) are:
//
//	hello        HelloArgs{version, umask, comm}         → HelloResult{version, pid, uid, gid, daemon}
//	info         —                                       → DaemonInfo{id, pid, socket, mounts, version, features}
//	prog.load    ProgLoadArgs{path, type, name, license, asm | object, program}
//	                                                     → ProgLoadResult{id, type, name, path, log, maps}
//	obj.load     ObjLoadArgs{object, dir}                → ObjLoadResult{pinned: [{obj_type, id, name, type, path}]}
//	map.create   MapCreateArgs{path, type, key_size, value_size, max_entries, flags, name}
//	                                                     → ObjResult{obj_type, id, path}
//	link.create  LinkCreateArgs{prog, link, cgroup, order} → ObjResult
//	pin          PinArgs{src, dst}                       → ObjResult
//	show         ShowArgs{type: prog|map|link}           → ShowResult{objects: [kernel.Info + pinned + exposed]}
//	map.dump     PathArgs{path}                          → MapDumpResult{key_size, value_size, entries: [{key, value}]}
//	map.lookup   MapKeyArgs{path, key}                   → MapEntry{key, value}
//	map.update   MapKeyArgs{path, key, value, flags}     → {}
//	map.delete   MapKeyArgs{path, key}                   → {}
//	prog.run     ProgRunArgs{path, ctx, repeat}          → ProgRunResult{retval, ctx_out, duration_ns}
//	task.spawn   TaskSpawnArgs{cgroup}                   → TaskResult{pid, cgroup, cgroup_id}
//	task.exit    TaskArgs{pid}                           → TaskResult
//	sched.run    SchedRunArgs{ticks}                     → SchedResult (sched.Status)
//	sched.show   —                                       → SchedResult{sched.Status, tasks: [sched.TaskStats + cgroup]}
//	stat         PathArgs{path}                          → StatResult{ino, mode, nlink, uid, gid, size} (lstat)
//	readdir      PathArgs{path}                          → ReadDirResult{entries: [{name, ino, type}]}
//	read         FileArgs{path}                          → FileResult{data}
//	write        FileArgs{path, data}                    → {}
//	mkdir        MkdirArgs{path, mode}                   → {}
//	rmdir, unlink PathArgs{path}                         → {}
//	rename       RenameArgs{old, new, flags}             → {}
//	obj.get      ObjGetArgs{path, flags}                 → FDResult{fd, obj_type, id} (the fd stays open)
//	close        CloseArgs{fd}                           → {}
//	fds          —                                       → FDsResult{fds}
//	events       EventsArgs{buffer}                      → {} then a stream
//
// After the answer to events, every line the daemon sends is
// {"v":1,"id":N,"ok":true,"event":{seq, time, kind, obj_type, obj_id,
// name, path, cgroup_id, pid, reason},"dropped":D} until the client hangs
// up; D counts events lost to a slow reader.
//
// # Text assembly
//
// prog.load's asm is bpfasm text (the bpf_conformance syntax) with four
// directives and one operand form, translated by the daemon, because the
// map fds exist only in the loading process:
//
//	.type view/cgroup           # program type, unless args.type says it
//	.name show                  # object name (default: the pin's base name)
//	.license GPL                # default GPL
//	.map counts /sys/fs/bpf/counts
//	lddw %r1, map:counts        # BPF_PSEUDO_MAP_FD: the map (for map helpers)
//	lddw %r2, map_value:counts+8 # BPF_PSEUDO_MAP_VALUE: entry 0's value + 8
//
// ".map NAME PATH" does BPF_OBJ_GET on PATH in the connection's process;
// each reference becomes lddw with src 1 (imm = the fd) or src 2 (imm = the
// fd, second imm = the offset), exactly as user space passes maps to
// BPF_PROG_LOAD, and the fds are closed after the load (the program holds
// the maps).
//
// # ELF objects
//
// prog.load with object (and obj.load) instantiate a clang-built object
// as libbpf would: package loader parses it and CO-RE relocates it against
// the machine's kernel BTF, the daemon creates its maps (global data
// initialised, .rodata frozen), loads the programs by section name and
// pins them. obj.load pins every program under dir by function name and
// every map by name, dots turned to underscores (bpffs refuses names with
// a dot).
//
// # Tasks and the scheduler
//
// task.spawn and task.exit are the machine's own calls
// (kernel.Process.TaskSpawn, TaskExit). With Config.Sched the daemon
// answers sched.run (take that many ticks now) and sched.show from the
// machine's simulated scheduler (package sched); whoever made the
// scheduler starts and stops its background stepping.
//
// # Registry
//
// A daemon writes <id>.json (a DaemonInfo) and its socket <id>.sock into a
// private 0700 directory: /run/simfs for root, else
// $XDG_RUNTIME_DIR/simfs, else /tmp/simfs-<uid> ([RegistryDirs]; or
// $SIMFS_RUNTIME_DIR alone when it is set). A CLI
// lists the live daemons there, picks the one whose mounts contain its
// path arguments ([FindDaemon]) and translates them ([Translate]).
// Entries of daemons that died are skipped and removed by the next daemon
// to start.
//
// # Left out
//
// Supplementary groups of the peer (the process gets the peer's uid and
// gid only), authentication beyond the socket's permissions, requests
// running concurrently within one connection.
package daemon
