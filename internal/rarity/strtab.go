package rarity

import "hash/maphash"

// strTable maps strings to int32 ids: a linear-probing hash table that is
// cheaper than a Go map for the interning hot loop (one hash, usually one
// probe, and no per-entry allocation).
type strTable struct {
	seed  maphash.Seed
	slots []uint64 // (hash high 32 bits) << 32 | (entry index + 1); 0 = empty
	keys  []string
	vals  []int32
	mask  uint64
}

func newStrTable() *strTable {
	return &strTable{seed: maphash.MakeSeed(), slots: make([]uint64, 16), mask: 15}
}

// get returns the id stored for s.
func (t *strTable) get(s string) (int32, bool) {
	h := maphash.String(t.seed, s)
	tag := h >> 32
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		e := t.slots[i]
		if e == 0 {
			return 0, false
		}
		if e>>32 == tag && t.keys[uint32(e)-1] == s {
			return t.vals[uint32(e)-1], true
		}
	}
}

// put stores id for s, which must not be present.
func (t *strTable) put(s string, id int32) {
	if 2*(len(t.keys)+1) > len(t.slots) {
		t.grow()
	}
	t.keys = append(t.keys, s)
	t.vals = append(t.vals, id)
	t.insert(maphash.String(t.seed, s), uint64(len(t.keys)))
}

func (t *strTable) insert(h, idx uint64) {
	i := h & t.mask
	for t.slots[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = h>>32<<32 | idx
}

func (t *strTable) grow() {
	t.slots = make([]uint64, 2*len(t.slots))
	t.mask = uint64(len(t.slots) - 1)
	for k, s := range t.keys {
		t.insert(maphash.String(t.seed, s), uint64(k+1))
	}
}
