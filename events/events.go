// Package events is the simulator's lifecycle event stream: objects loaded,
// pinned, exposed, unpinned and freed, kernfs exposures removed, cgroups
// created and removed, tasks spawned and exited. The CLI prints it
// (`simfs events`), the demo narrates with it and tests assert on it.
//
// It stands for nothing in the kernel (the closest relatives are the
// tracepoints bpf:bpf_prog_load and cgroup:cgroup_mkdir). Events are
// delivered synchronously, in order, to every subscriber; a subscriber that
// does not keep up loses events (and learns how many) rather than stalling
// the simulated kernel.
package events

import (
	"sync"
	"time"
)

// Kind names what happened.
type Kind string

// The lifecycle event kinds.
const (
	ProgLoaded      Kind = "prog_load"
	MapCreated      Kind = "map_create"
	LinkCreated     Kind = "link_create"
	Pinned          Kind = "pin"            // BPF_OBJ_PIN in bpffs
	Exposed         Kind = "expose"         // BPF_OBJ_PIN into a kernfs directory (the RFC)
	Unpinned        Kind = "unpin"          // a bpffs pin inode was destroyed
	ExposureRemoved Kind = "expose_removed" // a kernfs exposure went away
	ObjectFreed     Kind = "free"           // the last reference to an object went
	CgroupCreated   Kind = "cgroup_mkdir"
	CgroupRemoved   Kind = "cgroup_rmdir"
	TaskSpawned     Kind = "task_spawn"
	TaskMoved       Kind = "task_move"
	TaskExited      Kind = "task_exit"
)

// Event is one lifecycle event. Fields that do not apply are zero.
type Event struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    Kind      `json:"kind"`
	ObjType string    `json:"obj_type,omitempty"` // "prog", "map", "link"
	ObjID   uint32    `json:"obj_id,omitempty"`
	Name    string    `json:"name,omitempty"` // object name or program type
	Path    string    `json:"path,omitempty"`
	Cgroup  uint64    `json:"cgroup_id,omitempty"`
	Pid     int       `json:"pid,omitempty"`
	Reason  string    `json:"reason,omitempty"` // why an exposure went: "unpin", "rm", "rmdir"
}

// Bus fans events out to subscribers.
type Bus struct {
	mu   sync.Mutex
	seq  uint64
	now  func() time.Time
	subs map[*Subscription]struct{}
	recs []*Recorder
}

// NewBus creates a bus; now stamps events (nil: time.Now).
func NewBus(now func() time.Time) *Bus {
	if now == nil {
		now = time.Now
	}
	return &Bus{now: now, subs: make(map[*Subscription]struct{})}
}

// Emit stamps ev with a sequence number and time and delivers it.
func (b *Bus) Emit(ev Event) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	ev.Seq = b.seq
	ev.Time = b.now()
	for _, r := range b.recs {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
	}
	for s := range b.subs {
		select {
		case s.c <- ev:
		default:
			s.mu.Lock()
			s.dropped++
			s.mu.Unlock()
		}
	}
}

// EmitAll emits evs in order, as that many calls of Emit would, but under
// one lock and with one timestamp: it stamps each element of evs in place
// (consecutive sequence numbers, the same time) and delivers them, with no
// other event between them.
func (b *Bus) EmitAll(evs []Event) {
	if b == nil || len(evs) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for i := range evs {
		b.seq++
		evs[i].Seq = b.seq
		evs[i].Time = now
	}
	for _, r := range b.recs {
		r.mu.Lock()
		r.events = append(r.events, evs...)
		r.mu.Unlock()
	}
	for s := range b.subs {
		for i := range evs {
			select {
			case s.c <- evs[i]:
			default:
				s.mu.Lock()
				s.dropped++
				s.mu.Unlock()
			}
		}
	}
}

// Subscription receives events on C until Close.
type Subscription struct {
	C <-chan Event

	b       *Bus
	c       chan Event
	mu      sync.Mutex
	dropped uint64
}

// Subscribe returns a subscription buffering up to buf events.
func (b *Bus) Subscribe(buf int) *Subscription {
	c := make(chan Event, buf)
	s := &Subscription{C: c, b: b, c: c}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Dropped returns how many events did not fit in the buffer.
func (s *Subscription) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	if _, ok := s.b.subs[s]; ok {
		delete(s.b.subs, s)
		close(s.c)
	}
}

// Recorder keeps every event, for tests.
type Recorder struct {
	mu     sync.Mutex
	events []Event
}

// Record subscribes r to b synchronously: events are appended as they are
// emitted, so a test sees them as soon as the operation returns.
func (b *Bus) Record() *Recorder {
	r := &Recorder{}
	b.mu.Lock()
	b.recs = append(b.recs, r)
	b.mu.Unlock()
	return r
}

// Events returns a copy of what was recorded.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// Kinds returns the recorded kinds in order.
func (r *Recorder) Kinds() []Kind {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Kind, len(r.events))
	for i, e := range r.events {
		out[i] = e.Kind
	}
	return out
}
