package vfs

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

func TestDirTable(t *testing.T) {
	mk := func(name string) *dirent { return &dirent{name: name, slot: -1} }
	names := func(tab *dirTable) []string {
		var out []string
		for d := range tab.all() {
			out = append(out, d.name)
		}
		return out
	}
	tests := []struct {
		name string
		run  func(t *testing.T, tab *dirTable)
	}{
		{"empty", func(t *testing.T, tab *dirTable) {
			require.Nil(t, tab.get("a"))
			require.Equal(t, 0, tab.len())
			require.False(t, tab.remove(mk("a")))
			require.False(t, tab.sparse())
			tab.tidy()
			require.Empty(t, names(tab))
		}},
		{"add get remove", func(t *testing.T, tab *dirTable) {
			a, b, c := mk("a"), mk("b"), mk("c")
			tab.add(a)
			tab.add(b)
			tab.add(c)
			require.Same(t, b, tab.get("b"))
			require.True(t, tab.has(b))
			require.True(t, tab.remove(b))
			require.False(t, tab.has(b))
			require.False(t, tab.remove(b))
			require.Nil(t, tab.get("b"), "a stale index entry is not found")
			require.Equal(t, []string{"a", "c"}, names(tab))
			require.Equal(t, 2, tab.len())
		}},
		{"re-add a removed name", func(t *testing.T, tab *dirTable) {
			a1, a2 := mk("a"), mk("a")
			tab.add(a1)
			tab.remove(a1)
			tab.add(a2)
			require.Same(t, a2, tab.get("a"))
			require.False(t, tab.has(a1))
		}},
		{"add replaces an entry of the same name", func(t *testing.T, tab *dirTable) {
			a1, b, a2 := mk("a"), mk("b"), mk("a")
			tab.add(a1)
			tab.add(b)
			tab.add(a2)
			require.Same(t, a2, tab.get("a"))
			require.False(t, tab.has(a1))
			require.False(t, tab.remove(a1))
			require.Equal(t, 2, tab.len())
			require.Equal(t, []string{"b", "a"}, names(tab))
		}},
		{"entry renamed", func(t *testing.T, tab *dirTable) {
			a := mk("a")
			tab.add(a)
			tab.remove(a)
			a.name = "b"
			tab.add(a)
			require.Nil(t, tab.get("a"))
			require.Same(t, a, tab.get("b"))
		}},
		{"moved to another table", func(t *testing.T, tab *dirTable) {
			a, x := mk("a"), mk("x")
			tab.add(x)
			tab.add(a)
			tab.remove(a)
			var other dirTable
			other.add(a) // slot 0: the slot of x here
			require.Nil(t, tab.get("a"))
			require.False(t, tab.has(a))
			require.Same(t, a, other.get("a"))
		}},
		{"swap", func(t *testing.T, tab *dirTable) {
			a, b := mk("a"), mk("b")
			tab.add(a)
			tab.add(b)
			a.name, b.name = "b", "a"
			swapEntries(tab, a, tab, b)
			require.Same(t, a, tab.get("b"))
			require.Same(t, b, tab.get("a"))
			require.Equal(t, []string{"a", "b"}, names(tab), "the positions stay with the names")
			var other dirTable
			c := mk("c")
			other.add(c)
			a.name, c.name = "c", "b"
			swapEntries(tab, a, &other, c)
			require.Same(t, c, tab.get("b"))
			require.Same(t, a, other.get("c"))
			require.False(t, tab.has(a))
			require.True(t, other.has(a))
		}},
		{"tidy keeps survivors in order", func(t *testing.T, tab *dirTable) {
			var ds []*dirent
			for i := 0; i < 100; i++ {
				ds = append(ds, mk(fmt.Sprint(i)))
				tab.add(ds[i])
			}
			for i := 0; i < 100; i++ {
				if i%10 != 3 {
					tab.remove(ds[i])
				}
			}
			require.True(t, tab.sparse())
			require.Len(t, tab.slots, 94, "removal leaves the slots but the trailing ones")
			tab.tidy()
			require.False(t, tab.sparse())
			require.Len(t, tab.slots, 10)
			require.Len(t, tab.index, 10)
			require.Equal(t, []string{"3", "13", "23", "33", "43", "53", "63", "73", "83", "93"}, names(tab))
			require.Same(t, ds[53], tab.get("53"))
			require.Nil(t, tab.get("54"))
			require.True(t, tab.remove(ds[53]))
		}},
		{"reused names: the slots are packed in place", func(t *testing.T, tab *dirTable) {
			var keep []*dirent
			for i := 0; i < 20; i++ {
				keep = append(keep, mk(fmt.Sprint(i)))
				tab.add(keep[i])
			}
			// Each round adds "v" and an entry after it, then removes "v":
			// a hole in the middle each time, the index never stale.
			for i := 0; i < 30; i++ {
				v, after := mk("v"), mk(fmt.Sprint("after", i))
				tab.add(v)
				tab.add(after)
				tab.remove(v)
				keep = append(keep, after)
				require.Equal(t, tab.len()+1, len(tab.index), "one stale index entry: v")
				if tab.sparse() {
					tab.tidy()
				}
				require.LessOrEqual(t, len(tab.slots)-tab.len(), max(tab.len(), 15))
			}
			require.Equal(t, 50, tab.len())
			for _, d := range keep {
				require.Same(t, d, tab.get(d.name))
			}
			var got []string
			for d := range tab.all() {
				got = append(got, d.name)
			}
			require.Len(t, got, 50)
		}},
		{"trailing removals shrink the slots", func(t *testing.T, tab *dirTable) {
			a, b, c := mk("a"), mk("b"), mk("c")
			tab.add(a)
			tab.add(b)
			tab.add(c)
			tab.remove(b)
			require.Len(t, tab.slots, 3)
			tab.remove(c)
			require.Len(t, tab.slots, 1)
			require.Same(t, a, tab.get("a"))
		}},
		{"last removal empties", func(t *testing.T, tab *dirTable) {
			a, b := mk("a"), mk("b")
			tab.add(a)
			tab.add(b)
			tab.remove(b)
			tab.remove(a)
			require.Nil(t, tab.slots)
			require.Nil(t, tab.index)
			require.Nil(t, tab.get("a"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, &dirTable{}) })
	}
}

// TestDirTableModel checks two dirTables, between which entries move, get
// renamed and exchanged, against maps.
func TestDirTableModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tabs := [2]*dirTable{{}, {}}
		models := [2]map[string]*dirent{{}, {}}
		where := map[*dirent]int{}
		var ents []*dirent
		allNames := []string{"a", "b", "c", "d", "e", "f"}
		name := rapid.SampledFrom(allNames)
		which := rapid.IntRange(0, 1)
		pick := func(t *rapid.T, label string) *dirent {
			if len(ents) == 0 {
				t.Skip("no entries")
			}
			return rapid.SampledFrom(ents).Draw(t, label)
		}
		t.Repeat(map[string]func(*rapid.T){
			"add": func(t *rapid.T) {
				i, nm := which.Draw(t, "tab"), name.Draw(t, "name")
				if old := models[i][nm]; old != nil { // replaced
					delete(where, old)
				}
				d := &dirent{name: nm, slot: -1}
				ents = append(ents, d)
				tabs[i].add(d)
				models[i][nm] = d
				where[d] = i
			},
			"remove": func(t *rapid.T) {
				d := pick(t, "d")
				i, in := where[d]
				for j := range tabs {
					if j != i || !in {
						require.False(t, tabs[j].remove(d))
					}
				}
				if in {
					require.True(t, tabs[i].remove(d))
					delete(models[i], d.name)
					delete(where, d)
				}
			},
			"move": func(t *rapid.T) {
				d := pick(t, "d")
				i, in := where[d]
				j, nm := which.Draw(t, "to"), name.Draw(t, "name")
				if !in || models[j][nm] != nil {
					t.Skip("not movable")
				}
				tabs[i].remove(d)
				delete(models[i], d.name)
				d.name = nm
				tabs[j].add(d)
				models[j][nm] = d
				where[d] = j
			},
			"exchange": func(t *rapid.T) {
				d1, d2 := pick(t, "d1"), pick(t, "d2")
				i, in1 := where[d1]
				j, in2 := where[d2]
				if !in1 || !in2 || d1 == d2 {
					t.Skip("not exchangeable")
				}
				d1.name, d2.name = d2.name, d1.name
				swapEntries(tabs[i], d1, tabs[j], d2)
				models[i][d2.name], models[j][d1.name] = d2, d1
				where[d1], where[d2] = j, i
			},
			"tidy": func(t *rapid.T) {
				tabs[which.Draw(t, "tab")].tidy()
			},
			"": func(t *rapid.T) {
				for i, tab := range tabs {
					require.Equal(t, len(models[i]), tab.len())
					for _, nm := range allNames {
						if d := models[i][nm]; d != nil {
							require.Same(t, d, tab.get(nm))
							require.True(t, tab.has(d))
						} else {
							require.Nil(t, tab.get(nm))
						}
					}
					n := 0
					for d := range tab.all() {
						require.Same(t, d, models[i][d.name])
						n++
					}
					require.Equal(t, len(models[i]), n)
				}
			},
		})
	})
}
