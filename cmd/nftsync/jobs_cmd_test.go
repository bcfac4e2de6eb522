package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db/dbtest"
)

// TestJobsAndAdminCommands drives the CLI door of the admin operations the
// API's mutations also use.
func TestJobsAndAdminCommands(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env := envOf(map[string]string{"DATABASE_URL": dbtest.NewDatabase(t), "NFTSYNC_LOG_LEVEL": "error", "NFTSYNC_API_REFRESH_COOLDOWN": "1h"})
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(ctx, args, env, &out, &errOut)
		return out.String(), err
	}
	_, err := cli("collections", "add", "alpha", "beta")
	require.NoError(t, err)
	out, err := cli("collections", "refresh", "-kinds", "floor_price,tokens", "alpha")
	require.NoError(t, err)
	require.Contains(t, out, "alpha: 2 refresh jobs enqueued")
	_, err = cli("collections", "refresh", "alpha")
	require.ErrorContains(t, err, "the next refresh is allowed at", "the API's cooldown holds at the CLI too")
	_, err = cli("collections", "refresh", "-kinds", "prices", "beta")
	require.ErrorContains(t, err, `kind "prices"`)

	out, err = cli("jobs", "list")
	require.NoError(t, err)
	require.Contains(t, out, "fetch_floor_price")
	require.Contains(t, out, "sync_tokens")
	require.Contains(t, out, "available")

	out, err = cli("jobs", "list", "-kind", "sync_tokens", "--json")
	require.NoError(t, err)
	var list struct {
		Jobs []struct {
			ID    int64          `json:"id"`
			Kind  string         `json:"kind"`
			State string         `json:"state"`
			Args  map[string]any `json:"args"`
		} `json:"jobs"`
		HasNextPage bool `json:"has_next_page"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	require.Len(t, list.Jobs, 1)
	require.Equal(t, "sync_tokens", list.Jobs[0].Kind)
	require.Equal(t, true, list.Jobs[0].Args["manual"])
	id := list.Jobs[0].ID

	out, err = cli("jobs", "list", "-limit", "1")
	require.NoError(t, err)
	require.Contains(t, out, "more: nftsync jobs list -after ")

	out, err = cli("jobs", "cancel", itoa(id), "--json")
	require.NoError(t, err)
	var job struct{ State string }
	require.NoError(t, json.Unmarshal([]byte(out), &job))
	require.Equal(t, "cancelled", job.State)
	out, err = cli("jobs", "retry", itoa(id))
	require.NoError(t, err)
	require.Contains(t, out, "available")
	out, err = cli("jobs", "get", itoa(id))
	require.NoError(t, err)
	require.Contains(t, out, "sync_tokens")
	_, err = cli("jobs", "get", "999")
	require.ErrorContains(t, err, "job 999 does not exist")
	_, err = cli("jobs", "get", "x")
	require.ErrorContains(t, err, `"x" is not a job id`)

	out, err = cli("jobs", "stats", "--json")
	require.NoError(t, err)
	var stats struct {
		ByState map[string]int `json:"by_state"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &stats))
	require.Equal(t, 2, stats.ByState["available"])
	out, err = cli("jobs", "stats")
	require.NoError(t, err)
	require.Contains(t, out, "QUEUE")

	out, err = cli("collections", "intervals", "-volume", "2m", "beta")
	require.NoError(t, err)
	require.Contains(t, out, "beta: refresh intervals set")
	_, err = cli("collections", "intervals", "-volume", "2m", "nope")
	require.ErrorContains(t, err, `collection "nope" is not tracked`)
	out, err = cli("collections", "pause", "-reason", "listing paused", "beta")
	require.NoError(t, err)
	require.Contains(t, out, "beta: paused")
	out, err = cli("collections", "list")
	require.NoError(t, err)
	require.Regexp(t, `beta\s+paused`, out)
	out, err = cli("collections", "untrack", "beta")
	require.NoError(t, err)
	require.Contains(t, out, "untracked")
	out, err = cli("collections", "list")
	require.NoError(t, err)
	require.NotContains(t, out, "beta")
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
