package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunUsage(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"help"}, envOf(nil), &out, &errOut))
	require.Contains(t, out.String(), "Usage: nftsync <command>")

	out.Reset()
	err := run(context.Background(), []string{"frobnicate"}, envOf(nil), &out, &errOut)
	require.ErrorContains(t, err, `unknown command "frobnicate"`)
	require.Contains(t, errOut.String(), "Usage:")
}

func TestRunNeedsDatabaseURL(t *testing.T) {
	t.Parallel()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"worker"}, envOf(nil), &out, &errOut)
	require.ErrorContains(t, err, "DATABASE_URL is not set")
}
