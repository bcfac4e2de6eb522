package book

// recordKind is what the book remembers of an order it holds no listing for.
type recordKind uint8

const (
	// kindRemoved: cancelled, sold or expired. The tombstone that keeps an
	// older replay from resurrecting the order.
	kindRemoved recordKind = iota + 1
	// kindInvalid: invalidated while the book had no listing data for it.
	kindInvalid
	// kindUnpriced: active again (revalidated) but its price is unknown:
	// the book is uncertain until the order's listing shows up or a Reset.
	kindUnpriced
	// kindUntracked: active as far as the book knows, but not one of the
	// cheapest; kept only for its version (orders a Reset dropped).
	kindUntracked
)

// record is the compact state of one order: 32 bytes, no pointers.
type record struct {
	version int64
	at      int64  // book time (unix ns) when recorded
	seq     uint64 // position in the eviction queue
	kind    recordKind
	// final: the removal cannot be undone by a REST answer (a cancellation,
	// or a sale of a single-unit order).
	final bool
}

type queued struct {
	fp  uint64
	seq uint64
	at  int64
}

// records is a bounded map of order records keyed by order-hash
// fingerprint. It forgets the oldest record first when it holds more than
// max records, and any record older than ttl. A record that is rewritten
// moves to the back of the queue; the queue's stale slots are skipped on
// eviction and compacted away when they outnumber the live ones.
type records struct {
	m     map[uint64]record
	queue []queued
	head  int
	seq   uint64
	max   int
	ttl   int64
}

func newRecords(max int, ttl int64) records {
	return records{m: make(map[uint64]record), max: max, ttl: ttl}
}

func (rs *records) get(fp uint64) (record, bool) {
	r, ok := rs.m[fp]
	return r, ok
}

// put stores r (its seq is assigned here) and evicts what the bounds ask.
func (rs *records) put(fp uint64, r record, now int64) {
	rs.seq++
	r.seq = rs.seq
	rs.m[fp] = r
	rs.queue = append(rs.queue, queued{fp: fp, seq: r.seq, at: r.at})
	rs.prune(now)
}

func (rs *records) del(fp uint64) { delete(rs.m, fp) }

func (rs *records) len() int { return len(rs.m) }

// prune evicts records beyond max and older than ttl, oldest first.
func (rs *records) prune(now int64) {
	for rs.head < len(rs.queue) {
		q := rs.queue[rs.head]
		cur, live := rs.m[q.fp]
		live = live && cur.seq == q.seq
		if live && len(rs.m) <= rs.max && (rs.ttl <= 0 || now-q.at < rs.ttl) {
			break
		}
		if live {
			delete(rs.m, q.fp)
		}
		rs.queue[rs.head] = queued{}
		rs.head++
	}
	if rs.head > 0 && rs.head >= len(rs.queue)/2 {
		n := copy(rs.queue, rs.queue[rs.head:])
		clear(rs.queue[n:])
		rs.queue = rs.queue[:n]
		rs.head = 0
	}
	if len(rs.queue) > 2*rs.max+16 {
		live := rs.queue[:0]
		for _, q := range rs.queue {
			if cur, ok := rs.m[q.fp]; ok && cur.seq == q.seq {
				live = append(live, q)
			}
		}
		clear(rs.queue[len(live):])
		rs.queue = live
	}
}
