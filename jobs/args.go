package jobs

import (
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/jobs/jobargs"
)

// Queue names (see jobargs, the contract other services enqueue by, and
// the catalogue's QueueSpecs for their worker counts).
const (
	QueuePlanner    = jobargs.QueuePlanner
	QueueFloorPrice = jobargs.QueueFloorPrice
	QueueVolume     = jobargs.QueueVolume
	QueueMetadata   = jobargs.QueueMetadata
	QueueTokens     = jobargs.QueueTokens
	QueueRarity     = jobargs.QueueRarity
	// QueueMaintenance runs maintain_history (internal: nothing outside
	// enqueues it).
	QueueMaintenance = "maintenance"
)

// Refresh kinds as stored in collection_schedules.kind (see the catalogue's
// RefreshKinds).
const (
	RefreshFloorPrice = jobargs.RefreshFloorPrice
	RefreshVolume     = jobargs.RefreshVolume
	RefreshMetadata   = jobargs.RefreshMetadata
	RefreshTokens     = jobargs.RefreshTokens
)

// CollectionArgs is embedded by every per-collection fetch job; see
// jobargs.CollectionArgs.
type CollectionArgs = jobargs.CollectionArgs

// uniquePending keeps one job per (job kind, unique args) among jobs not
// yet finished.
func uniquePending() river.UniqueOpts { return jobargs.UniquePending() }

// plannedAt is the refresh time the job was planned for: args.PlannedAt,
// or the job's creation time when the enqueuer left it out. Stored
// observations of one round are keyed by it.
func plannedAt(args CollectionArgs, job *rivertype.JobRow) time.Time {
	if !args.PlannedAt.IsZero() {
		return args.PlannedAt.UTC().Truncate(time.Microsecond)
	}
	return job.CreatedAt.UTC().Truncate(time.Microsecond)
}
