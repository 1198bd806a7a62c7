package vfs

import "iter"

// dirTable is a directory's entries by name. Removal is what a batch does
// most (kernfs removing every exposure of an unpinned object), so it
// touches only the entry and a slot of an array in creation order: the
// name index is left stale (a removed entry stays in it, recognised as
// gone by its slot; a new entry of the same name replaces it). Once
// stale index entries outnumber live ones, tidy rebuilds the table from
// the survivors; once empty slots do (removed entries whose names were
// reused), it packs the slots in place. A [Txn] tidies the directories it
// removed from before it releases the lock. The zero value is empty and
// ready. Readers hold the VFS lock shared; writers hold it exclusively.
type dirTable struct {
	index  map[string]*dirent // every live entry; may also hold removed ones
	slots  []*dirent          // in insertion order; nil where an entry left
	live   int
	queued bool // in a Txn's tidy list
}

// get returns the entry called name, or nil.
func (t *dirTable) get(name string) *dirent {
	d := t.index[name]
	if d == nil || !t.has(d) || d.name != name {
		return nil
	}
	return d
}

// has reports whether d is in the table.
func (t *dirTable) has(d *dirent) bool {
	return d.slot >= 0 && int(d.slot) < len(t.slots) && t.slots[d.slot] == d
}

// add inserts d under d.name. An entry already called so is replaced (it
// leaves the table), as a map assignment would replace it.
func (t *dirTable) add(d *dirent) {
	if t.index == nil {
		t.index = make(map[string]*dirent)
	} else if old := t.get(d.name); old != nil {
		t.slots[old.slot] = nil
		old.slot = -1
		t.live--
	}
	d.slot = int32(len(t.slots))
	t.slots = append(t.slots, d)
	t.index[d.name] = d
	t.live++
}

// remove takes d out of the table; false if it was not in it. The index
// is not touched: see tidy and [Txn.removed].
func (t *dirTable) remove(d *dirent) bool {
	if !t.has(d) {
		return false
	}
	t.slots[d.slot] = nil
	d.slot = -1
	t.live--
	if t.live == 0 {
		t.index, t.slots = nil, nil
	}
	// The newest entries go first, often: keep the slots packed at the end.
	for n := len(t.slots); n > 0 && t.slots[n-1] == nil; n-- {
		t.slots = t.slots[:n-1]
	}
	return true
}

// swap exchanges d1 (in t) and d2 (in u, which may be t), whose names
// have already been exchanged: each takes the other's slot.
func swapEntries(t *dirTable, d1 *dirent, u *dirTable, d2 *dirent) {
	s1, s2 := d1.slot, d2.slot
	t.slots[s1], u.slots[s2] = d2, d1
	d1.slot, d2.slot = s2, s1
	t.index[d2.name] = d2
	u.index[d1.name] = d1
}

// tooMany says whether dead (stale index entries or empty slots) is
// worth a tidy pass.
func (t *dirTable) tooMany(dead int) bool { return dead > t.live && dead >= 16 }

// sparse reports whether tidy would do anything.
func (t *dirTable) sparse() bool {
	return t.tooMany(len(t.index)-t.live) || t.tooMany(len(t.slots)-t.live)
}

// tidy rebuilds the table from its live entries if its index is mostly
// stale (a pass over the slots plus one insertion per survivor, paid for
// by the removals), or packs the slots in place if they are mostly empty.
func (t *dirTable) tidy() {
	if !t.tooMany(len(t.index) - t.live) {
		if t.tooMany(len(t.slots) - t.live) {
			k := 0
			for _, d := range t.slots {
				if d != nil {
					d.slot = int32(k)
					t.slots[k] = d
					k++
				}
			}
			clear(t.slots[k:])
			t.slots = t.slots[:k]
		}
		return
	}
	index := make(map[string]*dirent, t.live)
	slots := make([]*dirent, 0, t.live)
	for _, d := range t.slots {
		if d != nil {
			d.slot = int32(len(slots))
			slots = append(slots, d)
			index[d.name] = d
		}
	}
	t.index, t.slots = index, slots
}

// len returns the number of entries.
func (t *dirTable) len() int { return t.live }

// all yields the entries in insertion order. The loop body must not
// change the table.
func (t *dirTable) all() iter.Seq[*dirent] {
	return func(yield func(*dirent) bool) {
		for _, d := range t.slots {
			if d != nil && !yield(d) {
				return
			}
		}
	}
}
