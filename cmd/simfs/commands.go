package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/simfs/simfs/daemon"
	"github.com/simfs/simfs/events"
	"github.com/simfs/simfs/kernel"
	"github.com/simfs/simfs/sched"
)

func cmdProgLoad(e *env, args []string) error {
	f := newFlags(e, "prog load", true)
	typ := f.String("type", "", "program type for text assembly (view/cgroup, iter/cgroup, syscall, tp_btf/sched_stat_wait, ...)")
	prog := f.String("prog", "", "the program of an ELF object with several")
	name := f.String("name", "", "object name (default: the pin's base name)")
	license := f.String("license", "", "license (default GPL)")
	pos, err := f.parse(args, 2, 2)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-prog", pos[1])
	if err != nil {
		return err
	}
	defer s.Close()
	pin, err := s.sim(pos[1])
	if err != nil {
		return err
	}
	a := daemon.ProgLoadArgs{Path: pin, Type: *typ, Name: *name, License: *license, Program: *prog}
	if bytes.HasPrefix(data, []byte("\x7fELF")) {
		a.Object = data
	} else {
		a.Asm, err = daemon.RewriteMapPaths(string(data), s.sim)
		if err != nil {
			return err
		}
	}
	var res daemon.ProgLoadResult
	if err := s.Call(daemon.OpProgLoad, a, &res); err != nil {
		return err
	}
	res.Path = s.host(res.Path)
	if f.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "prog %d (%s) %s pinned at %s\n", res.ID, res.Type, res.Name, res.Path)
	return nil
}

func cmdProgLoadAll(e *env, args []string) error {
	f := newFlags(e, "prog loadall", true)
	pos, err := f.parse(args, 2, 2)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-prog", pos[1])
	if err != nil {
		return err
	}
	defer s.Close()
	dir, err := s.sim(pos[1])
	if err != nil {
		return err
	}
	var res daemon.ObjLoadResult
	if err := s.Call(daemon.OpObjLoad, daemon.ObjLoadArgs{Object: data, Dir: dir}, &res); err != nil {
		return err
	}
	for i := range res.Pinned {
		res.Pinned[i].Path = s.host(res.Pinned[i].Path)
	}
	if f.json {
		return printJSON(e.stdout, res)
	}
	for _, p := range res.Pinned {
		fmt.Fprintf(e.stdout, "%s %d (%s) %s pinned at %s\n", p.ObjType, p.ID, p.Type, p.Name, p.Path)
	}
	return nil
}

func cmdShow(typ string) func(e *env, args []string) error {
	return func(e *env, args []string) error {
		f := newFlags(e, typ+" show", true)
		if _, err := f.parse(args, 0, 0); err != nil {
			return err
		}
		s, err := connect(e, f, "simfs-show")
		if err != nil {
			return err
		}
		defer s.Close()
		var res daemon.ShowResult
		if err := s.Call(daemon.OpShow, daemon.ShowArgs{Type: typ}, &res); err != nil {
			return err
		}
		for i := range res.Objects {
			for j, p := range res.Objects[i].Pinned {
				res.Objects[i].Pinned[j] = s.host(p)
			}
			for j, p := range res.Objects[i].Exposed {
				res.Objects[i].Exposed[j] = s.host(p)
			}
		}
		if f.json {
			return printJSON(e.stdout, res.Objects)
		}
		for _, o := range res.Objects {
			printObject(e, o)
		}
		return nil
	}
}

// printObject prints one object as bpftool's plain output does.
func printObject(e *env, o daemon.Object) {
	w := e.stdout
	switch o.ObjType {
	case "prog":
		fmt.Fprintf(w, "%d: %s  name %s  tag %s", o.ID, o.ProgType, o.Name, o.Tag)
		if o.License != "" {
			fmt.Fprintf(w, "  license %s", o.License)
		}
		fmt.Fprintf(w, "\n\tloaded_at %s  insns %d  refs %d", o.LoadedAt.Format(time.RFC3339), o.Insns, o.Refs)
		if len(o.MapIDs) > 0 {
			ids := make([]string, len(o.MapIDs))
			for i, id := range o.MapIDs {
				ids[i] = strconv.Itoa(int(id))
			}
			fmt.Fprintf(w, "  map_ids %s", strings.Join(ids, ","))
		}
		fmt.Fprintln(w)
	case "map":
		fmt.Fprintf(w, "%d: %s  name %s  flags 0x%x\n", o.ID, o.MapType, o.Name, o.MapFlags)
		fmt.Fprintf(w, "\tkey %dB  value %dB  max_entries %d  refs %d", o.KeySize, o.ValueSize, o.MaxEntries, o.Refs)
		if o.Frozen {
			fmt.Fprint(w, "  frozen")
		}
		fmt.Fprintln(w)
	case "link":
		fmt.Fprintf(w, "%d: %s  prog %d  name %s  refs %d\n", o.ID, o.LinkType, o.ProgID, o.Name, o.Refs)
		if len(o.Attrs) > 0 {
			var parts []string
			for _, kv := range o.Attrs {
				parts = append(parts, kv[0]+" "+kv[1])
			}
			fmt.Fprintf(w, "\t%s\n", strings.Join(parts, "  "))
		}
	}
	for _, p := range o.Pinned {
		fmt.Fprintf(w, "\tpinned %s\n", p)
	}
	for _, p := range o.Exposed {
		fmt.Fprintf(w, "\texposed %s\n", p)
	}
}

func cmdProgRun(e *env, args []string) error {
	f := newFlags(e, "prog run", true)
	ctxHex := f.String("ctx", "", "context bytes in hex")
	repeat := f.Int("repeat", 1, "runs")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	ctx, err := parseHex(*ctxHex)
	if err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-prog", pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	p, err := s.sim(pos[0])
	if err != nil {
		return err
	}
	var res daemon.ProgRunResult
	if err := s.Call(daemon.OpProgRun, daemon.ProgRunArgs{Path: p, Ctx: ctx, Repeat: *repeat}, &res); err != nil {
		return err
	}
	if f.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "retval %d (0x%x)\nduration %dns\n", res.Retval, res.Retval, res.DurationNs)
	if len(res.CtxOut) > 0 {
		fmt.Fprintf(e.stdout, "ctx_out %s\n", hexBytes(res.CtxOut))
	}
	return nil
}

func cmdMapCreate(e *env, args []string) error {
	f := newFlags(e, "map create", true)
	typ := f.String("type", "", "hash, array, percpu_hash or percpu_array")
	key := f.Uint("key", 0, "key size in bytes")
	value := f.Uint("value", 0, "value size in bytes")
	entries := f.Uint("entries", 0, "max entries")
	fl := f.Uint("flags", 0, "map flags (BPF_F_*)")
	name := f.String("name", "", "map name (default: the pin's base name)")
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-map", pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	p, err := s.sim(pos[0])
	if err != nil {
		return err
	}
	var res daemon.ObjResult
	a := daemon.MapCreateArgs{Path: p, Type: *typ, KeySize: uint32(*key), ValueSize: uint32(*value), MaxEntries: uint32(*entries), Flags: uint32(*fl), Name: *name}
	if err := s.Call(daemon.OpMapCreate, a, &res); err != nil {
		return err
	}
	res.Path = s.host(res.Path)
	if f.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "map %d pinned at %s\n", res.ID, res.Path)
	return nil
}

// mapEntryJSON is a map entry as --json prints it: hex strings.
type mapEntryJSON struct {
	Key   string `json:"key"`
	Value string `json:"value,omitempty"`
}

func entryJSON(m daemon.MapEntry) mapEntryJSON {
	return mapEntryJSON{Key: hexBytes(m.Key), Value: hexBytes(m.Value)}
}

func cmdMapDump(e *env, args []string) error {
	f := newFlags(e, "map dump", true)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-map", pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	p, err := s.sim(pos[0])
	if err != nil {
		return err
	}
	var res daemon.MapDumpResult
	if err := s.Call(daemon.OpMapDump, daemon.PathArgs{Path: p}, &res); err != nil {
		return err
	}
	if f.json {
		out := make([]mapEntryJSON, 0, len(res.Entries))
		for _, en := range res.Entries {
			out = append(out, entryJSON(en))
		}
		return printJSON(e.stdout, out)
	}
	for _, en := range res.Entries {
		fmt.Fprintf(e.stdout, "key: %s  value: %s\n", hexBytes(en.Key), hexBytes(en.Value))
	}
	fmt.Fprintf(e.stdout, "Found %d element", len(res.Entries))
	if len(res.Entries) != 1 {
		fmt.Fprint(e.stdout, "s")
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// mapKeyCmd connects and reads PATH and the key (and, with value, the
// value) for lookup, update and delete.
func mapKeyCmd(e *env, name string, args []string, value bool, extra func(f *flags)) (*session, *flags, daemon.MapKeyArgs, error) {
	f := newFlags(e, name, true)
	kf := f.kvFlags("key")
	var vf *kv
	if value {
		vf = f.kvFlags("value")
	}
	if extra != nil {
		extra(f)
	}
	pos, err := f.parse(args, 1, 3)
	if err != nil {
		return nil, nil, daemon.MapKeyArgs{}, err
	}
	path := pos[0]
	rest := pos[1:]
	var a daemon.MapKeyArgs
	if a.Key, err = kf.take("key", &rest); err != nil {
		return nil, nil, a, err
	}
	if value {
		if a.Value, err = vf.take("value", &rest); err != nil {
			return nil, nil, a, err
		}
	}
	if len(rest) > 0 {
		return nil, nil, a, usageErr("unexpected argument %q", rest[0])
	}
	s, err := connect(e, f, "simfs-map", path)
	if err != nil {
		return nil, nil, a, err
	}
	if a.Path, err = s.sim(path); err != nil {
		s.Close()
		return nil, nil, a, err
	}
	return s, f, a, nil
}

func cmdMapLookup(e *env, args []string) error {
	s, f, a, err := mapKeyCmd(e, "map lookup", args, false, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	var res daemon.MapEntry
	if err := s.Call(daemon.OpMapLookup, a, &res); err != nil {
		return err
	}
	if f.json {
		return printJSON(e.stdout, entryJSON(res))
	}
	fmt.Fprintf(e.stdout, "key: %s  value: %s\n", hexBytes(res.Key), hexBytes(res.Value))
	return nil
}

func cmdMapUpdate(e *env, args []string) error {
	var noexist, exist *bool
	s, f, a, err := mapKeyCmd(e, "map update", args, true, func(f *flags) {
		noexist = f.Bool("noexist", false, "BPF_NOEXIST: fail if the key exists")
		exist = f.Bool("exist", false, "BPF_EXIST: fail unless the key exists")
	})
	if err != nil {
		return err
	}
	defer s.Close()
	switch {
	case *noexist && *exist:
		return usageErr("--noexist or --exist, not both")
	case *noexist:
		a.Flags = 1
	case *exist:
		a.Flags = 2
	}
	if err := s.Call(daemon.OpMapUpdate, a, nil); err != nil {
		return err
	}
	if f.json {
		return printJSON(e.stdout, entryJSON(daemon.MapEntry{Key: a.Key, Value: a.Value}))
	}
	return nil
}

func cmdMapDelete(e *env, args []string) error {
	s, f, a, err := mapKeyCmd(e, "map delete", args, false, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Call(daemon.OpMapDelete, a, nil); err != nil {
		return err
	}
	if f.json {
		return printJSON(e.stdout, entryJSON(daemon.MapEntry{Key: a.Key}))
	}
	return nil
}

func cmdLinkCreate(e *env, args []string) error {
	f := newFlags(e, "link create", true)
	cg := f.String("cgroup", "", "start cgroup directory of a cgroup iterator")
	order := f.String("order", "", "cgroup iterator order: pre, post, self or up")
	pos, err := f.parse(args, 2, 2)
	if err != nil {
		return err
	}
	paths := []string{pos[0], pos[1]}
	if *cg != "" {
		paths = append(paths, *cg)
	}
	s, err := connect(e, f, "simfs-link", paths...)
	if err != nil {
		return err
	}
	defer s.Close()
	var a daemon.LinkCreateArgs
	if a.Prog, err = s.sim(pos[0]); err != nil {
		return err
	}
	if a.Link, err = s.sim(pos[1]); err != nil {
		return err
	}
	if *cg != "" {
		if a.Cgroup, err = s.sim(*cg); err != nil {
			return err
		}
	}
	a.Order = *order
	var res daemon.ObjResult
	if err := s.Call(daemon.OpLinkCreate, a, &res); err != nil {
		return err
	}
	res.Path = s.host(res.Path)
	if f.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "link %d pinned at %s\n", res.ID, res.Path)
	return nil
}

func cmdPin(e *env, args []string) error {
	f := newFlags(e, "pin", true)
	pos, err := f.parse(args, 2, 2)
	if err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-pin", pos[0], pos[1])
	if err != nil {
		return err
	}
	defer s.Close()
	var a daemon.PinArgs
	if a.Src, err = s.sim(pos[0]); err != nil {
		return err
	}
	if a.Dst, err = s.sim(pos[1]); err != nil {
		return err
	}
	var res daemon.ObjResult
	if err := s.Call(daemon.OpPin, a, &res); err != nil {
		return err
	}
	res.Path = s.host(res.Path)
	if f.json {
		return printJSON(e.stdout, res)
	}
	verb := "pinned"
	if res.Exposed {
		verb = "exposed"
	}
	fmt.Fprintf(e.stdout, "%s %d %s at %s\n", res.ObjType, res.ID, verb, res.Path)
	return nil
}

func cmdTaskSpawn(e *env, args []string) error {
	f := newFlags(e, "task spawn", true)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-task", pos[0])
	if err != nil {
		return err
	}
	defer s.Close()
	cg, err := s.sim(pos[0])
	if err != nil {
		return err
	}
	var res daemon.TaskResult
	if err := s.Call(daemon.OpTaskSpawn, daemon.TaskSpawnArgs{Cgroup: cg}, &res); err != nil {
		return err
	}
	res.Cgroup = s.host(res.Cgroup)
	if f.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintln(e.stdout, res.Pid)
	return nil
}

func cmdTaskExit(e *env, args []string) error {
	f := newFlags(e, "task exit", true)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(pos[0])
	if err != nil {
		return usageErr("PID %q is not a number", pos[0])
	}
	s, err := connect(e, f, "simfs-task")
	if err != nil {
		return err
	}
	defer s.Close()
	var res daemon.TaskResult
	if err := s.Call(daemon.OpTaskExit, daemon.TaskArgs{Pid: pid}, &res); err != nil {
		return err
	}
	res.Cgroup = s.host(res.Cgroup)
	if f.json {
		return printJSON(e.stdout, res)
	}
	return nil
}

func cmdEvents(e *env, args []string) error {
	f := newFlags(e, "events", true)
	count := f.Int("count", 0, "stop after this many events (0: until the daemon goes or Ctrl-C)")
	pos, err := f.parse(args, 0, 1)
	if err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-events", pos...)
	if err != nil {
		return err
	}
	defer s.Close()
	n := 0
	var werr error
	err = s.Events(0, func(ev events.Event, dropped uint64) bool {
		if ev.Path != "" {
			ev.Path = s.host(ev.Path)
		}
		if f.json {
			werr = printEventJSON(e, ev)
		} else {
			_, werr = fmt.Fprintln(e.stdout, formatEvent(ev, dropped))
		}
		n++
		return werr == nil && (*count == 0 || n < *count)
	})
	if err != nil {
		return err
	}
	return werr
}

func printEventJSON(e *env, ev events.Event) error {
	b, err := jsonLine(ev)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}

// formatEvent is one line per event: time, sequence number, kind, then the
// fields that apply.
func formatEvent(ev events.Event, dropped uint64) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s #%d %s", ev.Time.Format("15:04:05.000"), ev.Seq, ev.Kind)
	if ev.ObjType != "" {
		fmt.Fprintf(&sb, " %s %d", ev.ObjType, ev.ObjID)
	}
	if ev.Name != "" {
		fmt.Fprintf(&sb, " name=%s", ev.Name)
	}
	if ev.Path != "" {
		fmt.Fprintf(&sb, " path=%s", ev.Path)
	}
	if ev.Cgroup != 0 {
		fmt.Fprintf(&sb, " cgroup=%d", ev.Cgroup)
	}
	if ev.Pid != 0 {
		fmt.Fprintf(&sb, " pid=%d", ev.Pid)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&sb, " reason=%s", ev.Reason)
	}
	if dropped > 0 {
		fmt.Fprintf(&sb, " (%d events dropped so far)", dropped)
	}
	return sb.String()
}

func cmdSchedRun(e *env, args []string) error {
	f := newFlags(e, "sched run", true)
	pos, err := f.parse(args, 1, 1)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(pos[0])
	if err != nil {
		return usageErr("TICKS %q is not a number", pos[0])
	}
	s, err := connect(e, f, "simfs-sched")
	if err != nil {
		return err
	}
	defer s.Close()
	var res daemon.SchedResult
	if err := s.Call(daemon.OpSchedRun, daemon.SchedRunArgs{Ticks: n}, &res); err != nil {
		return err
	}
	if f.json {
		return printJSON(e.stdout, res)
	}
	fmt.Fprintf(e.stdout, "ran %d ticks: %s\n", n, schedSummary(res.Status))
	return nil
}

// schedSummary is the scheduler's state in one line.
func schedSummary(st sched.Status) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "simulated time %s (%d ticks of %s), %d CPU", st.Now, st.Ticks, st.Tick, st.CPUs)
	if st.CPUs != 1 {
		sb.WriteString("s")
	}
	fmt.Fprintf(&sb, ", %d tasks, sched_stat_wait fired %d times", st.NrTasks, st.Fired)
	if st.Errors > 0 {
		fmt.Fprintf(&sb, " (%d program runs failed; the last: %s)", st.Errors, st.LastError)
	}
	return sb.String()
}

func cmdSchedShow(e *env, args []string) error {
	f := newFlags(e, "sched show", true)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	s, err := connect(e, f, "simfs-sched")
	if err != nil {
		return err
	}
	defer s.Close()
	var res daemon.SchedResult
	if err := s.Call(daemon.OpSchedShow, nil, &res); err != nil {
		return err
	}
	for i := range res.Tasks {
		res.Tasks[i].Cgroup = s.host(res.Tasks[i].Cgroup)
	}
	if f.json {
		return printJSON(e.stdout, res)
	}
	w := e.stdout
	fmt.Fprintln(w, schedSummary(res.Status))
	if res.Background > 0 {
		fmt.Fprintf(w, "a tick every %s of wall-clock time\n", res.Background)
	} else {
		fmt.Fprintln(w, "no background ticks: `simfs sched run N` advances it")
	}
	if len(res.Tasks) == 0 {
		return nil
	}
	fmt.Fprintf(w, "%-7s %-9s %-4s %12s %12s %7s %14s  %s\n", "PID", "STATE", "CPU", "RUN", "WAIT", "WAITS", "MAX_WAIT_NS", "CGROUP")
	for _, t := range res.Tasks {
		fmt.Fprintf(w, "%-7d %-9s %-4d %12s %12s %7d %14d  %s\n", t.Pid, t.State, t.CPU,
			t.Run.Round(time.Microsecond), t.Wait.Round(time.Microsecond), t.Waits, int64(t.MaxWait), t.Cgroup)
	}
	return nil
}

func cmdBTFDump(e *env, args []string) error {
	f := newFlags(e, "btf dump", false)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	// The types of a machine as `simfs mount` boots it.
	m, err := kernel.Boot(kernel.Config{})
	if err != nil {
		return err
	}
	h := m.Layout().Header()
	if f.json {
		return printJSON(e.stdout, struct {
			Header string `json:"header"`
		}{string(h)})
	}
	_, err = e.stdout.Write(h)
	return err
}

func cmdStatus(e *env, args []string) error {
	f := newFlags(e, "status", false)
	if _, err := f.parse(args, 0, 0); err != nil {
		return err
	}
	infos := daemon.ListAll()
	if infos == nil {
		infos = []daemon.DaemonInfo{}
	}
	if f.json {
		return printJSON(e.stdout, infos)
	}
	if len(infos) == 0 {
		fmt.Fprintln(e.stdout, "no simfs daemon is running")
	}
	for _, in := range infos {
		fmt.Fprintf(e.stdout, "pid %d  socket %s\n", in.Pid, in.Socket)
		for _, m := range in.Mounts {
			fmt.Fprintf(e.stdout, "\t%s = %s\n", m.Host, m.Sim)
		}
	}
	return nil
}
