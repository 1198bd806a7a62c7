package cgroup_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/simfs/simfs/cgroup"
	"golang.org/x/sys/unix"
	"pgregory.net/rapid"
)

// mcg is the model of a cgroup.
type mcg struct {
	cg       *cgroup.Cgroup
	name     string
	parent   *mcg
	children []*mcg // creation order, including removed ones
	removed  bool
	held     int // references taken with Get
	freeze   bool
	tasks    []*mtask // arrival order
}

type mtask struct {
	tk *cgroup.Task
	cg *mcg
}

func (m *mcg) rel() string {
	if m.parent == nil {
		return ""
	}
	if m.parent.parent == nil {
		return m.name
	}
	return m.parent.rel() + "/" + m.name
}

func (m *mcg) released() bool {
	if !m.removed || m.held > 0 {
		return false
	}
	for _, c := range m.children {
		if !c.released() {
			return false
		}
	}
	return true
}

func (m *mcg) populated() bool {
	if len(m.tasks) > 0 {
		return true
	}
	for _, c := range m.children {
		if !c.removed && c.populated() {
			return true
		}
	}
	return false
}

func (m *mcg) frozen() bool {
	for c := m; c != nil; c = c.parent {
		if c.freeze {
			return true
		}
	}
	return false
}

func (m *mcg) count(pred func(*mcg) bool) int {
	n := 0
	for _, c := range m.children {
		if pred(c) {
			n++
		}
		n += c.count(pred)
	}
	return n
}

type cgroupMachine struct {
	e     *env
	root  *mcg
	all   []*mcg
	tasks []*mtask
	ids   uint64
}

func (m *cgroupMachine) init(t *rapid.T) {
	m.e = newEnv(t, cgroup.Options{})
	m.root = &mcg{cg: m.e.h.Root()}
	m.all = []*mcg{m.root}
}

func (m *cgroupMachine) live(t *rapid.T, label string, withRoot bool) *mcg {
	var cands []*mcg
	for _, c := range m.all {
		if !c.removed && (withRoot || c.parent != nil) {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		t.Skip("no cgroup")
	}
	return rapid.SampledFrom(cands).Draw(t, label)
}

func (m *cgroupMachine) Mkdir(t *rapid.T) {
	parent := m.live(t, "parent", true)
	name := rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "name")
	rel := strings.TrimPrefix(parent.rel()+"/"+name, "/")
	err := m.e.v.Mkdir(m.e.c, m.e.p(rel), 0755)
	for _, c := range parent.children {
		if !c.removed && c.name == name {
			if errnoOf(err) != unix.EEXIST {
				t.Fatalf("mkdir existing %s: %v", rel, err)
			}
			return
		}
	}
	if err != nil {
		t.Fatalf("mkdir %s: %v", rel, err)
	}
	cg, err := m.e.h.Lookup(rel)
	if err != nil {
		t.Fatalf("lookup %s: %v", rel, err)
	}
	if cg.ID() <= m.ids {
		t.Fatalf("id %d not above %d", cg.ID(), m.ids)
	}
	m.ids = cg.ID()
	c := &mcg{cg: cg, name: name, parent: parent}
	parent.children = append(parent.children, c)
	m.all = append(m.all, c)
}

func (m *cgroupMachine) Rmdir(t *rapid.T) {
	c := m.live(t, "cgroup", false)
	err := m.e.v.Rmdir(m.e.c, m.e.p(c.rel()))
	busy := c.populated()
	for _, ch := range c.children {
		busy = busy || !ch.removed
	}
	if busy {
		if errnoOf(err) != unix.EBUSY {
			t.Fatalf("rmdir busy %s: %v", c.rel(), err)
		}
		return
	}
	if err != nil {
		t.Fatalf("rmdir %s: %v", c.rel(), err)
	}
	c.removed = true
}

func (m *cgroupMachine) Spawn(t *rapid.T) {
	c := m.live(t, "cgroup", true)
	tk, err := m.e.h.Spawn(c.cg)
	if err != nil {
		t.Fatalf("spawn: %v", err)
	}
	mt := &mtask{tk: tk, cg: c}
	c.tasks = append(c.tasks, mt)
	m.tasks = append(m.tasks, mt)
}

func (m *cgroupMachine) pickTask(t *rapid.T) *mtask {
	if len(m.tasks) == 0 {
		t.Skip("no task")
	}
	return rapid.SampledFrom(m.tasks).Draw(t, "task")
}

func removeTask(ts []*mtask, x *mtask) []*mtask {
	for i, y := range ts {
		if y == x {
			return append(ts[:i:i], ts[i+1:]...)
		}
	}
	return ts
}

func (m *cgroupMachine) Move(t *rapid.T) {
	mt := m.pickTask(t)
	dst := m.live(t, "dst", true)
	_, err := m.e.write(strings.TrimPrefix(dst.rel()+"/cgroup.procs", "/"), fmt.Sprint(mt.tk.Pid()))
	if err != nil {
		t.Fatalf("move %d to %s: %v", mt.tk.Pid(), dst.rel(), err)
	}
	if mt.cg != dst {
		mt.cg.tasks = removeTask(mt.cg.tasks, mt)
		dst.tasks = append(dst.tasks, mt)
		mt.cg = dst
	}
}

func (m *cgroupMachine) Exit(t *rapid.T) {
	mt := m.pickTask(t)
	mt.tk.Exit()
	mt.cg.tasks = removeTask(mt.cg.tasks, mt)
	m.tasks = removeTask(m.tasks, mt)
}

func (m *cgroupMachine) Kill(t *rapid.T) {
	c := m.live(t, "cgroup", false)
	if _, err := m.e.write(c.rel()+"/cgroup.kill", "1"); err != nil {
		t.Fatalf("kill %s: %v", c.rel(), err)
	}
	for _, mt := range append([]*mtask(nil), m.tasks...) {
		for p := mt.cg; p != nil; p = p.parent {
			if p == c {
				mt.cg.tasks = removeTask(mt.cg.tasks, mt)
				m.tasks = removeTask(m.tasks, mt)
				break
			}
		}
	}
}

func (m *cgroupMachine) Freeze(t *rapid.T) {
	c := m.live(t, "cgroup", false)
	v := rapid.Bool().Draw(t, "freeze")
	if _, err := m.e.write(c.rel()+"/cgroup.freeze", map[bool]string{true: "1", false: "0"}[v]); err != nil {
		t.Fatalf("freeze: %v", err)
	}
	c.freeze = v
}

func (m *cgroupMachine) Get(t *rapid.T) {
	var cands []*mcg
	for _, c := range m.all {
		if c.parent != nil && !c.released() {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		t.Skip("none")
	}
	c := rapid.SampledFrom(cands).Draw(t, "cgroup")
	c.cg.Get()
	c.held++
}

func (m *cgroupMachine) Put(t *rapid.T) {
	var cands []*mcg
	for _, c := range m.all {
		if c.held > 0 {
			cands = append(cands, c)
		}
	}
	if len(cands) == 0 {
		t.Skip("none held")
	}
	c := rapid.SampledFrom(cands).Draw(t, "cgroup")
	c.cg.Put()
	c.held--
}

func (m *cgroupMachine) Check(t *rapid.T) {
	for _, c := range m.all {
		if c.released() != c.cg.Released() {
			t.Fatalf("%s released %v, model %v", c.rel(), c.cg.Released(), c.released())
		}
		if c.removed != c.cg.Dead() {
			t.Fatalf("%s dead %v", c.rel(), c.cg.Dead())
		}
		if c.removed {
			continue
		}
		live := c.count(func(d *mcg) bool { return !d.removed })
		dying := c.count(func(d *mcg) bool { return d.removed && !d.released() })
		if got := c.cg.NrDescendants(); got != live {
			t.Fatalf("%s nr_descendants %d, model %d", c.rel(), got, live)
		}
		if got := c.cg.NrDyingDescendants(); got != dying {
			t.Fatalf("%s nr_dying_descendants %d, model %d", c.rel(), got, dying)
		}
		if c.cg.Populated() != c.populated() {
			t.Fatalf("%s populated %v, model %v", c.rel(), c.cg.Populated(), c.populated())
		}
		stat, err := m.e.read(strings.TrimPrefix(c.rel()+"/cgroup.stat", "/"))
		if err != nil {
			t.Fatalf("read cgroup.stat: %v", err)
		}
		if !strings.HasPrefix(stat, fmt.Sprintf("nr_descendants %d\n", live)) ||
			!strings.Contains(stat, fmt.Sprintf("\nnr_dying_descendants %d\n", dying)) ||
			!strings.Contains(stat, fmt.Sprintf("\nnr_subsys_perf_event %d\n", live+1)) {
			t.Fatalf("%s cgroup.stat %q: live %d dying %d", c.rel(), stat, live, dying)
		}
		var want strings.Builder
		for _, mt := range c.tasks {
			fmt.Fprintf(&want, "%d\n", mt.tk.Pid())
		}
		procs, err := m.e.read(strings.TrimPrefix(c.rel()+"/cgroup.procs", "/"))
		if err != nil || procs != want.String() {
			t.Fatalf("%s cgroup.procs %q, %v; model %q", c.rel(), procs, err, want.String())
		}
		if c.parent == nil {
			continue
		}
		wantEv := fmt.Sprintf("populated %d\nfrozen %d\n", b2i(c.populated()), b2i(c.frozen()))
		if ev, err := m.e.read(c.rel() + "/cgroup.events"); err != nil || ev != wantEv {
			t.Fatalf("%s cgroup.events %q, %v; model %q", c.rel(), ev, err, wantEv)
		}
		var kids []*mcg
		for _, ch := range c.children {
			if !ch.released() {
				kids = append(kids, ch)
			}
		}
		got := c.cg.Children()
		if len(got) != len(kids) {
			t.Fatalf("%s: %d children, model %d", c.rel(), len(got), len(kids))
		}
		for i := range got {
			if got[i] != kids[i].cg {
				t.Fatalf("%s: child %d is %s, model %s", c.rel(), i, got[i].Path(), kids[i].rel())
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestCgroupStateMachine(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &cgroupMachine{}
		m.init(t)
		t.Repeat(map[string]func(*rapid.T){
			"":       m.Check,
			"mkdir":  m.Mkdir,
			"rmdir":  m.Rmdir,
			"spawn":  m.Spawn,
			"move":   m.Move,
			"exit":   m.Exit,
			"kill":   m.Kill,
			"freeze": m.Freeze,
			"get":    m.Get,
			"put":    m.Put,
		})
	})
}
