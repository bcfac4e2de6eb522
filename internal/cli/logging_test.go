package cli

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRiverLogger(t *testing.T) {
	t.Parallel()
	setup := func(level slog.Level) (*slog.Logger, *bytes.Buffer) {
		var buf bytes.Buffer
		return riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: level})).With("component", "river")), &buf
	}

	t.Run("ChatterAtDebug", func(t *testing.T) {
		t.Parallel()
		l, buf := setup(slog.LevelInfo)
		l.Info("producer: Producer job counts", "queue", "tokens")
		l.Info("JobScheduler: Ran successfully", "num_jobs_scheduled", 3)
		require.Empty(t, buf.String())
		l.Info("River client started")
		l.Warn("producer: Producer job counts") // only INFO is demoted
		require.Contains(t, buf.String(), `level=INFO msg="River client started" component=river`)
		require.Contains(t, buf.String(), `level=WARN msg="producer: Producer job counts"`)

		l, buf = setup(slog.LevelDebug)
		l.Info("producer: Producer job counts", "queue", "tokens")
		require.Contains(t, buf.String(), `level=DEBUG msg="producer: Producer job counts" component=river queue=tokens`)
	})
}
