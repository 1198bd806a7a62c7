package e2e

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// step is one operation of a script and how to observe it on a side.
type step struct {
	name string
	do   func(t *testing.T, s *side) string
	// fuse, if set, maps the kernel's observation to the one simfs must
	// give because it is reached through FUSE (a documented limit).
	fuse func(kernel string) string
	// settle: the kernel finishes this step's effect asynchronously
	// (a killed task leaves its cgroup after the wait): its side is
	// polled until it agrees, for up to 5 s.
	settle bool
	// orderKnown, if set, is why the order of a listing differs for a
	// reason outside this comparison: the names must agree, the order is
	// compared and a difference logged as a known divergence.
	orderKnown string
	// known, if set, is why simfs's library answers differently from the
	// kernel here (a gap outside FUSE, reported to the package's owner):
	// a difference is logged, agreement too, so the note can go.
	known string
	// normalize, if set, rewrites both observations before comparing
	// (values that depend on timing).
	normalize func(string) string
}

// op is a helper operation. Arguments starting with "@" are paths
// relative to the side's root ("@" is the root itself); "$LABEL" in an
// argument is the pid of the task labelled LABEL, and pids in the
// observation are shown as "$LABEL".
func op(name string, args ...string) step {
	return step{name: name + " " + strings.Join(args, " "), do: func(t *testing.T, s *side) string {
		return helper(t, s, "", name, args...)
	}}
}

// as is op run by an unprivileged user (uid and gid 65534, no groups).
func as(name string, args ...string) step {
	st := op(name, args...)
	st.name = "(nobody) " + st.name
	st.do = func(t *testing.T, s *side) string { return helper(t, s, "65534", name, args...) }
	return st
}

func helper(t *testing.T, s *side, user, name string, args ...string) string {
	var argv []string
	if user != "" {
		argv = append(argv, "as", user, user)
	}
	argv = append(argv, name)
	for _, a := range args {
		argv = append(argv, s.expand(a))
	}
	return s.labelPids(run(t, argv...))
}

func (s *side) path(rel string) string {
	if rel == "" {
		return s.root
	}
	return s.root + "/" + rel
}

func (s *side) expand(a string) string {
	if rest, ok := strings.CutPrefix(a, "@"); ok {
		a = s.path(rest)
	}
	return pidRef.ReplaceAllStringFunc(a, func(ref string) string { return strconv.Itoa(s.pid(ref[1:])) })
}

var pidRef = regexp.MustCompile(`\$[A-Z][A-Z0-9]*`)

// labelPids replaces the pids of the side's tasks by their labels.
func (s *side) labelPids(out string) string {
	for _, l := range s.labels {
		out = regexp.MustCompile(`\b`+strconv.Itoa(s.pid(l))+`\b`).ReplaceAllString(out, "$$"+l)
	}
	return out
}

// pinMap, pinProg and pinAgain are BPF_OBJ_PIN steps.
func pinMap(rel string) step {
	return step{name: "pin map " + rel, do: func(t *testing.T, s *side) string { return s.pinMap(s.path(rel)) }}
}

func pinProg(rel string) step {
	return step{name: "pin prog " + rel, do: func(t *testing.T, s *side) string { return s.pinProg(s.path(rel)) }}
}

func pinAgain(src, dst string) step {
	return step{name: "pin " + src + " again at " + dst, do: func(t *testing.T, s *side) string {
		return s.pinAgain(s.path(src), s.path(dst))
	}}
}

// spawn starts a task labelled label in the cgroup rel.
func spawn(label, rel string) step {
	return step{name: "spawn " + label + " in " + rel, do: func(t *testing.T, s *side) string {
		s.labels = append(s.labels, label)
		return s.spawn(label, s.path(rel))
	}}
}

// kill ends the task labelled label.
func kill(label string) step {
	return step{name: "kill " + label, do: func(t *testing.T, s *side) string {
		return s.kill(label)
	}}
}

// eventually marks a step whose kernel side settles asynchronously.
func eventually(st step) step {
	st.settle = true
	return st
}

// compare runs the steps on the kernel's side and on simfs's and reports
// every observation that differs; it returns how many did.
func compare(t *testing.T, kernel, sim *side, steps []step) int {
	t.Helper()
	bad := 0
	for i, st := range steps {
		norm := func(s string) string {
			if st.normalize != nil {
				return st.normalize(s)
			}
			return s
		}
		k := norm(st.do(t, kernel))
		got := norm(st.do(t, sim))
		want := k
		if st.fuse != nil {
			want = st.fuse(k)
		}
		for deadline := time.Now().Add(5 * time.Second); st.settle && got != want && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
			k = norm(st.do(t, kernel))
			want = k
		}
		if st.known != "" {
			if got != want {
				t.Logf("step %d, %s: known divergence (%s):\n%s: %s\nsimfs: %s", i, st.name, st.known, kernel.name, want, got)
			} else {
				t.Logf("step %d, %s: simfs now agrees (%s no longer applies): %s", i, st.name, st.known, oneLine(got))
			}
			continue
		}
		if st.orderKnown != "" && got != want && sortedList(got) == sortedList(want) {
			t.Logf("step %d, %s: known divergence in order (%s):\n%s: %s\nsimfs: %s", i, st.name, st.orderKnown, kernel.name, want, got)
			continue
		}
		if got != want {
			bad++
			t.Errorf("step %d, %s:\n%s: %s\nsimfs: %s", i, st.name, kernel.name, want, got)
			continue
		}
		if st.fuse != nil && k != want {
			t.Logf("step %d, %s: %s %s; simfs %s (through FUSE)", i, st.name, kernel.name, oneLine(k), oneLine(got))
		} else {
			t.Logf("step %d, %s: %s", i, st.name, oneLine(got))
		}
	}
	return bad
}

// sortedList sorts a comma-separated listing.
func sortedList(s string) string {
	l := strings.Split(s, ",")
	slices.Sort(l)
	return strings.Join(l, ",")
}

func oneLine(s string) string {
	if strings.Contains(s, "\n") {
		return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", " | ")
	}
	return s
}
