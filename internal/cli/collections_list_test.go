package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/db/dbtest"
	"github.com/nftsync/nftsync/jobs"
)

// TestCollectionsListFloorMode: `collections list` says whether a
// collection's floor is live (its stream is live and recently marked) or
// polled.
func TestCollectionsListFloorMode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.DB(t)
	q := db.New(pool)
	mode := map[string]string{}
	for _, slug := range []string{"streamed", "polled", "stale"} {
		c, err := q.CollectionUpsert(ctx, db.CollectionUpsertParams{Source: "opensea", Slug: slug, Chain: "ethereum", Priority: 2})
		require.NoError(t, err)
		for _, kind := range jobs.ScheduleKinds {
			require.NoError(t, q.ScheduleEnsure(ctx, db.ScheduleEnsureParams{CollectionID: c.ID, Kind: kind, EverySeconds: 60}))
		}
		at := time.Now()
		switch slug {
		case "polled":
			continue
		case "stale":
			at = at.Add(-2 * time.Minute)
		}
		require.NoError(t, q.StreamStatesMark(ctx, db.StreamStatesMarkParams{CollectionIds: []int64{c.ID}, State: "live", Owner: "r1", At: at}))
	}
	var out bytes.Buffer
	require.NoError(t, listCollections(ctx, pool, &out))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 4, out.String())
	header := strings.Fields(lines[0])
	col := -1
	for i, h := range header {
		if h == "FLOOR_MODE" {
			col = i
		}
	}
	require.NotEqual(t, -1, col, "no FLOOR_MODE column: %s", lines[0])
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		mode[f[1]] = f[col]
	}
	require.Equal(t, map[string]string{"streamed": "live", "polled": "polled", "stale": "polled"}, mode)
	require.Contains(t, lines[1], "live")
}
