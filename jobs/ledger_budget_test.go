package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/jobs"
)

// coverLedger says the collection's sales ledger has been gap-free since
// since.
func coverLedger(t *testing.T, tx pgx.Tx, id int64, since time.Time) {
	t.Helper()
	require.NoError(t, db.New(tx).StreamSalesCovered(context.Background(), db.StreamSalesCoveredParams{CollectionID: id,
		Since: pgtype.Timestamptz{Time: since, Valid: !since.IsZero()}}))
}

// TestStreamedCollectionRESTBudget runs the planner for an hour of 30 s
// ticks over a collection whose stream stays live (re-marked every tick)
// and counts the ticks that plan a stats call (its floor or its volume,
// which share one call when planned together): once warm, a streamed
// collection whose ledger covers the day costs one call per reconcile, 4
// per collection-hour at the default 15 minutes. Without the ledger's
// coverage, or with PollStreamedVolume, the volume is polled on its own
// interval again.
func TestStreamedCollectionRESTBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	statsCalls := func(t *testing.T, covered bool, opts jobs.PlanOptions) int {
		t.Helper()
		tx := sharedTx(t)
		c := upsertCollection(t, tx, "budget")
		q := db.New(tx)
		for kind, every := range map[string]time.Duration{jobs.RefreshFloorPrice: time.Minute, jobs.RefreshVolume: 5 * time.Minute} {
			require.NoError(t, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: int32(every / time.Second)}))
		}
		client := insertOnlyClient(t)
		t0 := time.Now().Add(time.Second).UTC().Truncate(time.Microsecond)
		markStream(t, tx, c.ID, "live", t0)
		if covered {
			coverLedger(t, tx, c.ID, t0.Add(-25*time.Hour))
		}
		// Warm: the first tick plans everything once.
		_, err := jobs.PlanTx(ctx, tx, client, t0, opts)
		require.NoError(t, err)
		calls := 0
		for now := t0.Add(30 * time.Second); !now.After(t0.Add(time.Hour)); now = now.Add(30 * time.Second) {
			markStream(t, tx, c.ID, "live", now.Add(-time.Second))
			_, err := jobs.PlanTx(ctx, tx, client, now, opts)
			require.NoError(t, err)
			planned := false
			for _, kind := range []string{jobs.RefreshFloorPrice, jobs.RefreshVolume} {
				s, err := q.ScheduleGet(ctx, db.ScheduleGetParams{CollectionID: c.ID, Kind: kind})
				require.NoError(t, err)
				planned = planned || s.LastPlannedAt.Time.Equal(now)
			}
			if planned {
				calls++
			}
		}
		return calls
	}

	t.Run("LedgerCoversTheDay", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, 4, statsCalls(t, true, jobs.PlanOptions{Batch: 100}), "one stats call per 15-minute reconcile")
	})
	t.Run("LedgerDoesNotCoverTheDay", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, 12, statsCalls(t, false, jobs.PlanOptions{Batch: 100}), "the volume is polled every 5 minutes")
	})
	t.Run("PollStreamedVolume", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, 12, statsCalls(t, true, jobs.PlanOptions{Batch: 100, PollStreamedVolume: true}))
	})
}

// TestStreamedVolumeFreshness: collection_freshness (which the API's
// freshness, `collections list` and the metrics' data-age query read)
// reports a streamed collection's volume live and fresh while its ledger
// covers the day, though its last poll is older than the volume target;
// without the coverage, or without a live stream, it is polled and stale.
func TestStreamedVolumeFreshness(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	volume := func(t *testing.T, tx pgx.Tx, id int64) db.CollectionFreshnessListRow {
		t.Helper()
		rows, err := db.New(tx).CollectionFreshnessList(ctx)
		require.NoError(t, err)
		for _, r := range rows {
			if r.CollectionID == id && r.Kind == jobs.RefreshVolume {
				return r
			}
		}
		t.Fatalf("no volume freshness for collection %d", id)
		return db.CollectionFreshnessListRow{}
	}
	dataAge := func(t *testing.T, tx pgx.Tx) db.MetricsDataAgeRow {
		t.Helper()
		rows, err := db.New(tx).MetricsDataAge(ctx)
		require.NoError(t, err)
		for _, r := range rows {
			if r.Kind == jobs.RefreshVolume {
				return r
			}
		}
		t.Fatal("no volume row in the data-age metrics")
		return db.MetricsDataAgeRow{}
	}
	for _, tc := range []struct {
		name    string
		state   string
		covered time.Duration // how long the ledger has been gap-free; 0: not at all
		mode    string
		stale   bool
	}{
		{"LiveAndCovered", "live", 25 * time.Hour, "live", false},
		{"LiveNotCovered", "live", 2 * time.Hour, "polled", true},
		{"LiveNoLedger", "live", 0, "polled", true},
		{"DownAndCovered", "down", 25 * time.Hour, "polled", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tx := sharedTx(t)
			c := trackTx(t, tx, "fresh-"+tc.name, 5*time.Minute)
			q := db.New(tx)
			now := time.Now().UTC()
			// The volume was last polled 12 minutes ago (target 5 min).
			require.NoError(t, q.ScheduleMarkSuccess(ctx, db.ScheduleMarkSuccessParams{At: now.Add(-12 * time.Minute), CollectionID: c.ID, Kind: jobs.RefreshVolume}))
			staleBefore := dataAge(t, tx).Stale
			markStream(t, tx, c.ID, tc.state, now)
			if tc.covered > 0 {
				coverLedger(t, tx, c.ID, now.Add(-tc.covered))
			}
			f := volume(t, tx, c.ID)
			require.Equal(t, tc.mode, f.Mode)
			require.Equal(t, tc.stale, f.Stale)
			if !tc.stale {
				require.Less(t, f.AgeSeconds, 60.0, "the stream's live mark counts as the volume's success")
			}
			// The data-age metrics read the view: the collection leaves their
			// stale count exactly when the view calls its volume fresh.
			var fresher int64
			if !tc.stale {
				fresher = 1
			}
			require.Equal(t, fresher, staleBefore-dataAge(t, tx).Stale, "the metrics count what the view says")
		})
	}
}
