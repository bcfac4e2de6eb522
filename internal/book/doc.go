// Package book keeps the cheapest active listings of one collection (a
// top-K order book) current from OpenSea's Stream API events, so that a
// collection's floor is known within a second of the event that moved it
// and REST calls are needed only to bootstrap, refill and reconcile.
//
// The package is pure: no I/O, no clock reads, no goroutines. Every
// mutating call takes the time it happens at; a Book is not safe for
// concurrent use (the consumer owns one per collection).
//
// # The invariant
//
// Let S be the collection's active public listings (listed, not cancelled,
// sold, invalidated or expired) and B the book's entries. The book keeps a
// bound W, a price (unit price in the book's currency) such that
//
//	(a) every entry of B is in S,
//	(b) every order of S cheaper than W is in B, and
//	(c) no entry of B costs more than W.
//
// W is +∞ when the book knows every listing (a REST answer shorter than K).
// From (b) and (c): an order outside B costs at least W, which is at least
// the cheapest entry. So while B is non-empty its minimum is the true
// floor, whatever happened to orders beyond it. Every event keeps the
// invariant, provided no event was missed:
//
//   - item_listed at price p enters when p ≤ W. When B then holds K+1
//     entries, the dearest one leaves and W drops to its price. A listing
//     dearer than W stays out (orders between it and W may exist unseen),
//     which is why a book that lost entries does not take any listing just
//     because it has fewer than K.
//   - Cancellation, sale, invalidation and expiry only remove entries.
//   - An invalidated order's listing is kept aside; a newer revalidation
//     puts it back when it costs at most W.
//   - A transfer of a token away from a listing's maker (item_transferred)
//     makes that listing unfillable: it is kept aside like an invalidated
//     one (this repairs a lost item_sold), and the book is Uncertain, since
//     a multi-unit maker may still hold units. The book remembers its latest
//     transfers, so a REST answer taken before one arrived, or a late
//     listing event, does not put such a listing back.
//   - Reset replaces B with a REST answer (the K cheapest listings at one
//     instant): W becomes the answer's dearest price, or +∞ when the answer
//     holds fewer than K listings.
//
// W only falls between Resets, so the book shrinks as its orders go. When B
// is empty and W is finite the floor is unknown: NeedsRefill asks for a
// REST call. When an order whose price the book never saw becomes active
// again (a revalidation of an order it holds no listing for, or a partial
// sale of a multi-unit order) the order may be cheaper than W and (b) may
// no longer hold: Uncertain says so until the next Reset. (If the order's
// listing arrives late the book takes it, but stays Uncertain.)
//
// A REST answer takes time: Reset is given the time its request was sent,
// and listings that arrived meanwhile (kept in a small ring of recently
// dropped listings even when dearer than the old W) join the new book.
//
// # Versions
//
// Stream delivery is best effort: events come duplicated, out of order and
// as replays of old state. Every event carries the order's version (a
// revision counter that only grows); the book remembers the last version
// of each order it knows and ignores an event whose version is not newer
// (Duplicate when equal, Stale when older). A removed order keeps a
// tombstone, so an older replay of its listing never brings it back.
// Tombstones are bounded by count and age (Options); a replay older than
// both bounds cannot be recognised, though a replayed listing that has
// since expired is still refused by its expiration date.
//
// A listing's price, quantity and expiry never change for one order hash
// (a new price is a new order), so a listing that arrives Stale still
// teaches the book the price of an order it knew only by hash.
//
// REST answers carry no version. Reset treats what the book recorded at or
// after the answer's time as newer than the answer; older state loses to
// the answer, except a final removal (a cancellation, or a sale of a
// single-unit order), which no answer undoes.
//
// # Prices
//
// Prices are exact (math/big). An entry's unit price is Price.Amount /
// Quantity; a listing in another currency than the book's is converted
// through its EthPrice and the ETH rate of the book's currency (1 for ETH
// and WETH, else the EthPrice last seen on a listing in the book's own
// currency). A listing that cannot be converted is ignored and counted.
// Floor rounds the cheapest unit price down to the currency's decimals.
package book
