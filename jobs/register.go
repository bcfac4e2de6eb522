package jobs

import (
	"time"

	"github.com/riverqueue/river"
)

// Config says how the workers of one process run.
type Config struct {
	// MaxWorkers per queue for this process (River's limit is per process:
	// the total is this times the number of replicas). A queue missing from
	// the map is not worked by this process.
	MaxWorkers map[string]int
	// PlanInterval is how often the leader runs plan_refresh.
	PlanInterval time.Duration
	// PlanBatch is the most (collection, kind) pairs planned per tick.
	PlanBatch int32
	// PlanRates is each source's upstream request rate per second (all
	// keys): the planner plans no more per tick than rate × PlanInterval
	// (see PlanOptions). Nil plans by PlanBatch only.
	PlanRates map[string]float64
	// History is the retention and downsampling policy of the market
	// history; MaintainInterval is how often maintain_history runs (0 means
	// 5 minutes).
	History          HistoryPolicy
	MaintainInterval time.Duration
	// Reconcile is how often a live-streamed floor is still fetched over
	// REST (PlanOptions.Reconcile; 0 means DefaultReconcile).
	Reconcile time.Duration
}

// DefaultMaxWorkers are the per-process queue sizes when not configured
// (the catalogue's QueueSpecs).
func DefaultMaxWorkers() map[string]int {
	out := map[string]int{}
	for _, q := range QueueSpecs() {
		out[q.Name] = q.Workers
	}
	return out
}

// Register adds every worker to workers: the refresh kinds' jobs from the
// catalogue, then the jobs that follow them and the periodic ones. The
// token sync worker enqueues fetch_traits in the transaction that completes
// a listing, and fetch_traits enqueues compute_rarity in the one that
// completes the collection's traits.
func Register(workers *river.Workers, d *Deps, cfg Config) {
	added := map[string]bool{}
	for _, k := range RefreshKinds() {
		for _, j := range k.Jobs {
			if j.Add != nil && !added[j.JobKind()] {
				j.Add(workers, d)
				added[j.JobKind()] = true
			}
		}
	}
	river.AddWorker(workers, &PlanRefreshWorker{Deps: d, Options: PlanOptions{Batch: cfg.PlanBatch, Rates: cfg.PlanRates, Interval: cfg.PlanInterval, Reconcile: cfg.Reconcile}})
	river.AddWorker(workers, &FetchTraitsWorker{Deps: d, AfterTraits: enqueueRarity})
	river.AddWorker(workers, &ComputeRarityWorker{Deps: d})
	river.AddWorker(workers, &MaintainHistoryWorker{Deps: d, Policy: cfg.History})
}

// Queues returns River queue configuration from cfg.
func Queues(cfg Config) map[string]river.QueueConfig {
	q := map[string]river.QueueConfig{}
	for name, n := range cfg.MaxWorkers {
		if n > 0 {
			q[name] = river.QueueConfig{MaxWorkers: n}
		}
	}
	return q
}

// PeriodicJobs returns the periodic jobs every replica must configure (only
// the elected leader enqueues them). plan_refresh is unique per interval so a
// leader change cannot double a tick; maintain_history is unique while
// unfinished.
func PeriodicJobs(cfg Config) []*river.PeriodicJob {
	every := cfg.PlanInterval
	if every <= 0 {
		every = 5 * time.Second
	}
	maintain := cfg.MaintainInterval
	if maintain <= 0 {
		maintain = 5 * time.Minute
	}
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(every), func() (river.JobArgs, *river.InsertOpts) {
			return PlanRefreshArgs{}, &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: every}}
		}, &river.PeriodicJobOpts{ID: "plan_refresh", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(maintain), func() (river.JobArgs, *river.InsertOpts) {
			return MaintainHistoryArgs{}, nil
		}, &river.PeriodicJobOpts{ID: "maintain_history", RunOnStart: true}),
	}
}
