package api

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/jobs"
)

// resolver implements the schema's resolvers on sqlc queries, the
// per-request loaders and the admin service.
type resolver struct {
	q        *db.Queries
	stats    *statsCache
	admin    *admin.Service
	maxPage  int
	now      func() time.Time
	actorFor func(ctx context.Context) string
	hub      *hub // change notifications for subscriptions
}

func (r *resolver) Collection() CollectionResolver                     { return r }
func (r *resolver) CollectionConnection() CollectionConnectionResolver { return connResolver{r} }
func (r *resolver) Job() JobResolver                                   { return jobResolver{} }
func (r *resolver) Mutation() MutationResolver                         { return mutationResolver{r} }
func (r *resolver) Query() QueryResolver                               { return queryResolver{r} }
func (r *resolver) TokenConnection() TokenConnectionResolver           { return tokenConnResolver{r} }

type queryResolver struct{ *resolver }

// pageSize validates first against the maximum page size.
func (r *resolver) pageSize(first *int, def int) (int, error) {
	n := def
	if first != nil {
		n = *first
	}
	if n < 1 || n > r.maxPage {
		return 0, badInput(fmt.Sprintf("first: %d is out of range: want 1 to %d (the maximum page size)", n, r.maxPage))
	}
	return n, nil
}

// collectionFilter is a collections query's filter in SQL terms.
type collectionFilter struct {
	Chain, Source, Status, NameContains string
}

func (f collectionFilter) scope() string {
	return strings.Join([]string{f.Chain, f.Source, f.Status, f.NameContains}, "\x1f")
}

func (r queryResolver) Collections(ctx context.Context, filter *CollectionFilter, orderBy *CollectionOrder, first *int, after *string) (*CollectionConnection, error) {
	n, err := r.pageSize(first, 20)
	if err != nil {
		return nil, err
	}
	order := CollectionOrderVolume1d
	if orderBy != nil {
		order = *orderBy
	}
	var f collectionFilter
	if filter != nil {
		f.Chain, f.Source, f.NameContains = deref(filter.Chain), deref(filter.Source), deref(filter.NameContains)
		if filter.Status != nil {
			f.Status = strings.ToLower(string(*filter.Status))
		}
	}
	cur, err := decodeCursor(after, "collections", string(order), f.scope())
	if err != nil {
		return nil, err
	}
	offset := 0
	if cur != nil {
		offset = cur.Offset
	}
	rows, err := r.q.APICollectionList(ctx, db.APICollectionListParams{
		Chain: f.Chain, Source: f.Source, Status: f.Status, NameContains: f.NameContains,
		OrderBy: string(order), MaxRows: int32(n + 1), SkipRows: int32(offset),
	})
	if err != nil {
		return nil, fmt.Errorf("list collections: %w", err)
	}
	conn := &CollectionConnection{PageInfo: &PageInfo{}, filter: f}
	if len(rows) > n {
		rows, conn.PageInfo.HasNextPage = rows[:n], true
	}
	for i, c := range rows {
		cs := cursor{Kind: "collections", Order: string(order), Scope: f.scope(), Offset: offset + i + 1}.encode()
		conn.Edges = append(conn.Edges, &CollectionEdge{Cursor: cs, Node: &Collection{Collection: c}})
		conn.PageInfo.EndCursor = &cs
	}
	if conn.Edges == nil {
		conn.Edges = []*CollectionEdge{}
	}
	return conn, nil
}

type connResolver struct{ *resolver }

func (r connResolver) TotalCount(ctx context.Context, obj *CollectionConnection) (int, error) {
	f := obj.filter
	n, err := r.q.APICollectionCount(ctx, db.APICollectionCountParams{Chain: f.Chain, Source: f.Source, Status: f.Status, NameContains: f.NameContains})
	if err != nil {
		return 0, fmt.Errorf("count collections: %w", err)
	}
	return int(n), nil
}

func (r queryResolver) Collection(ctx context.Context, slug, chain, address *string) (*Collection, error) {
	var (
		c   db.Collection
		err error
	)
	switch {
	case slug != nil && chain == nil && address == nil:
		c, err = r.q.APICollectionBySlug(ctx, *slug)
	case slug == nil && chain != nil && address != nil:
		c, err = r.q.APICollectionByContract(ctx, db.APICollectionByContractParams{Chain: *chain, Address: *address})
	default:
		return nil, badInput("collection: give either slug, or chain and address")
	}
	if errors.Is(db.Interpret(err), db.ErrNotFound) {
		// Tracking it later changes this answer, and no version says so.
		uncacheable(ctx)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up collection: %w", err)
	}
	if err := noteCollection(ctx, c.ID); err != nil {
		return nil, err
	}
	return &Collection{Collection: c}, nil
}

// collectionBySlug is the collection a tokens/token query names; an unknown
// slug is a NOT_FOUND error.
func (r *resolver) collectionBySlug(ctx context.Context, slug string) (db.Collection, error) {
	c, err := r.q.APICollectionBySlug(ctx, slug)
	if errors.Is(db.Interpret(err), db.ErrNotFound) {
		return c, publicError(admin.CodeNotFound, fmt.Sprintf("collection %q is not tracked", slug))
	}
	if err != nil {
		return c, fmt.Errorf("look up collection %s: %w", slug, err)
	}
	return c, noteCollection(ctx, c.ID)
}

func (r *resolver) Priority(_ context.Context, obj *Collection) (int, error) {
	return int(obj.Collection.Priority), nil
}

func (r *resolver) Status(_ context.Context, obj *Collection) (CollectionStatus, error) {
	return CollectionStatus(strings.ToUpper(obj.Collection.Status)), nil
}

func (r *resolver) Contracts(ctx context.Context, obj *Collection) ([]*Contract, error) {
	rows, _, err := load(ctx, loadersOf(ctx, obj).contracts, obj.ID)
	if err != nil {
		return nil, fmt.Errorf("load contracts: %w", err)
	}
	out := make([]*Contract, 0, len(rows))
	for _, c := range rows {
		out = append(out, &Contract{Chain: c.Chain, Address: c.Address})
	}
	return out, nil
}

func (r *resolver) Routes(ctx context.Context, obj *Collection) ([]*SourceRoute, error) {
	uncacheable(ctx) // defaults come from the configured sources, which no version covers
	rows, _, err := load(ctx, loadersOf(ctx, obj).routes, obj.ID)
	if err != nil {
		return nil, fmt.Errorf("load routes: %w", err)
	}
	out := make([]*SourceRoute, 0, len(rows))
	for _, rt := range rows {
		out = append(out, &SourceRoute{Kind: RefreshKind(strings.ToUpper(rt.Kind)), Sources: rt.Sources, Own: rt.Routed})
	}
	return out, nil
}

func (r *resolver) Metadata(ctx context.Context, obj *Collection) (*CollectionMetadata, error) {
	m, ok, err := load(ctx, loadersOf(ctx, obj).metadata, obj.ID)
	if err != nil || !ok {
		return nil, wrap("load metadata", err)
	}
	return &CollectionMetadata{
		Name: m.Name, Description: m.Description, ImageURL: m.ImageUrl, BannerImageURL: m.BannerImageUrl,
		ExternalURL: m.ExternalUrl, Category: m.Category, SafelistStatus: m.SafelistStatus,
		TotalSupply: intPtr(m.TotalSupply), UniqueItemCount: intPtr(m.UniqueItemCount), FetchedAt: m.FetchedAt,
	}, nil
}

func (r *resolver) Floor(ctx context.Context, obj *Collection) (*Price, error) {
	f, ok, err := load(ctx, loadersOf(ctx, obj).floor, obj.ID)
	if err != nil || !ok || f.Amount == "" {
		return nil, wrap("load floor", err)
	}
	p := &Price{Amount: f.Amount, Currency: f.Currency, Decimals: int(f.Decimals), Source: f.Source, FetchedAt: f.FetchedAt}
	if f.SourceAsOf.Valid {
		p.SourceAsOf = &f.SourceAsOf.Time
	}
	return p, nil
}

func (r *resolver) Volumes(ctx context.Context, obj *Collection) ([]*Volume, error) {
	rows, _, err := load(ctx, loadersOf(ctx, obj).volumes, obj.ID)
	if err != nil {
		return nil, fmt.Errorf("load volumes: %w", err)
	}
	out := make([]*Volume, 0, len(rows)+1)
	for _, v := range rows {
		out = append(out, &Volume{Window: v.TimeWindow, Amount: v.Amount, Currency: v.Currency, Decimals: int(v.Decimals),
			Sales: intPtr(v.Sales), Source: v.Source, FetchedAt: v.FetchedAt})
	}
	// The sales ledger's 1-day figure replaces the source's when the ledger
	// covers the day (and the source counts in ETH too, or has no figure).
	var covered pgtype.Timestamptz
	if len(rows) > 0 {
		covered = rows[0].SalesCoveredSince
	} else if st, ok, err := load(ctx, loadersOf(ctx, obj).streams, obj.ID); err != nil {
		return nil, fmt.Errorf("load stream state: %w", err)
	} else if ok {
		covered = st.SalesCoveredSince
	}
	ledger, ok, err := r.ledgerVolume1d(ctx, obj, covered)
	if err != nil || !ok {
		return out, err
	}
	for i, v := range out {
		if v.Window == "1d" {
			if v.Currency == ledger.Currency {
				out[i] = ledger
			}
			return out, nil
		}
	}
	return append([]*Volume{ledger}, out...), nil
}

func (r *resolver) TraitDistribution(ctx context.Context, obj *Collection) ([]*TraitValueStat, error) {
	rows, err := r.q.APITraitDistribution(ctx, db.APITraitDistributionParams{CollectionID: obj.ID, Method: rarityMethod})
	if err != nil {
		return nil, fmt.Errorf("trait distribution: %w", err)
	}
	out := make([]*TraitValueStat, 0, len(rows))
	for _, t := range rows {
		out = append(out, &TraitValueStat{Type: t.TraitType, Value: t.Value, Count: int(t.Count), Frequency: t.Frequency})
	}
	return out, nil
}

func (r *resolver) Rarity(ctx context.Context, obj *Collection) (*RarityRun, error) {
	run, ok, err := load(ctx, loadersOf(ctx, obj).rarity, obj.ID)
	if err != nil || !ok {
		return nil, wrap("load rarity run", err)
	}
	return &RarityRun{Method: run.Method, Version: run.Version, ComputedAt: run.ComputedAt,
		TokenCount: int(run.TokenCount), RankedCount: int(run.TokenCount), UnknownCount: int(run.UnknownCount),
		MissingCount: int(run.MissingCount), ExcludedTraits: JSON(run.ExcludedTraits)}, nil
}

// traitsState maps the token queries' traits_state (known, unknown,
// failed, pending) to the API enum.
func traitsState(s string) TraitsState {
	switch s {
	case "known":
		return TraitsStateKnown
	case "unknown":
		return TraitsStateUnknown
	case "failed":
		return TraitsStateFailed
	}
	return TraitsStatePending
}

// Freshness reads the collection_freshness view: age on the database's
// clock, the pair's target (its own, else the kind's), the stale flag and
// whether the floor is live (stream) or polled, so the API, `collections
// list` and the metrics agree.
func (r *resolver) Freshness(ctx context.Context, obj *Collection) ([]*Freshness, error) {
	uncacheable(ctx) // ages grow with the clock, not only with writes
	rows, _, err := load(ctx, loadersOf(ctx, obj).schedules, obj.ID)
	if err != nil {
		return nil, fmt.Errorf("load schedules: %w", err)
	}
	out := make([]*Freshness, 0, len(rows))
	for _, s := range rows {
		f := &Freshness{Kind: RefreshKind(strings.ToUpper(s.Kind)), NextDueAt: s.NextDueAt, Mode: FreshnessModePolled,
			RefreshIntervalSeconds: int(s.IntervalSeconds), TargetAgeSeconds: int(s.TargetAgeSeconds), Stale: s.Stale}
		last := s.LastSuccessAt
		if s.Mode == "live" {
			// A live stream's last mark counts as a success (the view's age
			// and stale flag count it too).
			f.Mode = FreshnessModeLive
			if s.LiveMarkedAt.Valid && (!last.Valid || s.LiveMarkedAt.Time.After(last.Time)) {
				last = s.LiveMarkedAt
			}
		}
		if last.Valid {
			t := last.Time
			age := int(max(0, s.AgeSeconds))
			f.LastSuccessAt, f.AgeSeconds = &t, &age
		}
		out = append(out, f)
	}
	return out, nil
}

func (r *resolver) QualityEvents(ctx context.Context, obj *Collection, first *int) ([]*QualityEvent, error) {
	n, err := r.pageSize(first, 20)
	if err != nil {
		return nil, err
	}
	rows, err := r.q.APIQualityEvents(ctx, db.APIQualityEventsParams{CollectionID: pgtype.Int8{Int64: obj.ID, Valid: true}, MaxRows: int32(n)})
	if err != nil {
		return nil, fmt.Errorf("quality events: %w", err)
	}
	out := make([]*QualityEvent, 0, len(rows))
	for _, e := range rows {
		q := &QualityEvent{Kind: e.Kind, Operation: e.Operation, Message: e.Message, Source: e.Source, CreatedAt: e.CreatedAt}
		if e.JobID.Valid {
			id := strconv.FormatInt(e.JobID.Int64, 10)
			q.JobID = &id
		}
		out = append(out, q)
	}
	return out, nil
}

// traitFilter is a tokens query's trait filter as parallel arrays.
type traitFilter struct {
	types, values []string
	typeCount     int
}

func (f traitFilter) scope() string {
	return strings.Join(f.types, "\x1f") + "\x1e" + strings.Join(f.values, "\x1f")
}

func newTraitFilter(where *TokenWhere) (traitFilter, error) {
	f := traitFilter{types: []string{}, values: []string{}}
	if where == nil {
		return f, nil
	}
	seen := map[string]bool{}
	for _, t := range where.Traits {
		if len(t.Values) == 0 {
			return f, badInput(fmt.Sprintf("where.traits: trait type %q has no values", t.Type))
		}
		if !seen[t.Type] {
			seen[t.Type] = true
			f.typeCount++
		}
		for _, v := range t.Values {
			f.types, f.values = append(f.types, t.Type), append(f.values, v)
		}
	}
	if len(f.values) > 200 {
		return f, badInput("where.traits: at most 200 values")
	}
	return f, nil
}

func (r queryResolver) Tokens(ctx context.Context, collection string, orderBy *TokenOrder, where *TokenWhere, first *int, after *string) (*TokenConnection, error) {
	n, err := r.pageSize(first, 50)
	if err != nil {
		return nil, err
	}
	order := TokenOrderRarityRank
	if orderBy != nil {
		order = *orderBy
	}
	f, err := newTraitFilter(where)
	if err != nil {
		return nil, err
	}
	c, err := r.collectionBySlug(ctx, collection)
	if err != nil {
		return nil, err
	}
	scope := strconv.FormatInt(c.ID, 10) + "\x1d" + f.scope()
	cur, err := decodeCursor(after, "tokens", string(order), scope)
	if err != nil {
		return nil, err
	}
	var toks []*Token
	var curs []cursor
	if order == TokenOrderTokenID {
		toks, curs, err = r.tokensByID(ctx, c.ID, f, cur, n+1)
	} else {
		toks, curs, err = r.tokensByRank(ctx, c.ID, f, cur, n+1)
	}
	if err != nil {
		return nil, err
	}
	conn := &TokenConnection{PageInfo: &PageInfo{}, collectionID: c.ID, traits: f, Edges: []*TokenEdge{}}
	if len(toks) > n {
		toks, conn.PageInfo.HasNextPage = toks[:n], true
	}
	if selects(ctx, "edges", "node", "traits") {
		if err := r.fillTraits(ctx, toks); err != nil {
			return nil, err
		}
	}
	for i, t := range toks {
		cc := curs[i]
		cc.Kind, cc.Order, cc.Scope = "tokens", string(order), scope
		cs := cc.encode()
		conn.Edges = append(conn.Edges, &TokenEdge{Cursor: cs, Node: t})
		conn.PageInfo.EndCursor = &cs
	}
	return conn, nil
}

// tokensByRank pages ranked tokens (rarest first) and then the unranked
// ones: at most two statements per page.
func (r queryResolver) tokensByRank(ctx context.Context, collectionID int64, f traitFilter, cur *cursor, limit int) ([]*Token, []cursor, error) {
	var toks []*Token
	var curs []cursor
	afterPK := int64(0)
	if cur == nil || cur.Ranked {
		var rank int32
		if cur != nil {
			rank, afterPK = cur.Rank, cur.PK
		}
		rows, err := r.q.APITokensByRank(ctx, db.APITokensByRankParams{
			CollectionID: collectionID, Method: rarityMethod, AfterRank: rank, AfterID: afterPK,
			FilterTypeCount: int32(f.typeCount), FilterTypes: f.types, FilterValues: f.values, MaxRows: int32(limit),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("list ranked tokens: %w", err)
		}
		for _, t := range rows {
			toks = append(toks, &Token{PK: t.ID, CollectionID: t.CollectionID, TokenID: t.TokenID, Contract: t.Contract,
				TokenStandard: t.TokenStandard, Name: t.Name, ImageURL: t.ImageUrl, MetadataURL: t.MetadataUrl,
				TraitsKnown: t.TraitsKnown, TraitsState: traitsState(t.TraitsState), FetchedAt: t.FetchedAt,
				Rarity: &TokenRarity{Score: t.Score, Rank: int(t.Rank), UniqueAttributeCount: int(t.UniqueCount), TraitCount: int(t.TraitCount)}})
			curs = append(curs, cursor{Ranked: true, Rank: t.Rank, PK: t.ID})
		}
		if len(toks) >= limit {
			return toks, curs, nil
		}
		afterPK = 0
	} else {
		afterPK = cur.PK
	}
	rows, err := r.q.APITokensUnranked(ctx, db.APITokensUnrankedParams{
		CollectionID: collectionID, Method: rarityMethod, AfterID: afterPK,
		FilterTypeCount: int32(f.typeCount), FilterTypes: f.types, FilterValues: f.values, MaxRows: int32(limit - len(toks)),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list unranked tokens: %w", err)
	}
	for _, t := range rows {
		toks = append(toks, &Token{PK: t.ID, CollectionID: t.CollectionID, TokenID: t.TokenID, Contract: t.Contract,
			TokenStandard: t.TokenStandard, Name: t.Name, ImageURL: t.ImageUrl, MetadataURL: t.MetadataUrl,
			TraitsKnown: t.TraitsKnown, TraitsState: traitsState(t.TraitsState), FetchedAt: t.FetchedAt})
		curs = append(curs, cursor{PK: t.ID})
	}
	return toks, curs, nil
}

func (r queryResolver) tokensByID(ctx context.Context, collectionID int64, f traitFilter, cur *cursor, limit int) ([]*Token, []cursor, error) {
	after := pgtype.Numeric{Int: big.NewInt(-1), Valid: true}
	afterPK := int64(0)
	if cur != nil {
		v, ok := new(big.Int).SetString(cur.TokenID, 10)
		if !ok {
			return nil, nil, badInput("after: not a cursor of this API")
		}
		after, afterPK = pgtype.Numeric{Int: v, Valid: true}, cur.PK
	}
	rows, err := r.q.APITokensByTokenID(ctx, db.APITokensByTokenIDParams{
		CollectionID: collectionID, Method: rarityMethod, AfterTokenID: after, AfterID: afterPK,
		FilterTypeCount: int32(f.typeCount), FilterTypes: f.types, FilterValues: f.values, MaxRows: int32(limit),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list tokens: %w", err)
	}
	toks := make([]*Token, 0, len(rows))
	curs := make([]cursor, 0, len(rows))
	for _, t := range rows {
		toks = append(toks, tokenWithRarity(db.APITokenGetRow(t)))
		curs = append(curs, cursor{TokenID: t.TokenID, PK: t.ID})
	}
	return toks, curs, nil
}

func tokenWithRarity(t db.APITokenGetRow) *Token {
	tok := &Token{PK: t.ID, CollectionID: t.CollectionID, TokenID: t.TokenID, Contract: t.Contract,
		TokenStandard: t.TokenStandard, Name: t.Name, ImageURL: t.ImageUrl, MetadataURL: t.MetadataUrl,
		TraitsKnown: t.TraitsKnown, TraitsState: traitsState(t.TraitsState), FetchedAt: t.FetchedAt}
	if t.Rank.Valid {
		tok.Rarity = &TokenRarity{Score: t.Score.Float64, Rank: int(t.Rank.Int32),
			UniqueAttributeCount: int(t.UniqueCount.Int32), TraitCount: int(t.TraitCount.Int32)}
	}
	return tok
}

type tokenConnResolver struct{ *resolver }

func (r tokenConnResolver) TotalCount(ctx context.Context, obj *TokenConnection) (int, error) {
	f := obj.traits
	n, err := r.q.APITokenCount(ctx, db.APITokenCountParams{CollectionID: obj.collectionID,
		FilterTypeCount: int32(f.typeCount), FilterTypes: f.types, FilterValues: f.values})
	if err != nil {
		return 0, fmt.Errorf("count tokens: %w", err)
	}
	return int(n), nil
}

// normalizeTokenID checks a decimal uint256 and drops leading zeros.
func normalizeTokenID(s string) (string, error) {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Sign() < 0 || v.BitLen() > 256 || strings.ContainsAny(s, "+-_") {
		return "", badInput(fmt.Sprintf("tokenId %q: want decimal digits of an unsigned 256-bit integer", s))
	}
	return v.String(), nil
}

func (r queryResolver) Token(ctx context.Context, collection, tokenID string) (*Token, error) {
	id, err := normalizeTokenID(tokenID)
	if err != nil {
		return nil, err
	}
	c, err := r.collectionBySlug(ctx, collection)
	if err != nil {
		return nil, err
	}
	t, err := r.q.APITokenGet(ctx, db.APITokenGetParams{CollectionID: c.ID, TokenID: id, Method: rarityMethod})
	if errors.Is(db.Interpret(err), db.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	tok := tokenWithRarity(t)
	if selects(ctx, "traits") {
		if err := r.fillTraits(ctx, []*Token{tok}); err != nil {
			return nil, err
		}
	}
	return tok, nil
}

// fillTraits reads the traits of toks in one batch.
func (r *resolver) fillTraits(ctx context.Context, toks []*Token) error {
	if len(toks) == 0 {
		return nil
	}
	pks := make([]int64, len(toks))
	for i, t := range toks {
		pks[i] = t.PK
	}
	traits, err := loadTraits(ctx, r.q, r.stats, pks)
	if err != nil {
		return fmt.Errorf("load traits: %w", err)
	}
	for _, t := range toks {
		t.Traits = traits[t.PK]
		if t.Traits == nil {
			t.Traits = []*Trait{}
		}
	}
	return nil
}

// scheduleKind maps the schema's RefreshKind to a refresh kind.
func scheduleKind(k RefreshKind) string { return strings.ToLower(string(k)) }

// intervalsOf reads the intervals (seconds) set in in, by refresh kind. The
// input's fields are generated from the catalogue, one per refresh kind,
// named as gqlgen names them (floor_price: FloorPrice), so a new refresh
// kind needs no change here.
func intervalsOf(in *RefreshIntervalsInput) map[string]time.Duration {
	m := map[string]time.Duration{}
	if in == nil {
		return m
	}
	v := reflect.ValueOf(*in)
	for _, kind := range jobs.RefreshKindNames() {
		f := v.FieldByName(goName(kind))
		if f.IsValid() && f.Kind() == reflect.Pointer && !f.IsNil() {
			m[kind] = time.Duration(f.Elem().Int()) * time.Second
		}
	}
	return m
}

// goName is gqlgen's Go name of a GraphQL field or enum named after a
// refresh kind: floor_price becomes FloorPrice.
func goName(kind string) string {
	var b strings.Builder
	for _, part := range strings.Split(kind, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func intPtr(v pgtype.Int8) *int {
	if !v.Valid {
		return nil
	}
	n := int(v.Int64)
	return &n
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, err)
}

// selects reports whether the current field's selection reaches path
// (field names, fragments followed).
func selects(ctx context.Context, path ...string) bool {
	oc := graphql.GetOperationContext(ctx)
	fields := graphql.CollectFieldsCtx(ctx, nil)
	for i, name := range path {
		var next *graphql.CollectedField
		for j := range fields {
			if fields[j].Name == name {
				next = &fields[j]
				break
			}
		}
		if next == nil {
			return false
		}
		if i == len(path)-1 {
			return true
		}
		fields = graphql.CollectFields(oc, next.Selections, nil)
	}
	return false
}
