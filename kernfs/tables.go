package kernfs

// idPageBits sets the size of an idTable page: 256 slots, 2 KiB.
const idPageBits = 8

const idPageMask = 1<<idPageBits - 1

type idPage struct {
	used  int
	nodes [1 << idPageBits]*Node
}

// idTable is ino_idr: the low 32 bits of a node's id to the node. Like the
// kernel's IDR (a radix tree) it keeps neighbouring ids together: ids are
// allocated cyclically, so the nodes removed or looked up together —
// created together — sit in the same page and cache lines, where a hash
// map would scatter them. A page leaves the table when its last id goes.
// The zero value is empty and ready. Caller holds the root's lock
// (shared for get).
type idTable struct {
	pages map[uint32]*idPage
	n     int
}

// get returns the node with low id, or nil.
func (t *idTable) get(low uint32) *Node {
	p := t.pages[low>>idPageBits]
	if p == nil {
		return nil
	}
	return p.nodes[low&idPageMask]
}

// set maps low to n, which must not be nil; the slot must be free.
func (t *idTable) set(low uint32, n *Node) {
	k := low >> idPageBits
	p := t.pages[k]
	if p == nil {
		if t.pages == nil {
			t.pages = make(map[uint32]*idPage)
		}
		p = &idPage{}
		t.pages[k] = p
	}
	s := &p.nodes[low&idPageMask]
	if *s != nil {
		panic("kernfs: id slot taken")
	}
	*s = n
	p.used++
	t.n++
}

// remove frees low if it maps to n, and reports whether it did.
func (t *idTable) remove(low uint32, n *Node) bool {
	k := low >> idPageBits
	p := t.pages[k]
	if p == nil || p.nodes[low&idPageMask] != n {
		return false
	}
	p.nodes[low&idPageMask] = nil
	p.used--
	t.n--
	if p.used == 0 {
		delete(t.pages, k)
	}
	return true
}

// len returns the number of ids taken.
func (t *idTable) len() int { return t.n }

// childTable is a directory's children by name (the kernel's rbtree of
// kernfs_node.rb). Removal is what a batch does most, so it touches only
// the child and a slot of an array in creation order: the name index is
// left stale (a removed child stays in it, recognised as gone by its
// slot; a new child of the same name replaces it). Once stale index
// entries outnumber live ones, tidy rebuilds the table from the
// survivors; once empty slots do, it packs the slots in place. Removing
// every exposure of a directory thus costs a sequential pass, not a hash
// lookup per child. A file's table is nil, which reads as empty (get,
// has, len, each). Caller holds the root's lock (shared for get, len and
// each).
type childTable struct {
	index  map[string]*Node // every live child; may also hold removed ones
	slots  []*Node          // in insertion order; nil where a child left
	live   int
	queued bool // in Root.tidy
}

// get returns the child called name, or nil.
func (t *childTable) get(name string) *Node {
	if t == nil {
		return nil
	}
	n := t.index[name]
	if n == nil || !t.has(n) || n.name != name {
		return nil
	}
	return n
}

// has reports whether n is in the table.
func (t *childTable) has(n *Node) bool {
	return t != nil && n.slot >= 0 && int(n.slot) < len(t.slots) && t.slots[n.slot] == n
}

// add inserts n under n.name, which must be free.
func (t *childTable) add(n *Node) {
	if t.index == nil {
		t.index = make(map[string]*Node)
	}
	n.slot = int32(len(t.slots))
	t.slots = append(t.slots, n)
	t.index[n.name] = n
	t.live++
}

// remove takes n out of the table; false if it was not in it. The name
// index is not touched: call tidy once a run of removals is over.
func (t *childTable) remove(n *Node) bool {
	if !t.has(n) {
		return false
	}
	t.slots[n.slot] = nil
	n.slot = -1
	t.live--
	if t.live == 0 {
		t.index, t.slots = nil, nil
	}
	// The newest children go first, often: keep the slots packed at the end.
	for k := len(t.slots); k > 0 && t.slots[k-1] == nil; k-- {
		t.slots = t.slots[:k-1]
	}
	return true
}

// tooMany says whether dead (stale index entries or empty slots) is
// worth a tidy pass.
func (t *childTable) tooMany(dead int) bool { return dead > t.live && dead >= 16 }

// sparse reports whether tidy would do anything.
func (t *childTable) sparse() bool {
	return t.tooMany(len(t.index)-t.live) || t.tooMany(len(t.slots)-t.live)
}

// tidy rebuilds the table from its live children if its index is mostly
// stale (a pass over the slots plus one insertion per survivor, paid for
// by the removals), or packs the slots in place if they are mostly empty.
func (t *childTable) tidy() {
	if !t.tooMany(len(t.index) - t.live) {
		if t.tooMany(len(t.slots) - t.live) {
			k := 0
			for _, n := range t.slots {
				if n != nil {
					n.slot = int32(k)
					t.slots[k] = n
					k++
				}
			}
			clear(t.slots[k:])
			t.slots = t.slots[:k]
		}
		return
	}
	index := make(map[string]*Node, t.live)
	slots := make([]*Node, 0, t.live)
	for _, n := range t.slots {
		if n != nil {
			n.slot = int32(len(slots))
			slots = append(slots, n)
			index[n.name] = n
		}
	}
	t.index, t.slots = index, slots
}

// len returns the number of children.
func (t *childTable) len() int {
	if t == nil {
		return 0
	}
	return t.live
}

// each calls fn for every child, in insertion order. fn must not change
// the table.
func (t *childTable) each(fn func(*Node)) {
	if t == nil {
		return
	}
	for _, n := range t.slots {
		if n != nil {
			fn(n)
		}
	}
}
