package main

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"version"}, envOf(nil), &out, io.Discard))
	require.Regexp(t, `^nftsync \S+.* go1\.\d+.* `+runtime.GOOS+"/"+runtime.GOARCH+"\n$", out.String())
}
