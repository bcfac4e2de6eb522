package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReplaceRegions(t *testing.T) {
	t.Parallel()
	tables := map[string]string{"queues": "| new |\n"}
	src := "# Doc\n\n<!-- BEGIN GENERATED: queues (make generate; do not edit) -->\n| old |\n| older |\n<!-- END GENERATED: queues -->\n\nafter\n"
	out, err := replaceRegions(src, tables)
	require.NoError(t, err)
	require.Equal(t, "# Doc\n\n<!-- BEGIN GENERATED: queues (make generate; do not edit) -->\n| new |\n<!-- END GENERATED: queues -->\n\nafter\n", out)
	again, err := replaceRegions(out, tables)
	require.NoError(t, err)
	require.Equal(t, out, again, "idempotent")

	_, err = replaceRegions("<!-- BEGIN GENERATED: nope (make generate; do not edit) -->\n<!-- END GENERATED: nope -->\n", tables)
	require.ErrorContains(t, err, `line 1: unknown generated region "nope"`)
	_, err = replaceRegions("x\n<!-- BEGIN GENERATED: queues (make generate; do not edit) -->\n| old |\n", tables)
	require.ErrorContains(t, err, "line 2: region queues has no <!-- END GENERATED: queues -->")
}

func TestGeneratedTablesNameEveryRow(t *testing.T) {
	t.Parallel()
	refresh := refreshKindsTable()
	for _, k := range []string{"`floor_price`", "`volume`", "`metadata`", "`tokens`", "fetch_source_volume (other source)", "`NFTSYNC_REFRESH_TOKENS`"} {
		require.Contains(t, refresh, k)
	}
	require.Contains(t, queuesTable(), "| `source_volume` | `NFTSYNC_WORKERS_SOURCE_VOLUME` = 2 | 10 | `fetch_source_volume` |")
	require.Contains(t, sourcesTable(), "| `subgraph` | `volume`, `metadata` |")
	sql := catalogSQL()
	require.Contains(t, sql, "('volume', false, 'fetch_source_volume', 'source_volume', 10, true)")
	require.Equal(t, 1, strings.Count(sql, "INSERT INTO refresh_kinds"))
	enum, err := graphqlEnum("enum RefreshKind {\n  OLD\n}\n\ninput RefreshIntervalsInput {\n  old: Int\n}\n")
	require.NoError(t, err)
	require.Equal(t, "enum RefreshKind {\n  FLOOR_PRICE\n  VOLUME\n  METADATA\n  TOKENS\n}\n\ninput RefreshIntervalsInput {\n  floorPrice: Int\n  volume: Int\n  metadata: Int\n  tokens: Int\n}\n", enum)
}
