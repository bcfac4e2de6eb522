package rarity

import (
	"fmt"
	"slices"
	"strings"
	"unsafe"
)

// Builder collects a collection one token at a time, so that a caller can
// stream tokens from a database or a file without holding them all: each
// attribute is normalised and interned as it arrives, and only a compact
// table of value ids (4 bytes per attribute) and the token ids are kept.
// A repeated raw string costs one hash lookup and no allocation.
//
// Use Add for a whole Token, or Begin, Attr (or AttrBytes) and End for the
// attributes of one token at a time; then Compute once. A Builder is not
// safe for concurrent use.
type Builder struct {
	c       calc
	started bool // between Begin and End

	rawNames  *strTable // raw name -> raw name id
	rawToNorm []int32   // raw name id -> trait (first-seen id)
	normNames map[string]int32
	cacheRaw  []string // per attribute position: last raw name seen
	cacheID   []int32
	dtKinds   *strTable // raw display type -> 1 + kind

	// first-seen value id -> trait (first-seen id) and local value id
	seenTrait []int32
	seenLocal []int32

	cur []pending // the attributes of the current token
	// Marks of the collapse, per raw name (and kind) and per trait (and
	// kind): pass << 32 | index into cur + 1.
	rawMark, normMark []uint64
	pass              uint64
}

// pending is one attribute of the token being built.
type pending struct {
	raw  int32 // raw name id
	nid  int32 // trait id
	sid  int32 // first-seen value id (after the collapse)
	orig int32 // first-seen value id as given
	kind uint8 // 0 string, 1 numeric, 2 date
	drop bool
}

// NewBuilder returns a Builder for the given options (see Compute).
func NewBuilder(opts Options) (*Builder, error) {
	m, err := ParseMethod(string(opts.Method))
	if err != nil {
		return nil, fmt.Errorf("compute rarity: %w", err)
	}
	if opts.TraitCount && m != RarityTools {
		return nil, fmt.Errorf("compute rarity: option TraitCount applies to %s only", RarityTools)
	}
	opts.Method = m
	b := &Builder{rawNames: newStrTable(), normNames: map[string]int32{}, dtKinds: newStrTable()}
	b.c.opts = opts
	b.c.off = []int32{0}
	return b, nil
}

// Grow reserves room for n more tokens.
func (b *Builder) Grow(n int) {
	b.c.ids = slices.Grow(b.c.ids, n)
	b.c.off = slices.Grow(b.c.off, n)
}

// Len returns the number of tokens added so far.
func (b *Builder) Len() int { return len(b.c.ids) }

// Add adds a token. The Builder keeps the token's id and interned copies of
// strings it has not seen before, never t.Attributes itself, so the caller
// may reuse that slice.
func (b *Builder) Add(t Token) error {
	if err := b.Begin(t.ID, t.Standard); err != nil {
		return err
	}
	for i := range t.Attributes {
		a := &t.Attributes[i]
		b.attr(a.Name, a.Value, a.DisplayType, a.Numeric, false)
	}
	b.End()
	return nil
}

// Begin starts a token: it checks the id (non-empty; duplicates are found
// by Compute) and the standard (see Token).
func (b *Builder) Begin(id, standard string) error {
	if b.started {
		panic("rarity: Builder.Begin before End")
	}
	if id == "" {
		return fmt.Errorf("compute rarity: token at index %d: empty token id", len(b.c.ids))
	}
	if err := standardOK(standard); err != nil {
		return fmt.Errorf("compute rarity: token %q: %w", id, err)
	}
	if len(b.c.ids) >= 1<<31-2 {
		return fmt.Errorf("compute rarity: too many tokens")
	}
	b.c.ids = append(b.c.ids, id)
	b.started = true
	b.cur = b.cur[:0]
	return nil
}

// Attr adds an attribute to the current token (see Attribute).
func (b *Builder) Attr(name, value, displayType string, numeric bool) {
	b.attr(name, value, displayType, numeric, false)
}

// AttrBytes is Attr for byte slices, which the Builder does not retain: a
// string it has not seen before is copied.
func (b *Builder) AttrBytes(name, value, displayType []byte, numeric bool) {
	b.attr(view(name), view(value), view(displayType), numeric, true)
}

// view returns the bytes of p as a string without copying; the string
// must not outlive p's contents, so it is only looked up, or cloned.
func view(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(p), len(p)) //nolint:gosec // the no-copy view this function exists for (see its doc)
}

// attr interns one attribute of the current token. borrowed strings are
// cloned before they are stored.
func (b *Builder) attr(name, value, displayType string, numeric, borrowed bool) {
	if !b.started {
		panic("rarity: Builder.Attr outside Begin/End")
	}
	j := len(b.cur)
	var raw int32
	if j < len(b.cacheRaw) && b.cacheRaw[j] == name {
		raw = b.cacheID[j]
	} else {
		id, ok := b.rawNames.get(name)
		if !ok {
			if borrowed {
				name = strings.Clone(name)
			}
			nn := Normalize(name)
			nid, ok := b.normNames[nn]
			if !ok {
				nid = int32(len(b.c.traits))
				b.c.traits = append(b.c.traits, &trait{
					name: nn, raw: newStrTable(), byNorm: newStrTable(),
					reserved: nn == TraitCountName,
				})
				b.normNames[nn] = nid
			}
			id = int32(len(b.rawToNorm))
			b.rawToNorm = append(b.rawToNorm, nid)
			b.rawNames.put(name, id)
		}
		raw = id
		if j < len(b.cacheRaw) {
			b.cacheRaw[j], b.cacheID[j] = b.rawNames.keys[raw], raw
		} else {
			b.cacheRaw, b.cacheID = append(b.cacheRaw, b.rawNames.keys[raw]), append(b.cacheID, raw)
		}
	}
	nid := b.rawToNorm[raw]
	t := b.c.traits[nid]
	sid, ok := t.raw.get(value)
	if !ok {
		if borrowed {
			value = strings.Clone(value)
		}
		nv := Normalize(value)
		sid, ok = t.byNorm.get(nv)
		if !ok {
			sid = int32(len(b.seenTrait))
			b.seenTrait = append(b.seenTrait, nid)
			b.seenLocal = append(b.seenLocal, int32(len(t.values)))
			t.values = append(t.values, nv)
			t.byNorm.put(nv, sid)
		}
		t.raw.put(value, sid)
	}
	kind := uint8(0)
	switch {
	case numeric:
		kind = 1
	case displayType != "":
		k, ok := b.dtKinds.get(displayType)
		if !ok {
			if borrowed {
				displayType = strings.Clone(displayType)
			}
			k = int32(1 + displayKind(displayType))
			b.dtKinds.put(displayType, k)
		}
		kind = uint8(k - 1)
	}
	b.cur = append(b.cur, pending{raw: raw, nid: nid, sid: sid, orig: sid, kind: kind})
}

// End finishes the current token. Unless Options.AllValues is set, a name
// repeated on the token collapses as in OpenRarity (see the package
// documentation): first by raw name and kind (first position, last
// value), then by normalised name and kind (last position wins).
func (b *Builder) End() {
	if !b.started {
		panic("rarity: Builder.End before Begin")
	}
	b.started = false
	cur := b.cur
	if !b.c.opts.AllValues && len(cur) > 1 {
		b.collapse(cur)
	}
	for i := range cur {
		p := &cur[i]
		if p.drop {
			continue
		}
		t := b.c.traits[p.nid]
		switch p.kind {
		case 1:
			t.numeric++
		case 2:
			t.dates++
		}
		b.c.ga = append(b.c.ga, p.sid)
	}
	b.c.off = append(b.c.off, int32(len(b.c.ga)))
}

// collapse marks the attributes the reference's mappings drop, and records
// each collapsed name in the duplicates report.
func (b *Builder) collapse(cur []pending) {
	// Common case first: no normalised name repeats (then no raw name
	// does either), one pass.
	pass := b.nextPass()
	dup := false
	for i := range cur {
		k := int(cur[i].nid)*3 + int(cur[i].kind)
		b.normMark = growMarks(b.normMark, k)
		if b.normMark[k]&^(1<<32-1) == pass {
			dup = true
			break
		}
		b.normMark[k] = pass | 1
	}
	if !dup {
		return
	}
	// By raw name: the first keeps its position and takes the last value.
	pass = b.nextPass()
	for i := range cur {
		k := int(cur[i].raw)*3 + int(cur[i].kind)
		b.rawMark = growMarks(b.rawMark, k)
		if m := b.rawMark[k]; m&^(1<<32-1) == pass {
			first := int(uint32(m)) - 1
			cur[first].sid = cur[i].sid
			cur[i].drop = true
			continue
		}
		b.rawMark[k] = pass | uint64(i+1)
	}
	// By normalised name: the later position replaces the earlier.
	pass = b.nextPass()
	for i := len(cur) - 1; i >= 0; i-- {
		if cur[i].drop {
			continue
		}
		k := int(cur[i].nid)*3 + int(cur[i].kind)
		b.normMark = growMarks(b.normMark, k)
		if b.normMark[k]&^(1<<32-1) == pass {
			cur[i].drop = true
			continue
		}
		b.normMark[k] = pass | 1
	}
	b.reportCollapsed(cur)
}

// nextPass returns a new mark stamp (in the high 32 bits).
func (b *Builder) nextPass() uint64 {
	b.pass++
	return b.pass << 32
}

// growMarks returns m extended so that m[k] exists.
func growMarks(m []uint64, k int) []uint64 {
	if k < len(m) {
		return m
	}
	return append(m, make([]uint64, k+1-len(m)+len(m)/2)...)
}

// reportCollapsed adds a DuplicateTrait for every (name, kind) of the
// current token that had more than one attribute.
func (b *Builder) reportCollapsed(cur []pending) {
	in := int32(len(b.c.ids) - 1)
	for i := range cur {
		if cur[i].drop {
			continue
		}
		var vals []string
		n := 0
		for j := range cur {
			if cur[j].nid == cur[i].nid && cur[j].kind == cur[i].kind {
				n++
				vals = append(vals, b.value(cur[j].orig))
			}
		}
		if n < 2 {
			continue
		}
		slices.Sort(vals)
		b.c.dups = append(b.c.dups, posDup{pos: in, d: DuplicateTrait{
			TokenID: b.c.ids[in], Name: b.c.traits[cur[i].nid].name,
			Values: slices.Compact(vals), Kept: b.value(cur[i].sid),
		}})
	}
}

// value returns the normalised value of a first-seen value id.
func (b *Builder) value(sid int32) string {
	return b.c.traits[b.seenTrait[sid]].values[b.seenLocal[sid]]
}

// Compute scores and ranks the tokens added. The Builder cannot be used
// afterwards.
func (b *Builder) Compute() (*Result, error) {
	if b.started {
		panic("rarity: Builder.Compute before End")
	}
	c := &b.c
	c.n = len(c.ids)
	perm, err := orderIDs(c.ids)
	if err != nil {
		return nil, fmt.Errorf("compute rarity: %w", err)
	}
	c.perm = perm
	c.inOrder = true
	for pos, in := range perm {
		if int32(pos) != in {
			c.inOrder = false
			break
		}
	}
	if len(c.dups) > 0 && !c.inOrder { // collapsed names were recorded by input index
		inv := make([]int32, c.n)
		for pos, in := range perm {
			inv[in] = int32(pos)
		}
		for i := range c.dups {
			c.dups[i].pos = inv[c.dups[i].pos]
		}
	}
	c.seenTrait, c.seenLocal = b.seenTrait, b.seenLocal
	b.rawNames, b.normNames, b.dtKinds, b.rawToNorm = nil, nil, nil, nil
	c.remap()
	c.perToken()
	c.score()
	return c.result(), nil
}
