package kernfs

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestIDTable(t *testing.T) {
	a, b, c := &Node{name: "a"}, &Node{name: "b"}, &Node{name: "c"}
	tests := []struct {
		name string
		run  func(t *testing.T, tab *idTable)
	}{
		{"empty", func(t *testing.T, tab *idTable) {
			require.Nil(t, tab.get(1))
			require.False(t, tab.remove(1, a))
			require.Equal(t, 0, tab.len())
		}},
		{"set get remove", func(t *testing.T, tab *idTable) {
			tab.set(1, a)
			tab.set(2, b)
			require.Same(t, a, tab.get(1))
			require.Same(t, b, tab.get(2))
			require.Nil(t, tab.get(3))
			require.Equal(t, 2, tab.len())
			require.False(t, tab.remove(1, b), "only the node the id maps to")
			require.True(t, tab.remove(1, a))
			require.False(t, tab.remove(1, a))
			require.Nil(t, tab.get(1))
			require.Equal(t, 1, tab.len())
		}},
		{"page boundaries", func(t *testing.T, tab *idTable) {
			ids := []uint32{idPageMask, idPageMask + 1, 1 << 31, 1<<31 - 1}
			for i, id := range ids {
				tab.set(id, []*Node{a, b, c, a}[i])
			}
			require.Same(t, a, tab.get(idPageMask))
			require.Same(t, b, tab.get(idPageMask+1))
			require.Same(t, c, tab.get(1<<31))
			require.Same(t, a, tab.get(1<<31-1))
			require.Len(t, tab.pages, 4)
			require.True(t, tab.remove(idPageMask+1, b))
			require.Len(t, tab.pages, 3, "an empty page leaves")
		}},
		{"taken slot panics", func(t *testing.T, tab *idTable) {
			tab.set(5, a)
			require.Panics(t, func() { tab.set(5, b) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, &idTable{}) })
	}
}

// TestIDTableModel checks idTable against a map.
func TestIDTableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var tab idTable
		model := map[uint32]*Node{}
		nodes := []*Node{{name: "a"}, {name: "b"}, {name: "c"}}
		// Ids near each other and near page and range boundaries.
		id := rapid.OneOf(rapid.Uint32Range(0, 3*idPageMask), rapid.Uint32Range(1<<31-2, 1<<31+2))
		t.Repeat(map[string]func(*rapid.T){
			"set": func(t *rapid.T) {
				k, n := id.Draw(t, "id"), rapid.SampledFrom(nodes).Draw(t, "n")
				if model[k] != nil {
					t.Skip("taken")
				}
				tab.set(k, n)
				model[k] = n
			},
			"remove": func(t *rapid.T) {
				k, n := id.Draw(t, "id"), rapid.SampledFrom(nodes).Draw(t, "n")
				want := model[k] == n
				if want {
					delete(model, k)
				}
				require.Equal(t, want, tab.remove(k, n))
			},
			"": func(t *rapid.T) {
				require.Equal(t, len(model), tab.len())
				used := 0
				for _, p := range tab.pages {
					require.Positive(t, p.used)
					used += p.used
				}
				require.Equal(t, len(model), used)
				for k, n := range model {
					require.Same(t, n, tab.get(k))
				}
				require.Nil(t, tab.get(id.Draw(t, "absent")+3*idPageMask+1))
			},
		})
	})
}

func TestChildTable(t *testing.T) {
	mk := func(names ...string) []*Node {
		var ns []*Node
		for _, name := range names {
			ns = append(ns, &Node{name: name, slot: -1})
		}
		return ns
	}
	names := func(tab *childTable) []string {
		var out []string
		tab.each(func(n *Node) { out = append(out, n.name) })
		return out
	}
	tests := []struct {
		name string
		run  func(t *testing.T, tab *childTable)
	}{
		{"empty", func(t *testing.T, tab *childTable) {
			require.Nil(t, tab.get("a"))
			require.Equal(t, 0, tab.len())
			require.False(t, tab.remove(&Node{slot: -1}))
			tab.tidy()
			require.Empty(t, names(tab))
		}},
		{"add get remove", func(t *testing.T, tab *childTable) {
			ns := mk("a", "b", "c")
			for _, n := range ns {
				tab.add(n)
			}
			require.Same(t, ns[1], tab.get("b"))
			require.True(t, tab.remove(ns[1]))
			require.False(t, tab.remove(ns[1]))
			require.Nil(t, tab.get("b"), "a stale index entry is not found")
			require.Equal(t, []string{"a", "c"}, names(tab))
			require.Equal(t, 2, tab.len())
		}},
		{"re-add a removed name", func(t *testing.T, tab *childTable) {
			ns := mk("a", "a")
			tab.add(ns[0])
			tab.remove(ns[0])
			tab.add(ns[1])
			require.Same(t, ns[1], tab.get("a"))
			require.False(t, tab.remove(ns[0]))
			require.Same(t, ns[1], tab.get("a"))
		}},
		{"rename in place", func(t *testing.T, tab *childTable) {
			ns := mk("a")
			tab.add(ns[0])
			tab.remove(ns[0])
			ns[0].name = "b"
			tab.add(ns[0])
			require.Nil(t, tab.get("a"))
			require.Same(t, ns[0], tab.get("b"))
		}},
		{"moved to another table", func(t *testing.T, tab *childTable) {
			ns := mk("a", "x")
			tab.add(ns[1])
			tab.add(ns[0])
			tab.remove(ns[0])
			var other childTable
			other.add(ns[0]) // slot 0: the slot of x here
			require.Nil(t, tab.get("a"))
			require.False(t, tab.remove(ns[0]))
			require.Same(t, ns[0], other.get("a"))
		}},
		{"tidy keeps survivors in order", func(t *testing.T, tab *childTable) {
			var ns []*Node
			for i := 0; i < 100; i++ {
				ns = append(ns, mk(fmt.Sprint(i))...)
				tab.add(ns[i])
			}
			for i := 0; i < 100; i++ {
				if i%10 != 3 {
					tab.remove(ns[i])
				}
			}
			require.Len(t, tab.slots, 94, "removal leaves the slots but the trailing ones")
			tab.tidy()
			require.Len(t, tab.slots, 10)
			require.Len(t, tab.index, 10)
			require.Equal(t, []string{"3", "13", "23", "33", "43", "53", "63", "73", "83", "93"}, names(tab))
			require.Same(t, ns[53], tab.get("53"))
			require.Nil(t, tab.get("54"))
			require.True(t, tab.remove(ns[53]))
		}},
		{"reused names: the slots are packed in place", func(t *testing.T, tab *childTable) {
			var keep []*Node
			for i := 0; i < 20; i++ {
				keep = append(keep, mk(fmt.Sprint(i))...)
				tab.add(keep[i])
			}
			// Each round adds "v" (its old entry is stale) and a child
			// after it, then removes "v": a hole in the middle each time.
			for i := 0; i < 30; i++ {
				ns := mk("v", fmt.Sprint("after", i))
				tab.add(ns[0])
				tab.add(ns[1])
				tab.remove(ns[0])
				keep = append(keep, ns[1])
				require.Equal(t, tab.len()+1, len(tab.index), "one stale index entry: v")
				if tab.sparse() {
					tab.tidy()
				}
				require.LessOrEqual(t, len(tab.slots)-tab.len(), max(tab.len(), 15))
			}
			require.Equal(t, 50, tab.len())
			for _, n := range keep {
				require.Same(t, n, tab.get(n.name))
			}
			require.Len(t, names(tab), 50)
		}},
		{"trailing removals shrink the slots", func(t *testing.T, tab *childTable) {
			ns := mk("a", "b", "c")
			for _, n := range ns {
				tab.add(n)
			}
			tab.remove(ns[1])
			require.Len(t, tab.slots, 3)
			tab.remove(ns[2])
			require.Len(t, tab.slots, 1)
			require.Same(t, ns[0], tab.get("a"))
		}},
		{"last removal empties", func(t *testing.T, tab *childTable) {
			ns := mk("a", "b")
			tab.add(ns[0])
			tab.add(ns[1])
			tab.remove(ns[1])
			tab.remove(ns[0])
			require.Nil(t, tab.slots)
			require.Nil(t, tab.index)
			require.Nil(t, tab.get("a"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, &childTable{}) })
	}
}

// TestChildTableModel checks two childTables, between which nodes move
// and get renamed, against maps.
func TestChildTableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tabs := [2]childTable{}
		models := [2]map[string]*Node{{}, {}}
		where := map[*Node]int{}
		var nodes []*Node
		name := rapid.SampledFrom([]string{"a", "b", "c", "d", "e", "f"})
		which := rapid.IntRange(0, 1)
		pick := func(t *rapid.T) *Node {
			if len(nodes) == 0 {
				t.Skip("no nodes")
			}
			return rapid.SampledFrom(nodes).Draw(t, "node")
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				i, nm := which.Draw(t, "tab"), name.Draw(t, "name")
				if models[i][nm] != nil {
					t.Skip("taken")
				}
				n := &Node{name: nm, slot: -1}
				nodes = append(nodes, n)
				tabs[i].add(n)
				models[i][nm] = n
				where[n] = i
			},
			"remove": func(t *rapid.T) {
				n := pick(t)
				i, in := where[n]
				for j := range tabs {
					if j != i || !in {
						require.False(t, tabs[j].remove(n))
					}
				}
				if in {
					require.True(t, tabs[i].remove(n))
					delete(models[i], n.name)
					delete(where, n)
				}
			},
			"move": func(t *rapid.T) {
				n := pick(t)
				i, in := where[n]
				j, nm := which.Draw(t, "to"), name.Draw(t, "name")
				if !in || models[j][nm] != nil {
					t.Skip("not movable")
				}
				tabs[i].remove(n)
				delete(models[i], n.name)
				n.name = nm
				tabs[j].add(n)
				models[j][nm] = n
				where[n] = j
			},
			"tidy": func(t *rapid.T) {
				tabs[which.Draw(t, "tab")].tidy()
			},
			"": func(t *rapid.T) {
				for i := range tabs {
					require.Equal(t, len(models[i]), tabs[i].len())
					for _, nm := range []string{"a", "b", "c", "d", "e", "f"} {
						if n := models[i][nm]; n != nil {
							require.Same(t, n, tabs[i].get(nm))
						} else {
							require.Nil(t, tabs[i].get(nm))
						}
					}
					var got []*Node
					tabs[i].each(func(n *Node) { got = append(got, n) })
					require.Len(t, got, len(models[i]))
					for _, n := range got {
						require.Same(t, n, models[i][n.name])
					}
				}
			},
		})
	})
}
