package book

// recordKind is what the book remembers of an order it holds no listing for.
type recordKind uint8

const (
	// kindRemoved: cancelled or sold. The tombstone that keeps an older
	// replay from resurrecting the order.
	kindRemoved recordKind = iota + 1
	// kindExpired: its expiration date passed; nothing brings it back.
	kindExpired
	// kindInvalid: invalidated while the book had no listing data for it.
	kindInvalid
	// kindUnpriced: active again (revalidated) but its price is unknown:
	// the book is uncertain until the order's listing shows up or a Reset.
	kindUnpriced
	// kindUntracked: active as far as the book knows, but not one of the
	// cheapest; kept only for its version (orders a Reset dropped).
	kindUntracked
)

// record is the compact state of one order: 24 bytes, no pointers.
type record struct {
	version int64
	at      int64  // book time (unix ns) when recorded
	seq     uint32 // identifies its ring slot
	kind    recordKind
	// final: the removal cannot be undone by a REST answer (a cancellation,
	// or a sale of a single-unit order).
	final bool
}

type slot struct {
	fp  uint64
	seq uint32
}

// records is a bounded map of order records keyed by order-hash
// fingerprint. Records are evicted in the order they were first stored (a
// ring of max slots: storing one more evicts the oldest) and when older
// than ttl. A rewritten record keeps its slot; a deleted record leaves a
// dead slot that is dropped when it reaches the head.
type records struct {
	m    map[uint64]record
	ring []slot // allocated at max slots on first use
	head int    // oldest slot
	n    int    // slots in use, dead ones included
	seq  uint32
	max  int
	ttl  int64
}

func newRecords(max int, ttl int64) records {
	return records{m: make(map[uint64]record), max: max, ttl: ttl}
}

func (rs *records) get(fp uint64) (record, bool) {
	r, ok := rs.m[fp]
	return r, ok
}

// put stores r, evicting the oldest slot when the ring is full.
func (rs *records) put(fp uint64, r record) {
	if cur, ok := rs.m[fp]; ok {
		r.seq = cur.seq
		rs.m[fp] = r
		return
	}
	if rs.ring == nil {
		rs.ring = make([]slot, rs.max)
	}
	if rs.n == rs.max {
		rs.pop()
	}
	rs.seq++
	r.seq = rs.seq
	rs.m[fp] = r
	rs.ring[(rs.head+rs.n)%rs.max] = slot{fp: fp, seq: r.seq}
	rs.n++
}

// pop forgets the oldest slot's record, if it is still that slot's.
func (rs *records) pop() {
	s := rs.ring[rs.head]
	if cur, ok := rs.m[s.fp]; ok && cur.seq == s.seq {
		delete(rs.m, s.fp)
	}
	rs.ring[rs.head] = slot{}
	rs.head = (rs.head + 1) % rs.max
	rs.n--
}

func (rs *records) del(fp uint64) { delete(rs.m, fp) }

func (rs *records) len() int { return len(rs.m) }

// prune forgets records older than ttl and dead slots from the oldest on,
// stopping at the first live young record. A rewritten record keeps its
// slot, so a record can outlive ttl behind a young rewritten one.
func (rs *records) prune(now int64) {
	for rs.n > 0 {
		s := rs.ring[rs.head]
		if cur, ok := rs.m[s.fp]; ok && cur.seq == s.seq && (rs.ttl <= 0 || now-cur.at < rs.ttl) {
			return
		}
		rs.pop()
	}
}
