package api

import (
	"context"
	"errors"
	"time"

	"github.com/vikstrous/dataloadgen"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/rarity"
	"github.com/nftsync/nftsync/jobs"
)

// rarityMethod is the rarity method the API reports (the one the
// compute_rarity job writes by default).
const rarityMethod = "openrarity"

// loaders batch the per-collection reads of one request: every field of a
// page of N collections costs one SQL statement, not N. (A page of tokens
// reads its traits in one batch itself, see fillTraits.)
// They live for one request (their caches must not outlive it).
type loaders struct {
	metadata  *dataloadgen.Loader[int64, db.CollectionMetadatum]
	floor     *dataloadgen.Loader[int64, db.APIFloorByCollectionsRow]
	volumes   *dataloadgen.Loader[int64, []db.APIVolumesByCollectionsRow]
	schedules *dataloadgen.Loader[int64, []db.APIFreshnessByCollectionsRow]
	rarity    *dataloadgen.Loader[int64, db.APIRarityRunsByCollectionsRow]
	contracts *dataloadgen.Loader[int64, []db.CollectionContract]
	routes    *dataloadgen.Loader[int64, []db.CollectionRoutesResolveRow]
	streams   *dataloadgen.Loader[int64, db.StreamStatesListRow]
	lastSale  *dataloadgen.Loader[saleKey, db.SalesLastForTokensRow]
}

type loadersKey struct{}

// loaderWait is how long a loader collects keys before it queries: the
// resolvers of one page's items run concurrently and ask within microseconds.
const loaderWait = time.Millisecond

func newLoaders(q *db.Queries) *loaders {
	opt := dataloadgen.WithWait(loaderWait)
	return &loaders{
		metadata: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int64) (map[int64]db.CollectionMetadatum, error) {
			rows, err := q.APIMetadataByCollections(ctx, ids)
			return byKey(rows, func(r db.CollectionMetadatum) int64 { return r.CollectionID }), err
		}, opt),
		floor: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int64) (map[int64]db.APIFloorByCollectionsRow, error) {
			rows, err := q.APIFloorByCollections(ctx, ids)
			return byKey(rows, func(r db.APIFloorByCollectionsRow) int64 { return r.CollectionID }), err
		}, opt),
		volumes: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int64) (map[int64][]db.APIVolumesByCollectionsRow, error) {
			rows, err := q.APIVolumesByCollections(ctx, ids)
			return groupBy(rows, func(r db.APIVolumesByCollectionsRow) int64 { return r.CollectionID }), err
		}, opt),
		schedules: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int64) (map[int64][]db.APIFreshnessByCollectionsRow, error) {
			rows, err := q.APIFreshnessByCollections(ctx, ids)
			return groupBy(rows, func(r db.APIFreshnessByCollectionsRow) int64 { return r.CollectionID }), err
		}, opt),
		rarity: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int64) (map[int64]db.APIRarityRunsByCollectionsRow, error) {
			rows, err := q.APIRarityRunsByCollections(ctx, db.APIRarityRunsByCollectionsParams{CollectionIds: ids, Method: rarityMethod})
			return byKey(rows, func(r db.APIRarityRunsByCollectionsRow) int64 { return r.CollectionID }), err
		}, opt),
		contracts: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int64) (map[int64][]db.CollectionContract, error) {
			rows, err := q.APIContractsByCollections(ctx, ids)
			return groupBy(rows, func(r db.CollectionContract) int64 { return r.CollectionID }), err
		}, opt),
		routes: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int64) (map[int64][]db.CollectionRoutesResolveRow, error) {
			// Every (collection, kind) pair, in jobs.ScheduleKinds order.
			p := db.CollectionRoutesResolveParams{}
			for _, id := range ids {
				for _, k := range jobs.ScheduleKinds {
					p.CollectionIds, p.Kinds = append(p.CollectionIds, id), append(p.Kinds, k)
				}
			}
			rows, err := q.CollectionRoutesResolve(ctx, p)
			return groupBy(rows, func(r db.CollectionRoutesResolveRow) int64 { return r.CollectionID }), err
		}, opt),
		streams: dataloadgen.NewMappedLoader(func(ctx context.Context, ids []int64) (map[int64]db.StreamStatesListRow, error) {
			rows, err := q.StreamStatesList(ctx, db.StreamStatesListParams{CollectionIds: ids, LiveAfter: time.Now().Add(-streamLiveTTL)})
			return byKey(rows, func(r db.StreamStatesListRow) int64 { return r.CollectionID }), err
		}, opt),
		lastSale: newSaleLoader(q),
	}
}

func withLoaders(ctx context.Context, l *loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

func loadersFrom(ctx context.Context) *loaders {
	return ctx.Value(loadersKey{}).(*loaders)
}

// loadersOf are the loaders obj's fields read through: its own when it has
// them (a subscription event), else the request's.
func loadersOf(ctx context.Context, obj *Collection) *loaders {
	if obj.ld != nil {
		return obj.ld
	}
	return loadersFrom(ctx)
}

// load returns the value of key, found=false when the batch had none for it.
func load[V any](ctx context.Context, l *dataloadgen.Loader[int64, V], key int64) (V, bool, error) {
	v, err := l.Load(ctx, key)
	if isNotFound(err) {
		return v, false, nil
	}
	return v, err == nil, err
}

func byKey[R any](rows []R, key func(R) int64) map[int64]R {
	m := make(map[int64]R, len(rows))
	for _, r := range rows {
		m[key(r)] = r
	}
	return m
}

func groupBy[R any](rows []R, key func(R) int64) map[int64][]R {
	m := make(map[int64][]R, len(rows))
	for _, r := range rows {
		m[key(r)] = append(m[key(r)], r)
	}
	return m
}

// loadTraits reads the traits of a batch of tokens with their value counts
// and frequencies: one statement for the traits, plus one for the trait
// statistics of the collections whose current rarity run is not in the
// cache. Rarity stores its statistics under normalised names and values
// (rarity.Normalize, as OpenRarity compares them), so the lookup normalises
// here, in Go, exactly as the rarity job did.
func loadTraits(ctx context.Context, q *db.Queries, cache *statsCache, pks []int64) (map[int64][]*Trait, error) {
	rows, err := q.APITraitsByTokens(ctx, db.APITraitsByTokensParams{Method: rarityMethod, TokenPks: pks})
	if err != nil {
		return nil, err
	}
	out := make(map[int64][]*Trait, len(pks))
	runs := map[int64]*runStats{} // by collection
	var missing []int64
	for _, r := range rows {
		out[r.TokenPk] = append(out[r.TokenPk], &Trait{Type: r.TraitType, Value: r.ValueText, ValueKind: r.ValueKind, DisplayType: r.DisplayType})
		if _, seen := runs[r.CollectionID]; seen || r.RunID == 0 {
			continue
		}
		rs, ok := cache.get(r.RunID)
		if !ok {
			missing = append(missing, r.CollectionID)
		}
		runs[r.CollectionID] = rs
	}
	if len(missing) > 0 {
		stats, err := q.APITraitStatsByCollections(ctx, db.APITraitStatsByCollectionsParams{CollectionIds: missing, Method: rarityMethod})
		if err != nil {
			return nil, err
		}
		loaded := map[int64]*runStats{}
		for _, s := range stats {
			rs := loaded[s.CollectionID]
			if rs == nil {
				rs = &runStats{runID: s.RunID, stats: map[traitKey]traitStat{}}
				loaded[s.CollectionID] = rs
			}
			rs.stats[traitKey{s.TraitType, s.Value}] = traitStat{count: int(s.Count), frequency: s.Frequency}
		}
		// A run stored since the traits were read is newer and as good.
		for id, rs := range loaded {
			runs[id] = rs
			cache.put(rs)
		}
	}
	i := map[int64]int{}
	for _, r := range rows {
		t := out[r.TokenPk][i[r.TokenPk]]
		i[r.TokenPk]++
		rs := runs[r.CollectionID]
		if rs == nil {
			continue
		}
		if s, ok := rs.stats[traitKey{rarity.Normalize(r.TraitType), rarity.Normalize(r.ValueText)}]; ok {
			n, f := s.count, s.frequency
			t.Count, t.Frequency = &n, &f
		}
	}
	return out, nil
}

// isNotFound reports a loader's "no value for this key" (also inside the
// ErrorSlice of LoadAll).
func isNotFound(err error) bool {
	var es dataloadgen.ErrorSlice
	if errors.As(err, &es) {
		for _, e := range es {
			if e != nil && !errors.Is(e, dataloadgen.ErrNotFound) {
				return false
			}
		}
		return true
	}
	return errors.Is(err, dataloadgen.ErrNotFound)
}
