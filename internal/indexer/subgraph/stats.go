package subgraph

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/shurcooL/graphql"

	"github.com/nftsync/nftsync/internal/indexer"
)

const daySeconds = 86400

// maxPages bounds a snapshot walk: 31 days fit in one page of 1000, so even
// a page size of 1 needs only 32 requests; more means a server that ignores
// id_gt.
const maxPages = 64

// decimalRE is a BigDecimal as graph-node prints it: an optional sign,
// digits, an optional fraction and an optional exponent.
var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// bigDecimal validates a non-negative BigDecimal string and returns it
// unchanged with its exact value. NUMERIC accepts every accepted spelling.
func bigDecimal(field, s string) (string, *big.Rat, error) {
	if len(s) > 200 || !decimalRE.MatchString(s) {
		return "", nil, fmt.Errorf("%s: %q is not a decimal", field, s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", nil, fmt.Errorf("%s: %q is not a decimal", field, s)
	}
	if r.Sign() < 0 {
		return "", nil, fmt.Errorf("%s: %q is negative", field, s)
	}
	return s, r, nil
}

// bigInt validates a non-negative BigInt string.
func bigInt(field, s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative integer", field, s)
	}
	return n, nil
}

// formatRat prints r with at most 18 decimal places (rounded half up),
// without trailing zeros: the scale of numeric(78,18).
func formatRat(r *big.Rat) string {
	s := r.FloatString(18)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// Stats returns the collection's trade volume: 1d, 7d and 30d windows from
// its daily snapshots and "all" from its cumulative fields (see the package
// doc). Floor is always nil: a subgraph has no listings.
func (c *Client) Stats(ctx context.Context, address string) (*indexer.Stats, error) {
	op := "stats " + address
	if err := checkAddress(op, address); err != nil {
		return nil, err
	}
	// Snapshots since the start of the day 30 days before today: with an
	// unknown head time yet, ask a day more and filter after.
	nowDay := c.now().Unix() / daySeconds
	since := (nowDay - windowDays - 1) * daySeconds
	vars := map[string]any{
		"id":         graphql.ID(address),
		"collection": graphql.String(address),
		"first":      graphql.Int(c.pageSize),
		"since":      BigInt(strconv.FormatInt(since, 10)),
		"last":       graphql.ID(""),
	}
	var q statsQuery
	if err := c.query(ctx, op, &q, vars); err != nil {
		return nil, err
	}
	fetched := c.now().UTC()
	head, err := headTime(op, q.Meta)
	if err != nil {
		return nil, err
	}
	if q.Collection == nil {
		return nil, unknownCollection(op, address)
	}
	snaps := q.Snapshots
	for page := 1; len(q.Snapshots) == c.pageSize; page++ {
		if page >= maxPages {
			return nil, malformed(op, "more than %d pages of daily snapshots: the server ignores id_gt", maxPages)
		}
		delete(vars, "id") // a declared but unused variable fails validation
		vars["last"] = graphql.ID(q.Snapshots[len(q.Snapshots)-1].ID)
		vars["block"] = graphql.Int(q.Meta.Block.Number)
		var p snapshotPageQuery
		if err := c.query(ctx, op, &p, vars); err != nil {
			return nil, err
		}
		q.Snapshots = p.Snapshots
		snaps = append(snaps, p.Snapshots...)
	}
	st, err := buildStats(address, q.Collection, snaps, head)
	if err != nil {
		return nil, malformed(op, "%w", err)
	}
	st.FetchedAt, st.SourceAsOf = fetched, head
	return st, nil
}

// headTime is the answer's block time. graph-node always has it; an
// answer without it cannot be placed in time.
func headTime(op string, m *metaDTO) (time.Time, error) {
	if m == nil || m.Block.Timestamp == nil || *m.Block.Timestamp <= 0 {
		return time.Time{}, malformed(op, "_meta.block.timestamp missing")
	}
	return time.Unix(*m.Block.Timestamp, 0).UTC(), nil
}

// dayTotal is one day's volume and sales.
type dayTotal struct {
	vol   *big.Rat
	sales int64
}

// buildStats computes the windows at head from the snapshots.
func buildStats(address string, col *collectionDTO, snaps []snapshotDTO, head time.Time) (*indexer.Stats, error) {
	if col.ID != address {
		return nil, fmt.Errorf("collection id %q, asked for %q", col.ID, address)
	}
	all, _, err := bigDecimal("cumulativeTradeVolumeETH", col.CumulativeTradeVolumeETH)
	if err != nil {
		return nil, err
	}
	if col.TradeCount < 0 {
		return nil, fmt.Errorf("tradeCount %d is negative", col.TradeCount)
	}
	headDay := head.Unix() / daySeconds
	days := map[int64]dayTotal{}
	lastID := ""
	for _, s := range snaps {
		if s.ID <= lastID {
			return nil, fmt.Errorf("snapshot %q out of id order after %q", s.ID, lastID)
		}
		lastID = s.ID
		if !strings.HasPrefix(s.ID, address+"-") {
			return nil, fmt.Errorf("snapshot %q is not of collection %s", s.ID, address)
		}
		ts, err := bigInt("snapshot "+s.ID+" timestamp", s.Timestamp)
		if err != nil {
			return nil, err
		}
		_, vol, err := bigDecimal("snapshot "+s.ID+" dailyTradeVolumeETH", s.DailyTradeVolumeETH)
		if err != nil {
			return nil, err
		}
		if s.DailyTradedItemCount < 0 {
			return nil, fmt.Errorf("snapshot %q dailyTradedItemCount %d is negative", s.ID, s.DailyTradedItemCount)
		}
		day := ts / daySeconds
		if s.ID != address+"-"+strconv.FormatInt(day, 10) {
			return nil, fmt.Errorf("snapshot %q has timestamp %d of day %d", s.ID, ts, day)
		}
		if _, dup := days[day]; dup {
			return nil, fmt.Errorf("two snapshots for day %d", day)
		}
		if day > headDay {
			return nil, fmt.Errorf("snapshot %q is after the head block", s.ID)
		}
		days[day] = dayTotal{vol: vol, sales: s.DailyTradedItemCount}
	}
	// The share of the oldest day still inside a window ending at head.
	rest := big.NewRat(daySeconds-(head.Unix()-headDay*daySeconds), daySeconds)
	st := &indexer.Stats{Sales: col.TradeCount}
	for _, w := range []struct {
		win  indexer.Window
		days int64
	}{{indexer.Window1d, 1}, {indexer.Window7d, 7}, {indexer.Window30d, 30}} {
		vol, sales := new(big.Rat), new(big.Rat)
		for k := range w.days {
			if d, ok := days[headDay-k]; ok {
				vol.Add(vol, d.vol)
				sales.Add(sales, new(big.Rat).SetInt64(d.sales))
			}
		}
		// The window surely holds the full days and at most all of the
		// oldest one.
		low, high := formatRat(vol), formatRat(vol)
		if d, ok := days[headDay-w.days]; ok {
			high = formatRat(new(big.Rat).Add(vol, d.vol))
			vol.Add(vol, new(big.Rat).Mul(d.vol, rest))
			sales.Add(sales, new(big.Rat).Mul(new(big.Rat).SetInt64(d.sales), rest))
		}
		n, _ := strconv.ParseInt(sales.FloatString(0), 10, 64)
		st.Volumes = append(st.Volumes, indexer.Volume{Window: w.win, Sales: n, Low: low, High: high,
			Amount: indexer.Money{Amount: formatRat(vol), Currency: "ETH", Decimals: 18}})
	}
	st.Volumes = append(st.Volumes, indexer.Volume{Window: indexer.WindowAll, Sales: col.TradeCount,
		Amount: indexer.Money{Amount: all, Currency: "ETH", Decimals: 18}})
	return st, nil
}

// Collection returns the collection's metadata from the Collection entity:
// name (the symbol when the contract has no name), total supply, and the
// raw entity. Slug is the address.
func (c *Client) Collection(ctx context.Context, address string) (*indexer.Collection, error) {
	op := "collection " + address
	if err := checkAddress(op, address); err != nil {
		return nil, err
	}
	var q collectionQuery
	if err := c.query(ctx, op, &q, map[string]any{"id": graphql.ID(address)}); err != nil {
		return nil, err
	}
	head, err := headTime(op, q.Meta)
	if err != nil {
		return nil, err
	}
	if q.Collection == nil {
		return nil, unknownCollection(op, address)
	}
	col := q.Collection
	if col.ID != address {
		return nil, malformed(op, "collection id %q, asked for %q", col.ID, address)
	}
	if _, _, err := bigDecimal("royaltyFee", col.RoyaltyFee); err != nil {
		return nil, malformed(op, "%w", err)
	}
	out := &indexer.Collection{
		Slug:             address,
		Contracts:        []indexer.Contract{{Chain: c.chain, Address: address}},
		Currency:         "ETH",
		CurrencyDecimals: 18,
		FetchedAt:        c.now().UTC(),
		SourceAsOf:       head,
	}
	switch {
	case col.Name != nil:
		out.Name = *col.Name
	case col.Symbol != nil:
		out.Name = *col.Symbol
	}
	if col.TotalSupply != nil {
		n, err := bigInt("totalSupply", *col.TotalSupply)
		if err != nil {
			return nil, malformed(op, "%w", err)
		}
		out.TotalSupply = n
	}
	raw, err := json.Marshal(col)
	if err != nil {
		return nil, fmt.Errorf("%s: encode raw: %w", op, err)
	}
	out.Raw = raw
	return out, nil
}
