package indexersim

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	graphql "github.com/graph-gophers/graphql-go"
	gqlerrors "github.com/graph-gophers/graphql-go/errors"
)

// Endpoint kinds of a subgraph's Stats.ByEndpoint, and its fault kinds.
const (
	EndpointGraphQL = "graphql" // POST /subgraphs/name/{name}

	FaultSubgraphThrottle = "throttle_429"
	FaultSubgraphGQLError = "graphql_error"
	FaultSubgraphPartial  = "partial_data"
	// FaultMalformedTruncate and FaultMalformedType are shared with the
	// OpenSea endpoints.
)

// Block clock of the simulated chain: block simGenesisBlock was mined at
// simEpochHour, one block every 12 s.
const (
	simGenesisBlock = 21_500_000
	blockSeconds    = 12
	daySecs         = 86400
	// subgraph query limits, as graph-node enforces them.
	maxFirst = 1000
	maxSkip  = 5000
	// maxQueryBytes bounds a request body.
	maxQueryBytes = 1 << 20
)

// tagMarketplace keys the independent market of a marketplace subgraph.
const tagMarketplace uint64 = 0x5b9a

// subgraphEndpoint is one served marketplace subgraph.
type subgraphEndpoint struct {
	cfg     SubgraphConfig
	srv     *Server
	schema  *graphql.Schema
	limiter *limiter
	rec     *recorder
	keys    map[string]bool
	faults  rng
	faultMu sync.Mutex

	mu      sync.Mutex
	markets map[*collection]*market // independent markets, created on first use
}

func newSubgraphEndpoint(s *Server, cfg SubgraphConfig) (*subgraphEndpoint, error) {
	e := &subgraphEndpoint{
		cfg:     cfg,
		srv:     s,
		limiter: newLimiter(Config{Rate: cfg.Rate, Burst: cfg.Burst}.withDefaults()),
		rec:     newRecorder(),
		keys:    map[string]bool{},
		faults:  rng{s: hash(uint64(s.cfg.Seed), fnv64(cfg.Name), 0xfa17)},
		markets: map[*collection]*market{},
	}
	for _, k := range cfg.APIKeys {
		e.keys[k] = true
	}
	schema, err := graphql.ParseSchema(subgraphSchema, &sgRoot{e: e}, graphql.UseFieldResolvers(), graphql.MaxDepth(8))
	if err != nil {
		return nil, fmt.Errorf("subgraph %s: parse schema: %w", cfg.Name, err)
	}
	e.schema = schema
	return e, nil
}

// covers says whether the marketplace ever traded collection c.
func (e *subgraphEndpoint) covers(c *collection) bool {
	if c.info.Chain != "ethereum" {
		return false // the subgraphs index Ethereum mainnet; volumes are in ETH
	}
	if e.cfg.Mirror || e.cfg.Coverage == 0 {
		return true
	}
	return unit(hash(c.seed, tagMarketplace, fnv64(e.cfg.Name))) < e.cfg.Coverage
}

// market returns the trades the subgraph indexes for c.
func (e *subgraphEndpoint) market(c *collection) *market {
	if e.cfg.Mirror {
		return c.market
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.markets[c]
	if !ok {
		m = newMarket(&rng{s: hash(c.seed, tagMarketplace, fnv64(e.cfg.Name))}, c)
		e.markets[c] = m
	}
	return m
}

func (e *subgraphEndpoint) factor() float64 {
	if e.cfg.VolumeFactor == 0 {
		return 1
	}
	return e.cfg.VolumeFactor
}

// ServeHTTP runs the pipeline: count, authenticate, rate-limit, draw a
// fault, then parse and execute the query.
func (e *subgraphEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	e.rec.request(EndpointGraphQL)
	now := e.srv.cfg.Clock()
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if len(e.keys) > 0 && !e.keys[key] {
		// The Graph's gateway answers auth failures with 200 and errors.
		msg := "auth error: API key not found"
		if r.Header.Get("Authorization") == "" {
			msg = "auth error: missing authorization header"
		}
		e.rec.unauthorized()
		e.writeErrors(w, r, http.StatusOK, msg)
		return
	}
	d := e.limiter.allow(key, now)
	d.setHeaders(w.Header())
	if !d.ok {
		e.rec.rateLimited()
		e.throttle(w, r, d.retryAfter)
		return
	}
	e.rec.served(now)

	kind, variant := e.draw()
	switch kind {
	case FaultSubgraphThrottle:
		e.rec.fault(kind)
		e.throttle(w, r, time.Duration(1+variant%3)*time.Second)
		return
	case FaultError502:
		e.rec.fault(kind)
		e.writeRaw(w, r, http.StatusBadGateway, "text/html",
			[]byte("<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"))
		return
	case FaultError503:
		e.rec.fault(kind)
		e.writeErrors(w, r, http.StatusServiceUnavailable, "service unavailable")
		return
	case FaultSubgraphGQLError:
		e.rec.fault(kind)
		msgs := []string{
			"bad indexers: BadResponse(timeout)",
			"Store error: database unavailable",
			"indexing_error: Mapping aborted at ~lib/@graphprotocol/graph-ts/index.ts",
		}
		e.writeErrors(w, r, http.StatusOK, msgs[variant%uint64(len(msgs))])
		return
	}

	if r.Method != http.MethodPost {
		e.writeErrors(w, r, http.StatusMethodNotAllowed, "send queries with POST")
		return
	}
	var req struct {
		Query         string         `json:"query"`
		OperationName string         `json:"operationName"`
		Variables     map[string]any `json:"variables"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxQueryBytes+1))
	if err == nil && len(body) > maxQueryBytes {
		err = errors.New("query too large")
	}
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		e.writeErrors(w, r, http.StatusBadRequest, "invalid request body: "+err.Error())
		return
	}
	head := blockAt(now)
	resp := e.schema.Exec(context.WithValue(ctx, sgHeadKey{}, head), req.Query, req.OperationName, req.Variables)
	if kind == FaultSubgraphPartial && len(resp.Data) > 0 && string(resp.Data) != "null" {
		e.rec.fault(kind)
		resp.Errors = append(resp.Errors, &gqlerrors.QueryError{
			Message: "indexing_error: Mapping aborted at ~lib/@graphprotocol/graph-ts/index.ts, line 1"})
	}
	out, err := json.Marshal(resp)
	if err != nil {
		e.writeErrors(w, r, http.StatusInternalServerError, "encode response")
		return
	}
	if kind == FaultMalformedTruncate {
		out = malformGraphQL(resp.Data, out, variant)
		e.rec.fault([]string{FaultMalformedTruncate, FaultMalformedType}[variant%2])
	}
	e.writeRaw(w, r, http.StatusOK, "application/json", out)
}

// draw picks the request's fault ("" for none) and a variant.
func (e *subgraphEndpoint) draw() (string, uint64) {
	c := e.cfg
	if c.ThrottleRate+c.ErrorRate+c.GraphQLErrorRate+c.PartialRate+c.MalformedRate == 0 {
		return "", 0
	}
	e.faultMu.Lock()
	u, v := e.faults.float(), e.faults.next()
	e.faultMu.Unlock()
	for _, f := range []struct {
		rate float64
		kind string
	}{{c.ThrottleRate, FaultSubgraphThrottle}, {c.ErrorRate, ""}, {c.GraphQLErrorRate, FaultSubgraphGQLError}, {c.PartialRate, FaultSubgraphPartial},
		{c.MalformedRate, FaultMalformedTruncate}} {
		if u < f.rate {
			if f.kind == "" {
				return []string{FaultError502, FaultError503}[v%2], v
			}
			return f.kind, v
		}
		u -= f.rate
	}
	return "", 0
}

func (e *subgraphEndpoint) throttle(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
	e.writeErrors(w, r, http.StatusTooManyRequests, "Too many requests, please try again later")
}

func (e *subgraphEndpoint) writeErrors(w http.ResponseWriter, r *http.Request, status int, msg string) {
	body, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"message": msg}}}) //nolint:errchkjson // plain maps
	e.writeRaw(w, r, status, "application/json", body)
}

func (e *subgraphEndpoint) writeRaw(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	e.rec.status(status)
	if _, err := w.Write(body); err != nil {
		e.srv.logger.DebugContext(r.Context(), "indexersim: write subgraph response", slog.String("error", err.Error()))
	}
}

// block is a block of the simulated chain.
type block struct {
	number int64
	time   time.Time
}

// blockAt returns the last block mined at or before t.
func blockAt(t time.Time) block {
	n := simGenesisBlock + floorDiv(t.Unix()-simEpochHour*3600, blockSeconds)
	return blockNumbered(n)
}

func blockNumbered(n int64) block {
	return block{number: n, time: time.Unix(simEpochHour*3600+(n-simGenesisBlock)*blockSeconds, 0).UTC()}
}

type sgHeadKey struct{}

// atBlock resolves a block argument against the head block in ctx.
func atBlock(ctx context.Context, arg *sgBlockHeight) (block, error) {
	head, _ := ctx.Value(sgHeadKey{}).(block)
	if arg == nil {
		return head, nil
	}
	n := head.number
	switch {
	case arg.Number != nil:
		n = int64(*arg.Number)
	case arg.NumberGte != nil:
		if int64(*arg.NumberGte) > head.number {
			n = int64(*arg.NumberGte)
		}
	}
	if n > head.number {
		return block{}, fmt.Errorf("Failed to decode `block.number` value: `subgraph has only indexed up to block number %d "+ //nolint:staticcheck // graph-node's exact message
			"and data for block number %d is therefore not yet available`", head.number, n)
	}
	if n < 0 {
		return block{}, fmt.Errorf("block number %d is negative", n)
	}
	return blockNumbered(n), nil
}

// --- GraphQL scalars (the simulator's own wire types) -----------------------

type sgBigInt string

func (sgBigInt) ImplementsGraphQLType(name string) bool { return name == "BigInt" }
func (b *sgBigInt) UnmarshalGraphQL(in any) error {
	switch v := in.(type) {
	case string:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return fmt.Errorf("invalid BigInt %q", v)
		}
		*b = sgBigInt(v)
	case int32:
		*b = sgBigInt(strconv.FormatInt(int64(v), 10))
	case int64:
		*b = sgBigInt(strconv.FormatInt(v, 10))
	case float64:
		if v != math.Trunc(v) {
			return fmt.Errorf("invalid BigInt %v", v)
		}
		*b = sgBigInt(strconv.FormatFloat(v, 'f', 0, 64))
	default:
		return fmt.Errorf("invalid BigInt %v", in)
	}
	return nil
}
func (b sgBigInt) MarshalJSON() ([]byte, error) { return json.Marshal(string(b)) }
func (b sgBigInt) int() int64 {
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n
}

type sgBigDecimal string

func (sgBigDecimal) ImplementsGraphQLType(name string) bool { return name == "BigDecimal" }
func (d *sgBigDecimal) UnmarshalGraphQL(in any) error       { return stringScalar("BigDecimal", in, d) }
func (d sgBigDecimal) MarshalJSON() ([]byte, error)         { return json.Marshal(string(d)) }

// decimalOf prints an amount in ETH as graph-node prints a BigDecimal
// derived from wei: no exponent, at most 18 decimal places.
func decimalOf(x float64) sgBigDecimal {
	s := strconv.FormatFloat(x, 'f', 18, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-0" {
		s = "0"
	}
	return sgBigDecimal(s)
}

type sgBytes string

func (sgBytes) ImplementsGraphQLType(name string) bool { return name == "Bytes" }
func (b *sgBytes) UnmarshalGraphQL(in any) error       { return stringScalar("Bytes", in, b) }
func (b sgBytes) MarshalJSON() ([]byte, error)         { return json.Marshal(string(b)) }

// stringScalar sets *dst from a scalar input that must be a string.
func stringScalar[T ~string](name string, in any, dst *T) error {
	s, ok := in.(string)
	if !ok {
		return fmt.Errorf("invalid %s %v", name, in)
	}
	*dst = T(s)
	return nil
}

// --- arguments ---------------------------------------------------------------

type sgBlockHeight struct {
	Hash      *sgBytes
	Number    *int32
	NumberGte *int32
}

type sgCollectionFilter struct {
	ID   *graphql.ID
	IDGt *graphql.ID
	IDIn *[]graphql.ID
}

type sgSnapshotFilter struct {
	ID           *graphql.ID
	IDGt         *graphql.ID
	IDLt         *graphql.ID
	IDIn         *[]graphql.ID
	Collection   *string
	Timestamp    *sgBigInt
	TimestampGt  *sgBigInt
	TimestampGte *sgBigInt
	TimestampLt  *sgBigInt
	TimestampLte *sgBigInt
}

// checkPage validates first and skip as graph-node does.
func checkPage(first, skip int32) error {
	if first < 0 || first > maxFirst {
		return fmt.Errorf("The `first` argument must be between 0 and %d, but is %d", maxFirst, first) //nolint:staticcheck // graph-node's exact message
	}
	if skip < 0 || skip > maxSkip {
		return fmt.Errorf("The `skip` argument must be between 0 and %d, but is %d", maxSkip, skip) //nolint:staticcheck // graph-node's exact message
	}
	return nil
}

// --- resolvers ---------------------------------------------------------------

type sgRoot struct{ e *subgraphEndpoint }

type sgBlock struct {
	Hash      *sgBytes
	Number    int32
	Timestamp *int32
}

type sgMeta struct {
	Block             sgBlock
	Deployment        string
	HasIndexingErrors bool
}

func (r *sgRoot) Meta(ctx context.Context, args struct{ Block *sgBlockHeight }) (*sgMeta, error) {
	b, err := atBlock(ctx, args.Block)
	if err != nil {
		return nil, err
	}
	ts := int32(b.time.Unix())
	h := sgBytes(fmt.Sprintf("0x%016x%016x%016x%016x", hash(uint64(b.number), 1), hash(uint64(b.number), 2),
		hash(uint64(b.number), 3), hash(uint64(b.number), 4)))
	return &sgMeta{
		Block:      sgBlock{Hash: &h, Number: int32(b.number), Timestamp: &ts},
		Deployment: cidFor(hash(uint64(r.e.srv.cfg.Seed), fnv64(r.e.cfg.Name))),
	}, nil
}

// sgCollection is the Collection entity.
type sgCollection struct {
	ID                       graphql.ID
	Name                     *string
	Symbol                   *string
	TotalSupply              *sgBigInt
	NftStandard              string
	RoyaltyFee               sgBigDecimal
	CumulativeTradeVolumeETH sgBigDecimal
	MarketplaceRevenueETH    sgBigDecimal
	CreatorRevenueETH        sgBigDecimal
	TotalRevenueETH          sgBigDecimal
	TradeCount               int32
	BuyerCount               int32
	SellerCount              int32
}

// collectionAt builds the Collection entity of c as of block b.
func (e *subgraphEndpoint) collectionAt(c *collection, b block) *sgCollection {
	snap := e.market(c).snapshot(b.time)
	vol := snap.vol[3] * e.factor()
	name, symbol := c.info.Name, strings.ToUpper(strings.Join(strings.Fields(c.info.Name), "")[:3])
	supply := sgBigInt(strconv.Itoa(c.info.TokenCount))
	royalty := float64(c.feeBps) / 100
	marketFee := vol * 0.005
	creator := vol * royalty / 100
	return &sgCollection{
		ID: graphql.ID(c.info.Contract), Name: &name, Symbol: &symbol, TotalSupply: &supply,
		NftStandard: "ERC721", RoyaltyFee: decimalOf(royalty), CumulativeTradeVolumeETH: decimalOf(vol),
		MarketplaceRevenueETH: decimalOf(marketFee), CreatorRevenueETH: decimalOf(creator),
		TotalRevenueETH: decimalOf(marketFee + creator),
		TradeCount:      int32(snap.sales[3]),
		BuyerCount:      int32(float64(snap.sales[3]) * 0.55),
		SellerCount:     int32(float64(snap.sales[3]) * 0.45),
	}
}

// byContract returns the collection with that contract address, if the
// marketplace traded it.
func (e *subgraphEndpoint) byContract(id string) *collection {
	c, ok := e.srv.byContract[id]
	if !ok || !e.covers(c) {
		return nil
	}
	return c
}

func (r *sgRoot) Collection(ctx context.Context, args struct {
	ID    graphql.ID
	Block *sgBlockHeight
}) (*sgCollection, error) {
	b, err := atBlock(ctx, args.Block)
	if err != nil {
		return nil, err
	}
	c := r.e.byContract(string(args.ID))
	if c == nil {
		return nil, nil
	}
	return r.e.collectionAt(c, b), nil
}

func (r *sgRoot) Collections(ctx context.Context, args struct {
	Skip           int32
	First          int32
	OrderBy        *string
	OrderDirection *string
	Where          *sgCollectionFilter
	Block          *sgBlockHeight
}) ([]*sgCollection, error) {
	first, skip := args.First, args.Skip
	if err := checkPage(first, skip); err != nil {
		return nil, err
	}
	b, err := atBlock(ctx, args.Block)
	if err != nil {
		return nil, err
	}
	var ids []string
	for id, c := range r.e.srv.byContract {
		if !r.e.covers(c) || !idMatches(id, args.Where) {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*sgCollection, 0, len(ids))
	for _, id := range ids {
		out = append(out, r.e.collectionAt(r.e.srv.byContract[id], b))
	}
	if o := deref(args.OrderBy, "id"); o != "id" {
		slices.SortStableFunc(out, func(a, b *sgCollection) int {
			if o == "tradeCount" {
				return cmp.Compare(a.TradeCount, b.TradeCount)
			}
			x, _ := strconv.ParseFloat(string(a.CumulativeTradeVolumeETH), 64)
			y, _ := strconv.ParseFloat(string(b.CumulativeTradeVolumeETH), 64)
			return cmp.Compare(x, y)
		})
	}
	if deref(args.OrderDirection, "asc") == "desc" {
		slices.Reverse(out)
	}
	return page(out, int(skip), int(first)), nil
}

func idMatches(id string, w *sgCollectionFilter) bool {
	if w == nil {
		return true
	}
	if w.ID != nil && id != string(*w.ID) {
		return false
	}
	if w.IDGt != nil && id <= string(*w.IDGt) {
		return false
	}
	if w.IDIn != nil && !slices.Contains(*w.IDIn, graphql.ID(id)) {
		return false
	}
	return true
}

// sgSnapshot is the CollectionDailySnapshot entity.
type sgSnapshot struct {
	ID                       graphql.ID
	BlockNumber              sgBigInt
	Timestamp                sgBigInt
	RoyaltyFee               sgBigDecimal
	DailyMinSalePrice        sgBigDecimal
	DailyMaxSalePrice        sgBigDecimal
	CumulativeTradeVolumeETH sgBigDecimal
	DailyTradeVolumeETH      sgBigDecimal
	MarketplaceRevenueETH    sgBigDecimal
	CreatorRevenueETH        sgBigDecimal
	TotalRevenueETH          sgBigDecimal
	TradeCount               int32
	DailyTradedItemCount     int32

	e   *subgraphEndpoint
	c   *collection
	at  block
	vol float64
}

// Collection resolves the snapshot's collection as of the snapshot's block.
func (s *sgSnapshot) Collection() *sgCollection { return s.e.collectionAt(s.c, s.at) }

// dayTrades sums the trades of UTC day `day` made at or before minute
// upTo (absolute minutes), with the smallest and largest price and the
// minute of the last trade. Hours and prices are those of market.snapshot,
// so a day's volume is exactly the part of the sliding windows it covers.
func (m *market) dayTrades(day, upTo int64) (vol float64, n int64, lo, hi float64, last int64) {
	for h := day * 24; h < day*24+24 && h*60 <= upTo; h++ {
		k := m.hourSales(h)
		if k == 0 {
			continue
		}
		floor := m.floorAt(h * 60)
		for i := range k {
			minute, price := m.sale(h, i, floor)
			if h*60+minute > upTo {
				continue
			}
			if n == 0 || price < lo {
				lo = price
			}
			hi = max(hi, price)
			vol += price
			n++
			last = max(last, h*60+minute)
		}
	}
	return vol, n, lo, hi, last
}

// snapshotOf builds c's snapshot of day as seen at block b; nil when the
// collection had no trade that day up to b.
func (e *subgraphEndpoint) snapshotOf(c *collection, day int64, b block) *sgSnapshot {
	m := e.market(c)
	upTo := floorDiv(b.time.Unix(), 60)
	vol, n, lo, hi, last := m.dayTrades(day, upTo)
	if n == 0 {
		return nil
	}
	f := e.factor()
	at := blockAt(time.Unix(last*60, 0))
	snap := m.snapshot(at.time)
	royalty := float64(c.feeBps) / 100
	vol *= f
	return &sgSnapshot{
		ID:                       graphql.ID(c.info.Contract + "-" + strconv.FormatInt(day, 10)),
		BlockNumber:              sgBigInt(strconv.FormatInt(at.number, 10)),
		Timestamp:                sgBigInt(strconv.FormatInt(at.time.Unix(), 10)),
		RoyaltyFee:               decimalOf(royalty),
		DailyMinSalePrice:        decimalOf(lo * f),
		DailyMaxSalePrice:        decimalOf(hi * f),
		CumulativeTradeVolumeETH: decimalOf(snap.vol[3] * f),
		DailyTradeVolumeETH:      decimalOf(vol),
		MarketplaceRevenueETH:    decimalOf(vol * 0.005),
		CreatorRevenueETH:        decimalOf(vol * royalty / 100),
		TotalRevenueETH:          decimalOf(vol*0.005 + vol*royalty/100),
		TradeCount:               int32(snap.sales[3]),
		DailyTradedItemCount:     int32(n),
		e:                        e, c: c, at: at, vol: vol,
	}
}

// snapshotKey is a candidate snapshot: a collection and a day.
type snapshotKey struct {
	c   *collection
	day int64
	id  string
}

func (r *sgRoot) CollectionDailySnapshot(ctx context.Context, args struct {
	ID    graphql.ID
	Block *sgBlockHeight
}) (*sgSnapshot, error) {
	b, err := atBlock(ctx, args.Block)
	if err != nil {
		return nil, err
	}
	addr, dayStr, ok := strings.Cut(string(args.ID), "-")
	day, err := strconv.ParseInt(dayStr, 10, 64)
	c := r.e.byContract(addr)
	if !ok || err != nil || c == nil || day > floorDiv(b.time.Unix(), daySecs) {
		return nil, nil //nolint:nilerr // an ID that does not parse names no entity: null, as a subgraph answers
	}
	return r.e.snapshotOf(c, day, b), nil
}

func (r *sgRoot) CollectionDailySnapshots(ctx context.Context, args struct {
	Skip           int32
	First          int32
	OrderBy        *string
	OrderDirection *string
	Where          *sgSnapshotFilter
	Block          *sgBlockHeight
}) ([]*sgSnapshot, error) {
	first, skip := args.First, args.Skip
	if err := checkPage(first, skip); err != nil {
		return nil, err
	}
	b, err := atBlock(ctx, args.Block)
	if err != nil {
		return nil, err
	}
	w := args.Where
	if w == nil {
		w = &sgSnapshotFilter{}
	}
	// Days that may hold a matching snapshot: trading starts at
	// simEpochHour; a snapshot's timestamp lies within its day.
	lo, hi := int64(simEpochHour/24), floorDiv(b.time.Unix(), daySecs)
	if w.Timestamp != nil {
		lo, hi = max(lo, w.Timestamp.int()/daySecs), min(hi, w.Timestamp.int()/daySecs)
	}
	if w.TimestampGt != nil {
		lo = max(lo, (w.TimestampGt.int()+1)/daySecs)
	}
	if w.TimestampGte != nil {
		lo = max(lo, w.TimestampGte.int()/daySecs)
	}
	if w.TimestampLt != nil {
		hi = min(hi, (w.TimestampLt.int()-1)/daySecs)
	}
	if w.TimestampLte != nil {
		hi = min(hi, w.TimestampLte.int()/daySecs)
	}
	var cols []*collection
	if w.Collection != nil {
		if c := r.e.byContract(*w.Collection); c != nil {
			cols = append(cols, c)
		}
	} else {
		for _, c := range r.e.srv.collections {
			if r.e.covers(c) {
				cols = append(cols, c)
			}
		}
	}
	var keys []snapshotKey
	for _, c := range cols {
		for day := lo; day <= hi; day++ {
			id := c.info.Contract + "-" + strconv.FormatInt(day, 10)
			if snapshotIDMatches(id, w) {
				keys = append(keys, snapshotKey{c: c, day: day, id: id})
			}
		}
	}
	// Within a collection, id order is day order (five-digit day numbers),
	// so timestamp and blockNumber order equal id order per collection.
	slices.SortFunc(keys, func(a, b snapshotKey) int { return cmp.Compare(a.id, b.id) })
	orderBy, desc := deref(args.OrderBy, "id"), deref(args.OrderDirection, "asc") == "desc"
	if orderBy == "timestamp" || orderBy == "blockNumber" {
		slices.SortStableFunc(keys, func(a, b snapshotKey) int { return cmp.Compare(a.day, b.day) })
	}
	if orderBy == "dailyTradeVolumeETH" {
		all := r.collect(keys, w, b, len(keys))
		slices.SortStableFunc(all, func(a, b *sgSnapshot) int { return cmp.Compare(a.vol, b.vol) })
		if desc {
			slices.Reverse(all)
		}
		return page(all, int(skip), int(first)), nil
	}
	if desc {
		slices.Reverse(keys)
	}
	out := r.collect(keys, w, b, int(skip)+int(first))
	return page(out, int(skip), int(first)), nil
}

// collect builds the snapshots of keys in order, skipping days without
// trades and timestamps outside the filter, until it has n.
func (r *sgRoot) collect(keys []snapshotKey, w *sgSnapshotFilter, b block, n int) []*sgSnapshot {
	var out []*sgSnapshot
	for _, k := range keys {
		if len(out) >= n {
			break
		}
		s := r.e.snapshotOf(k.c, k.day, b)
		if s == nil || !timestampMatches(s.Timestamp.int(), w) {
			continue
		}
		out = append(out, s)
	}
	return out
}

func snapshotIDMatches(id string, w *sgSnapshotFilter) bool {
	switch {
	case w.ID != nil && id != string(*w.ID),
		w.IDGt != nil && id <= string(*w.IDGt),
		w.IDLt != nil && id >= string(*w.IDLt),
		w.IDIn != nil && !slices.Contains(*w.IDIn, graphql.ID(id)):
		return false
	}
	return true
}

func timestampMatches(ts int64, w *sgSnapshotFilter) bool {
	switch {
	case w.Timestamp != nil && ts != w.Timestamp.int(),
		w.TimestampGt != nil && ts <= w.TimestampGt.int(),
		w.TimestampGte != nil && ts < w.TimestampGte.int(),
		w.TimestampLt != nil && ts >= w.TimestampLt.int(),
		w.TimestampLte != nil && ts > w.TimestampLte.int():
		return false
	}
	return true
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func page[T any](xs []T, skip, first int) []T {
	if skip >= len(xs) {
		return []T{}
	}
	xs = xs[skip:]
	return xs[:min(first, len(xs))]
}

// unauthorized counts a refused key answered with 200 (the gateway's way).
func (r *recorder) unauthorized() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Unauthorized++
}

// malformGraphQL breaks an answer: even variants cut the body in half, odd
// ones answer a number for every top-level field (where objects, lists
// and strings belong).
func malformGraphQL(data json.RawMessage, body []byte, variant uint64) []byte {
	var fields map[string]json.RawMessage
	if variant%2 == 0 || json.Unmarshal(data, &fields) != nil || len(fields) == 0 {
		return body[:len(body)/2]
	}
	for k := range fields {
		fields[k] = json.RawMessage("42")
	}
	out, _ := json.Marshal(map[string]any{"data": fields}) //nolint:errchkjson // raw numbers
	return out
}
