package indexersim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStart(t *testing.T) {
	t.Parallel()

	// fetch is safe to call from any goroutine.
	fetch := func(t *testing.T, url string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if err != nil {
			return 0, nil, err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, body, err
	}

	t.Run("ServesAndShutsDown", func(t *testing.T) {
		t.Parallel()
		run, err := Start(t.Context(), "127.0.0.1:0", Config{Collections: 2}, nil)
		require.NoError(t, err)
		require.Regexp(t, `^http://127\.0\.0\.1:\d+$`, run.URL)

		status, body, err := fetch(t, run.URL+"/api/v2/collections/sim-collection-001")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(body, &doc))
		require.Equal(t, "sim-collection-001", doc["collection"])
		require.Equal(t, int64(1), run.Server.Stats().Requests)

		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		require.NoError(t, run.Shutdown(ctx))
		_, _, err = fetch(t, run.URL+"/_sim/stats")
		require.Error(t, err)
		require.NoError(t, run.Close(), "Close after Shutdown is harmless")
	})

	t.Run("ContextCancelCloses", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		run, err := Start(ctx, "127.0.0.1:0", Config{Collections: 1, TimeoutRate: 1}, nil)
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() {
			_, _, err := fetch(t, run.URL+statsPath) // hangs in a timeout fault
			errc <- err
		}()
		require.Eventually(t, func() bool { return run.Server.Stats().Faults[FaultTimeout] == 1 },
			5*time.Second, 5*time.Millisecond)
		cancel()
		select {
		case err := <-errc:
			require.Error(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("cancelling the context did not close the simulator")
		}
		require.Eventually(t, func() bool {
			_, _, err := fetch(t, run.URL+"/_sim/stats")
			return err != nil
		}, 5*time.Second, 10*time.Millisecond)
	})

	t.Run("InvalidConfigOrAddress", func(t *testing.T) {
		t.Parallel()
		_, err := Start(t.Context(), "127.0.0.1:0", Config{Rate: -1}, nil)
		require.ErrorContains(t, err, "start simulator")
		_, err = Start(t.Context(), "256.0.0.1:99999", Config{}, nil)
		require.ErrorContains(t, err, "listen on")
	})
}
