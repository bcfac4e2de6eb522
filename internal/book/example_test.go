package book_test

import (
	"fmt"
	"time"

	"github.com/nftsync/nftsync/internal/book"
	"github.com/nftsync/nftsync/internal/indexer"
)

func listing(hash, amount string, version int64) indexer.Listing {
	return indexer.Listing{
		OrderHash: hash, Version: version, Quantity: 1, EthPrice: "1",
		Price: indexer.Money{Amount: amount, Currency: "ETH", Decimals: 18},
	}
}

func printFloor(b *book.Book, r book.Result) {
	m, ok := b.Floor()
	fmt.Printf("floor %s %v changed=%v refill=%v\n", m.Amount, ok, r.FloorChanged, r.NeedsRefill)
}

func Example() {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	b := book.New(2, "ETH")

	// Bootstrap from GET /api/v2/listings/collection/{slug}/best?limit=2.
	printFloor(b, b.Reset([]indexer.Listing{listing("0xa", "1.2", 0), listing("0xb", "1.5", 0)}, now))

	// Stream events. 0xc enters and pushes 0xb (the dearest) out.
	printFloor(b, b.Listed(listing("0xc", "1.1", 3), now.Add(time.Second)))
	printFloor(b, b.Sold("0xc", 4, now.Add(2*time.Second)))
	printFloor(b, b.Listed(listing("0xc", "1.1", 3), now.Add(3*time.Second))) // a stale replay
	// The last entry goes and orders may exist beyond it (0xb at least):
	// one REST call refills the book.
	printFloor(b, b.Cancelled("0xa", 2, now.Add(4*time.Second)))
	printFloor(b, b.Reset([]indexer.Listing{listing("0xb", "1.5", 0)}, now.Add(5*time.Second)))
	// Output:
	// floor 1.2 true changed=true refill=false
	// floor 1.1 true changed=true refill=false
	// floor 1.2 true changed=true refill=false
	// floor 1.2 true changed=false refill=false
	// floor  false changed=true refill=true
	// floor 1.5 true changed=true refill=false
}
