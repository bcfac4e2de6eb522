package jobs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/indexer"
)

// ErrBadRoute is wrapped by SetRoute's validation errors.
var ErrBadRoute = errors.New("invalid route")

// RegisterSources records the configured sources and the kinds each serves
// (so that planning, the CLI and the API know them without the process's
// configuration). The collections' own source ("opensea") serves its kinds
// by route; every other source serves defaultKinds[source] to every
// collection without a route of its own. Sources starting with forget that
// are not in indexers any more are dropped.
//
// The sources are written in name order: replicas registering the same
// sources in transactions of their own then wait for each other instead of
// deadlocking (an upsert holds its row until commit, and map order differs
// between calls).
func RegisterSources(ctx context.Context, dbtx db.DBTX, indexers map[string]indexer.Indexer, defaultKinds map[string][]indexer.DataKind, forget string) error {
	q := db.New(dbtx)
	names := slices.Sorted(maps.Keys(indexers))
	for _, name := range names {
		ix := indexers[name]
		var kinds, defaults []string
		for _, k := range indexer.DataKinds() {
			if indexer.Supports(ix, k) {
				kinds = append(kinds, string(k))
				if slices.Contains(defaultKinds[name], k) {
					defaults = append(defaults, string(k))
				}
			}
		}
		if err := q.IndexerSourceUpsert(ctx, db.IndexerSourceUpsertParams{Source: name, Kinds: kinds, DefaultKinds: orEmpty(defaults)}); err != nil {
			return fmt.Errorf("register source %s: %w", name, err)
		}
	}
	if forget != "" {
		if err := q.IndexerSourceDeleteMissing(ctx, db.IndexerSourceDeleteMissingParams{Prefix: forget, Keep: orEmpty(names)}); err != nil {
			return fmt.Errorf("forget unconfigured sources: %w", err)
		}
	}
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// SetRoute makes sources the ones that serve kind for the collection; nil
// sources go back to the default (the collection's own source plus the
// sources serving the kind by default). Each source must be registered
// (RegisterSources) and serve the kind; metadata and tokens come from
// exactly one source, floor prices and volumes from one or more (each
// stored under its own name). The CLI and the API both set routes here.
func SetRoute(ctx context.Context, dbtx db.DBTX, collectionID int64, kind string, sources []string) error {
	q := db.New(dbtx)
	if !slices.Contains(ScheduleKinds, kind) {
		return fmt.Errorf("%w: unknown kind %q (want one of %s)", ErrBadRoute, kind, strings.Join(ScheduleKinds, ", "))
	}
	if sources == nil {
		if _, err := q.CollectionRouteDelete(ctx, db.CollectionRouteDeleteParams{CollectionID: collectionID, Kind: kind}); err != nil {
			return fmt.Errorf("reset route %s of collection %d: %w", kind, collectionID, err)
		}
		return nil
	}
	if len(sources) == 0 {
		return fmt.Errorf("%w: %s needs at least one source", ErrBadRoute, kind)
	}
	if (kind == RefreshMetadata || kind == RefreshTokens) && len(sources) != 1 {
		return fmt.Errorf("%w: %s comes from exactly one source, got %d", ErrBadRoute, kind, len(sources))
	}
	c, err := q.CollectionGetByID(ctx, collectionID)
	if err != nil {
		return fmt.Errorf("route collection %d: %w", collectionID, db.Interpret(err))
	}
	known, err := q.IndexerSourceList(ctx)
	if err != nil {
		return fmt.Errorf("list sources: %w", err)
	}
	seen := map[string]bool{}
	for _, s := range sources {
		if seen[s] {
			return fmt.Errorf("%w: source %q named twice", ErrBadRoute, s)
		}
		seen[s] = true
		i := slices.IndexFunc(known, func(k db.IndexerSource) bool { return k.Source == s })
		switch {
		case i < 0 && s == c.Source:
			// The collection's own source, from a process that has not
			// registered sources: it serves every kind.
		case i < 0:
			return fmt.Errorf("%w: unknown source %q", ErrBadRoute, s)
		case !slices.Contains(known[i].Kinds, kind):
			return fmt.Errorf("%w: source %q does not serve %s (it serves %s)", ErrBadRoute, s, kind, strings.Join(known[i].Kinds, ", "))
		}
	}
	if err := q.CollectionRouteSet(ctx, db.CollectionRouteSetParams{CollectionID: collectionID, Kind: kind, Sources: sources}); err != nil {
		return fmt.Errorf("set route %s of %s: %w", kind, c.Slug, err)
	}
	return nil
}

// routedSources returns the sources serving kind for the collection, in
// route order.
func routedSources(ctx context.Context, q *db.Queries, collectionID int64, kind string) ([]string, error) {
	rows, err := q.CollectionRoutesResolve(ctx, db.CollectionRoutesResolveParams{CollectionIds: []int64{collectionID}, Kinds: []string{kind}})
	if err != nil {
		return nil, fmt.Errorf("route %s of collection %d: %w", kind, collectionID, err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].Sources, nil
}

// Route is the effective sources of one kind for a collection.
type Route struct {
	Kind    string
	Sources []string
	// Own says the collection has its own route for the kind (else the
	// default applies).
	Own bool
}

// CollectionRoutes returns the effective route of every kind for the
// collection, in ScheduleKinds order.
func CollectionRoutes(ctx context.Context, dbtx db.DBTX, collectionID int64) ([]Route, error) {
	ids := make([]int64, len(ScheduleKinds))
	for i := range ids {
		ids[i] = collectionID
	}
	rows, err := db.New(dbtx).CollectionRoutesResolve(ctx, db.CollectionRoutesResolveParams{CollectionIds: ids, Kinds: ScheduleKinds})
	if err != nil {
		return nil, fmt.Errorf("routes of collection %d: %w", collectionID, err)
	}
	out := make([]Route, 0, len(rows))
	for _, r := range rows {
		out = append(out, Route{Kind: r.Kind, Sources: r.Sources, Own: r.Routed})
	}
	return out, nil
}
