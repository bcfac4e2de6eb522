package jobs

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/nftsync/nftsync/jobs/jobargs"
)

// The catalogue: the one table of nftsync's refresh kinds, queues and
// sources. Workers, queues, configuration defaults, the planner's and the
// admin paths' list of refresh kinds read it; `make generate`
// (internal/tools/catalogen) derives from it what cannot import Go: the
// lookup rows of the database (migrations/catalog.sql: refresh_kinds,
// refresh_kind_jobs, sources, source_refresh_kinds), the GraphQL
// RefreshKind enum, the KEDA triggers of deploy/k8s and the Markdown tables
// between "BEGIN GENERATED" markers. CONTRIBUTING.md says how to add a row.

// QueueSpec is one River queue.
type QueueSpec struct {
	// Name is the queue's name (jobargs.Queue*: part of the job contract).
	Name string
	// Workers is the default MaxWorkers per process, overridden by
	// NFTSYNC_WORKERS_<NAME>.
	Workers int
	// Backlog is the KEDA target: available jobs per worker replica at
	// which the autoscaler adds replicas (a few times Workers); 0 means
	// the queue does not scale the workers.
	Backlog int
}

// EnvVar is the environment variable that sets the queue's MaxWorkers.
func (q QueueSpec) EnvVar() string { return "NFTSYNC_WORKERS_" + strings.ToUpper(q.Name) }

// RefreshJobSpec is the job that asks a source for a refresh kind.
type RefreshJobSpec struct {
	// Args is a zero value of the job's args: its Kind and InsertOpts
	// (queue, attempts, uniqueness) are the job's.
	Args river.JobArgs
	// OwnSource: the job asks the collection's own source; otherwise it
	// asks another routed source (its args carry "source").
	OwnSource bool
	// Add registers the job's worker (river.AddWorker); one of the rows
	// of a job kind that two rows name is enough.
	Add func(w *river.Workers, d *Deps)
}

// JobKind is the River job kind.
func (j RefreshJobSpec) JobKind() string { return j.Args.Kind() }

// Opts is the job's insert options.
func (j RefreshJobSpec) Opts() river.InsertOpts { return insertOpts(j.Args) }

// UniqueBySource reports whether the source asked takes part in the job's
// uniqueness (its args tag "source" river:"unique"): one unfinished job per
// routed source instead of one per collection.
func (j RefreshJobSpec) UniqueBySource() bool {
	t := reflect.TypeOf(j.Args)
	for i := range t.NumField() {
		f := t.Field(i)
		if strings.HasPrefix(f.Tag.Get("json"), "source") && f.Tag.Get("river") == "unique" {
			return true
		}
	}
	return false
}

// RefreshKindSpec is one refresh kind: a kind of data a collection has
// refreshed on a schedule (collection_schedules.kind), routed to sources
// (collection_routes.kind) and enqueued by refresh requests.
type RefreshKindSpec struct {
	// Name is the refresh kind (jobargs.Kind*: part of the job contract).
	Name string
	// Meaning says what is refreshed, for the documentation tables.
	Meaning string
	// Jobs are the jobs that ask a source for it: one with OwnSource, and
	// at most one for any other routed source.
	Jobs []RefreshJobSpec
	// Interval is the default refresh interval of a newly tracked
	// collection, overridden by NFTSYNC_REFRESH_<NAME>.
	Interval time.Duration
	// Target is the freshness target: the age the last successful refresh
	// may reach before the pair is overdue (overridable per collection).
	Target time.Duration
}

// EnvVar is the environment variable that sets the default interval.
func (k RefreshKindSpec) EnvVar() string { return "NFTSYNC_REFRESH_" + strings.ToUpper(k.Name) }

// Sources names the sources (SourceSpec.Name) that can serve the kind.
func (k RefreshKindSpec) Sources() []string {
	var out []string
	for _, s := range Sources() {
		if slices.Contains(s.Serves, k.Name) {
			out = append(out, s.Name)
		}
	}
	return out
}

// SourceSpec is one kind of upstream source.
type SourceSpec struct {
	// Name is the source, as stored in collections.source and
	// indexer_sources.source; a marketplace subgraph is configured as
	// "subgraph:<marketplace>".
	Name string
	// Serves are the refresh kinds it can serve.
	Serves []string
	// Also is what else it serves, outside the refresh kinds.
	Also string
	// Package is its client's Go package.
	Package string
	// Meaning describes it.
	Meaning string
}

// QueueSpecs lists every queue, in the order of the documentation tables.
func QueueSpecs() []QueueSpec {
	return []QueueSpec{
		{Name: jobargs.QueuePlanner, Workers: 1},
		{Name: jobargs.QueueFloorPrice, Workers: 4, Backlog: 20},
		{Name: jobargs.QueueVolume, Workers: 2, Backlog: 10},
		{Name: jobargs.QueueMetadata, Workers: 2, Backlog: 10},
		{Name: jobargs.QueueTokens, Workers: 3, Backlog: 6},
		{Name: jobargs.QueueTraits, Workers: 2, Backlog: 6},
		{Name: jobargs.QueueRarity, Workers: 1, Backlog: 2},
		{Name: jobargs.QueueSourceVolume, Workers: 2, Backlog: 10},
		{Name: QueueMaintenance, Workers: 1},
	}
}

// RefreshKinds lists every refresh kind, in planning order.
func RefreshKinds() []RefreshKindSpec {
	return []RefreshKindSpec{
		{
			Name:    jobargs.RefreshFloorPrice,
			Meaning: "A collection's floor price (and, from the same answer, its volume).",
			Jobs: []RefreshJobSpec{{Args: jobargs.FetchFloorPriceArgs{}, OwnSource: true, Add: func(w *river.Workers, d *Deps) {
				river.AddWorker(w, &FetchFloorPriceWorker{Deps: d})
			}}},
			Interval: time.Minute,
			Target:   time.Minute,
		},
		{
			Name:    jobargs.RefreshVolume,
			Meaning: "A collection's traded volume per window, from its own source and each routed marketplace subgraph.",
			Jobs: []RefreshJobSpec{
				{Args: jobargs.FetchVolumeArgs{}, OwnSource: true, Add: func(w *river.Workers, d *Deps) {
					river.AddWorker(w, &FetchVolumeWorker{Deps: d})
				}},
				{Args: jobargs.FetchSourceVolumeArgs{}, Add: func(w *river.Workers, d *Deps) {
					river.AddWorker(w, &FetchSourceVolumeWorker{Deps: d})
				}},
			},
			Interval: 5 * time.Minute,
			Target:   5 * time.Minute,
		},
		{
			Name:    jobargs.RefreshMetadata,
			Meaning: "A collection's name, description, images, links and contracts.",
			Jobs: []RefreshJobSpec{
				{Args: jobargs.FetchCollectionMetadataArgs{}, OwnSource: true, Add: func(w *river.Workers, d *Deps) {
					river.AddWorker(w, &FetchCollectionMetadataWorker{Deps: d})
				}},
				{Args: jobargs.FetchCollectionMetadataArgs{}},
			},
			Interval: time.Hour,
			Target:   24 * time.Hour,
		},
		{
			Name:    jobargs.RefreshTokens,
			Meaning: "A collection's tokens, then their traits (fetch_traits) and rarity (compute_rarity).",
			Jobs: []RefreshJobSpec{{Args: jobargs.SyncTokensArgs{}, OwnSource: true, Add: func(w *river.Workers, d *Deps) {
				river.AddWorker(w, &SyncTokensWorker{Deps: d, AfterSync: enqueueFetchTraits})
			}}},
			Interval: 6 * time.Hour,
			Target:   24 * time.Hour,
		},
	}
}

// Sources lists every kind of upstream source.
func Sources() []SourceSpec {
	return []SourceSpec{
		{
			Name:    "opensea",
			Serves:  []string{jobargs.RefreshFloorPrice, jobargs.RefreshVolume, jobargs.RefreshMetadata, jobargs.RefreshTokens},
			Also:    "per-token traits (traits_source opensea)",
			Package: "internal/indexer/opensea",
			Meaning: "OpenSea API v2; the built-in simulator serves the same API.",
		},
		{
			Name:    "subgraph",
			Serves:  []string{jobargs.RefreshVolume, jobargs.RefreshMetadata},
			Package: "internal/indexer/subgraph",
			Meaning: "A marketplace subgraph over GraphQL (configured as subgraph:<marketplace>): volume from on-chain trades.",
		},
		{
			Name:    "token_uri",
			Also:    "per-token traits (traits_source token_uri)",
			Package: "internal/indexer/tokenuri",
			Meaning: "Each token's metadata_url (HTTP or IPFS gateway).",
		},
	}
}

// RefreshKindNames lists the refresh kinds' names, in planning order.
func RefreshKindNames() []string {
	kinds := RefreshKinds()
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.Name
	}
	return out
}

// RefreshKind returns the catalogue row of a refresh kind.
func RefreshKind(name string) (RefreshKindSpec, bool) {
	for _, k := range RefreshKinds() {
		if k.Name == name {
			return k, true
		}
	}
	return RefreshKindSpec{}, false
}

// ScheduleKinds lists every refresh kind, in planning order (the catalogue's
// RefreshKindNames).
var ScheduleKinds = RefreshKindNames() //nolint:gochecknoglobals // read-only

// JobSpec documents one job kind for the job-kinds table of the docs.
type JobSpec struct {
	// Args is a zero value of the job's args.
	Args river.JobArgs
	// Example is its JSON args, optional fields marked with "?".
	Example string
	// Unique says how River deduplicates it.
	Unique string
	// Meaning says what it does; "internal" marks the periodic jobs other
	// services must not enqueue.
	Meaning string
}

// JobSpecs lists every job kind nftsync works: the job contract
// (jobargs.All) and the internal periodic jobs.
func JobSpecs() []JobSpec {
	const pending = "by `collection_id`, among unfinished jobs"
	return []JobSpec{
		{jobargs.FetchFloorPriceArgs{}, `{"collection_id": 42, "bucket"?: RFC 3339, "manual"?: true}`, pending,
			"refresh the floor price from the collection's own source (OpenSea)"},
		{jobargs.FetchVolumeArgs{}, `{"collection_id": 42, "bucket"?: RFC 3339, "manual"?: true}`, pending,
			"refresh 1d/7d/30d/all-time volume and sales from the collection's own source (OpenSea)"},
		{jobargs.FetchSourceVolumeArgs{}, `{"collection_id": 42, "source": "subgraph:seaport", "bucket"?: RFC 3339, "manual"?: true}`,
			"by `collection_id` and `source`, among unfinished jobs",
			"refresh the volume windows from one other routed source (a marketplace subgraph), stored under its name; runs the cross-check"},
		{jobargs.FetchCollectionMetadataArgs{}, `{"collection_id": 42, "source"?: "subgraph:seaport", "bucket"?: RFC 3339, "manual"?: true}`, pending,
			"refresh name, description, images, links, contracts; from `source` when metadata is routed to another source"},
		{jobargs.SyncTokensArgs{}, `{"collection_id": 42, "bucket"?: RFC 3339, "manual"?: true}`, pending,
			"page through every token (resumes from its cursor); the last page enqueues `fetch_traits`"},
		{jobargs.FetchTraitsArgs{}, `{"collection_id": 42, "sync_run"?: 7}`, pending,
			"fetch traits of new, changed or never-fetched tokens through the collection's trait source, recorded on token sync run `sync_run` (left out: the latest; none yet: cancelled); enqueues `compute_rarity` when enough traits are known"},
		{jobargs.ComputeRarityArgs{}, `{"collection_id": 42, "method"?: "openrarity", "sync_run"?: 7}`, "by all three fields, among unfinished jobs",
			"recompute rarity scores and ranks"},
		{PlanRefreshArgs{}, `{}`, "by 5 s period",
			"internal, periodic: the elected leader's planning tick; never enqueue it"},
		{MaintainHistoryArgs{}, `{}`, "among unfinished jobs",
			"internal, periodic: the leader's history rollups, partitions and retention; never enqueue it"},
	}
}

// AllJobs returns a zero value of every job kind nftsync works.
func AllJobs() []river.JobArgs {
	specs := JobSpecs()
	out := make([]river.JobArgs, len(specs))
	for i, j := range specs {
		out[i] = j.Args
	}
	return out
}

// QueueJobKinds names the job kinds worked on each queue.
func QueueJobKinds() map[string][]string {
	out := map[string][]string{}
	for _, a := range AllJobs() {
		q := insertOpts(a).Queue
		out[q] = append(out[q], a.Kind())
	}
	return out
}

// DefaultIntervals are the catalogue's default refresh intervals by kind.
func DefaultIntervals() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, k := range RefreshKinds() {
		out[k.Name] = k.Interval
	}
	return out
}

// ConfigVar is one environment variable whose default the catalogue gives.
type ConfigVar struct {
	Name, Default, Meaning string
}

// ConfigVars are the catalogue's environment variables: each queue's
// MaxWorkers and each refresh kind's default interval.
func ConfigVars() []ConfigVar {
	jobKinds := QueueJobKinds()
	var out []ConfigVar
	for _, q := range QueueSpecs() {
		out = append(out, ConfigVar{q.EnvVar(), fmt.Sprint(q.Workers),
			fmt.Sprintf("Max concurrent %s jobs in this process (queue %s).", strings.Join(jobKinds[q.Name], ", "), q.Name)})
	}
	for _, k := range RefreshKinds() {
		out = append(out, ConfigVar{k.EnvVar(), FormatDuration(k.Interval),
			fmt.Sprintf("Default %s refresh interval of newly tracked collections.", k.Name)})
	}
	return out
}

// FormatDuration writes d the short way the configuration accepts it (1m,
// 6h, 90s).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// insertOpts returns the insert options of a job args value.
func insertOpts(a river.JobArgs) river.InsertOpts {
	if o, ok := a.(river.JobArgsWithInsertOpts); ok {
		return o.InsertOpts()
	}
	return river.InsertOpts{}
}
