package opensea

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

func TestNewClient(t *testing.T) {
	t.Parallel()

	t.Run("RejectsBadConfig", func(t *testing.T) {
		t.Parallel()

		for _, tc := range []struct {
			name    string
			baseURL string
			opts    Options
			wantErr string
		}{
			{"Relative", "api.opensea.io", Options{}, "absolute http(s) URL"},
			{"Scheme", "ftp://api.opensea.io", Options{}, "absolute http(s) URL"},
			{"Query", "https://api.opensea.io?x=1", Options{}, "without query"},
			{"Unparseable", "https://api.opensea.io/%zz", Options{}, "parse base URL"},
			{"NegativeBody", "https://api.opensea.io", Options{MaxBodyBytes: -1}, "MaxBodyBytes"},
			{"PageTooBig", "https://api.opensea.io", Options{PageSize: 201}, "PageSize must be 0..200"},
			{"PageNegative", "https://api.opensea.io", Options{PageSize: -1}, "PageSize must be 0..200"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()

				c, err := NewClient(tc.baseURL, nil, tc.opts)
				require.Nil(t, c)
				require.ErrorContains(t, err, tc.wantErr)
			})
		}
	})

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()

		c, err := NewClient("https://api.opensea.io/", nil, Options{})
		require.NoError(t, err)
		require.Equal(t, "opensea", c.Source())
		require.Equal(t, "https://api.opensea.io", c.baseURL)
		require.Equal(t, DefaultTimeout, c.http.Timeout)
		require.Equal(t, int64(DefaultMaxBodyBytes), c.maxBody)
		require.Equal(t, MaxPageSize, c.pageSize)
		require.Equal(t, DefaultUserAgent, c.userAgent)
	})

	t.Run("DoesNotModifyGivenHTTPClient", func(t *testing.T) {
		t.Parallel()

		hc := &http.Client{Timeout: time.Second}
		c, err := NewClient("https://api.opensea.io", hc, Options{})
		require.NoError(t, err)
		require.Nil(t, hc.CheckRedirect)
		require.NotSame(t, hc, c.http)
		require.Equal(t, time.Second, c.http.Timeout)
	})
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()

	ctx := context.Background()

	capture := func(t *testing.T) (url string, got func() http.Header) {
		t.Helper()
		var (
			mu sync.Mutex
			h  http.Header
		)
		serve := serveFixture(t, http.StatusOK, "stats.json", nil)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			h = r.Header.Clone()
			mu.Unlock()
			serve(w, r)
		})
		return srv.URL, func() http.Header { mu.Lock(); defer mu.Unlock(); return h }
	}

	t.Run("KeyAgentAccept", func(t *testing.T) {
		t.Parallel()

		url, got := capture(t)
		_, err := newTestClient(t, url, Options{UserAgent: "nftsync-test/9"}).Stats(ctx, "example-apes")
		require.NoError(t, err)
		require.Equal(t, testAPIKey, got().Get("X-API-KEY"))
		require.Equal(t, "nftsync-test/9", got().Get("User-Agent"))
		require.Equal(t, "application/json", got().Get("Accept"))
	})

	t.Run("NoKeyNoHeader", func(t *testing.T) {
		t.Parallel()

		url, got := capture(t)
		c, err := NewClient(url, nil, Options{})
		require.NoError(t, err)
		_, err = c.Stats(ctx, "example-apes")
		require.NoError(t, err)
		require.NotContains(t, got(), "X-Api-Key")
		require.Equal(t, DefaultUserAgent, got().Get("User-Agent"))
	})

	t.Run("BaseURLPathPrefix", func(t *testing.T) {
		t.Parallel()

		var gotURI string
		serve := serveFixture(t, http.StatusOK, "stats.json", nil)
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			gotURI = r.RequestURI
			serve(w, r)
		})
		_, err := newTestClient(t, srv.URL+"/proxy/opensea/", Options{}).Stats(ctx, "example-apes")
		require.NoError(t, err)
		require.Equal(t, "/proxy/opensea/api/v2/collections/example-apes/stats", gotURI)
	})
}

func TestStatusClasses(t *testing.T) {
	t.Parallel()

	ctx := context.Background()

	for _, tc := range []struct {
		status  int
		fixture string
		class   indexer.Class
		wantMsg string
	}{
		{400, "error_400.json", indexer.ClassPermanent,
			`bad request: upstream says "invalid_parameter: limit must be between 1 and 200"`},
		{401, "error_401.json", indexer.ClassPermanent, `api key rejected: upstream says "Invalid API key"`},
		{403, "", indexer.ClassPermanent, "api key rejected"},
		{404, "error_404.json", indexer.ClassPermanent, `collection not found: upstream says "Collection not found"`},
		{409, "error_404.json", indexer.ClassPermanent, "client error"},
		{429, "throttled_429.json", indexer.ClassRateLimited,
			`rate limited: upstream says "Request was throttled. Expected available in 1 second."`},
		{599, "", indexer.ClassRateLimited, "rate limited"},
		{500, "error_404.json", indexer.ClassTransient, `server error: upstream says "Collection not found"`},
		{502, "", indexer.ClassTransient, "server error"},
		{503, "", indexer.ClassTransient, "server error"},
		{304, "", indexer.ClassTransient, "unexpected status"},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()

			srv := newServer(t, serveFixture(t, tc.status, tc.fixture, nil))
			_, err := newTestClient(t, srv.URL, Options{}).Tokens(ctx, "example-apes", "")
			ie := requireClass(t, err, tc.class)
			require.Equal(t, tc.status, ie.Status)
			require.Equal(t, "tokens example-apes", ie.Op)
			require.ErrorContains(t, err, tc.wantMsg)
			require.ErrorContains(t, err, "(HTTP "+strconv.Itoa(tc.status)+")")
		})
	}
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()

	ctx := context.Background()

	t.Run("EchoedKeyIsRedacted", func(t *testing.T) {
		t.Parallel()

		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":["API key ` + testAPIKey + ` is invalid"]}`))
		})
		_, err := newTestClient(t, srv.URL, Options{Logger: logger}).Collection(ctx, "example-apes")
		requireClass(t, err, indexer.ClassPermanent) // also asserts the key is absent
		require.ErrorContains(t, err, `api key rejected: upstream says "API key [redacted] is invalid"`)
		require.Contains(t, logs.String(), "status=401")
		require.NotContains(t, logs.String(), testAPIKey)
	})

	t.Run("LongMessageIsTruncated", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"detail":"` + strings.Repeat("é", 500) + `"}`))
		})
		_, err := newTestClient(t, srv.URL, Options{}).Collection(ctx, "example-apes")
		requireClass(t, err, indexer.ClassPermanent)
		require.ErrorContains(t, err, `upstream says "`+strings.Repeat("é", 98)+`…"`) // 200 bytes with the marker
	})

	t.Run("NonJSONBodyAddsNothing", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
		})
		_, err := newTestClient(t, srv.URL, Options{}).Collection(ctx, "example-apes")
		requireClass(t, err, indexer.ClassTransient)
		require.EqualError(t, err, "collection example-apes: transient (HTTP 502): server error")
	})
}

func TestRateLimit(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	now := testNow()
	epoch := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).Unix(), 10) }

	for _, tc := range []struct {
		name   string
		status int
		header map[string]string
		want   time.Duration
	}{
		{"RetryAfterSeconds", 429, map[string]string{"Retry-After": "7"}, 7 * time.Second},
		{"RetryAfterHTTPDate", 429, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"RetryAfterDateInPast", 429, map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"RetryAfterCapped", 429, map[string]string{"Retry-After": "3600"}, MaxRetryAfter},
		{"RetryAfterDateCapped", 429, map[string]string{"Retry-After": now.Add(time.Hour).Format(http.TimeFormat)}, MaxRetryAfter},
		{"RetryAfterWins", 429, map[string]string{"Retry-After": "3", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(time.Minute)}, 3 * time.Second},
		{"Status599", 599, map[string]string{"Retry-After": "2"}, 2 * time.Second},
		{"ResetWhenExhausted", 429, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(42 * time.Second)}, 42 * time.Second},
		{"ResetAsDelta", 429, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "15"}, 15 * time.Second},
		{"ResetCapped", 599, map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(time.Hour)}, MaxRetryAfter},
		{"ResetIgnoredWhenRemaining", 429, map[string]string{"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": epoch(time.Minute)}, 0},
		{"GarbageRetryAfterFallsBackToReset", 429, map[string]string{"Retry-After": "soon", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": epoch(5 * time.Second)}, 5 * time.Second},
		{"NoHints", 429, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()

			srv := newServer(t, serveFixture(t, tc.status, "throttled_429.json", tc.header))
			_, err := newTestClient(t, srv.URL, Options{}).Stats(ctx, "example-apes")
			ie := requireClass(t, err, indexer.ClassRateLimited)
			require.Equal(t, tc.want, ie.RetryAfter)
			d, ok := indexer.RetryAfter(err)
			require.True(t, ok)
			require.Equal(t, tc.want, d)
		})
	}
}

func TestObserve(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	now := testNow()
	var (
		mu    sync.Mutex
		infos []ResponseInfo
	)
	ok := serveFixture(t, http.StatusOK, "stats.json", map[string]string{
		"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": strconv.FormatInt(now.Unix()+30, 10),
	})
	throttled := serveFixture(t, http.StatusTooManyRequests, "throttled_429.json", map[string]string{"Retry-After": "4"})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "throttled") {
			throttled(w, r)
			return
		}
		ok(w, r)
	})
	c := newTestClient(t, srv.URL, Options{Observe: func(info ResponseInfo) {
		mu.Lock()
		defer mu.Unlock()
		info.Elapsed = 0 // not deterministic
		infos = append(infos, info)
	}})

	_, err := c.Stats(ctx, "example-apes")
	require.NoError(t, err)
	_, err = c.Stats(ctx, "throttled")
	requireClass(t, err, indexer.ClassRateLimited)

	require.Equal(t, []ResponseInfo{
		{Op: "stats example-apes", Status: 200, Limit: 60, Remaining: 59, Reset: now.Add(30 * time.Second)},
		{Op: "stats throttled", Status: 429, RetryAfter: 4 * time.Second, Limit: -1, Remaining: -1},
	}, infos)
}

func TestTransportFailures(t *testing.T) {
	t.Parallel()

	t.Run("ServerStreamsOverLimit", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"nfts":[`))
			chunk := []byte(strings.Repeat(`{"identifier":"1","contract":"0xabc"},`, 100))
			for i := 0; i < 1000 && r.Context().Err() == nil; i++ {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		_, err := newTestClient(t, srv.URL, Options{MaxBodyBytes: 1024}).Tokens(context.Background(), "example-apes", "")
		ie := requireClass(t, err, indexer.ClassMalformed)
		require.Equal(t, http.StatusOK, ie.Status)
		require.EqualError(t, err, "tokens example-apes: malformed (HTTP 200): body exceeds 1024 bytes")
	})

	t.Run("BodyExactlyAtLimitIsFine", func(t *testing.T) {
		t.Parallel()

		body := fixture(t, "stats.json")
		srv := newServer(t, serveFixture(t, http.StatusOK, "stats.json", nil))
		_, err := newTestClient(t, srv.URL, Options{MaxBodyBytes: int64(len(body))}).Stats(context.Background(), "example-apes")
		require.NoError(t, err)
		_, err = newTestClient(t, srv.URL, Options{MaxBodyBytes: int64(len(body)) - 1}).Stats(context.Background(), "example-apes")
		requireClass(t, err, indexer.ClassMalformed)
	})

	t.Run("HTTPClientTimeout", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		})
		c, err := NewClient(srv.URL, &http.Client{Timeout: 50 * time.Millisecond}, Options{APIKey: testAPIKey})
		require.NoError(t, err)
		_, err = c.Stats(context.Background(), "example-apes")
		ie := requireClass(t, err, indexer.ClassTransient)
		require.Zero(t, ie.Status)
		require.ErrorContains(t, err, "Client.Timeout")
		require.NotErrorIs(t, err, context.Canceled)
	})

	t.Run("CallerCancels", func(t *testing.T) {
		t.Parallel()

		arrived := make(chan struct{})
		srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-r.Context().Done()
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-arrived; cancel() }()
		_, err := newTestClient(t, srv.URL, Options{}).Collection(ctx, "example-apes")
		requireClass(t, err, indexer.ClassTransient)
		require.ErrorIs(t, err, context.Canceled)
		require.ErrorContains(t, err, "caller context done")
	})

	t.Run("CallerCancelsMidBody", func(t *testing.T) {
		t.Parallel()

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"nfts":[`))
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
		// Observe runs after the headers arrived and before the body is read.
		c := newTestClient(t, srv.URL, Options{Observe: func(ResponseInfo) { cancel() }})
		_, err := c.Tokens(ctx, "example-apes", "")
		ie := requireClass(t, err, indexer.ClassTransient)
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, http.StatusOK, ie.Status)
	})

	t.Run("CallerDeadline", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := newTestClient(t, srv.URL, Options{}).Stats(ctx, "example-apes")
		requireClass(t, err, indexer.ClassTransient)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})

	t.Run("AlreadyCancelledMakesNoRequest", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(http.ResponseWriter, *http.Request) { t.Error("unexpected request") })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := newTestClient(t, srv.URL, Options{}).Stats(ctx, "example-apes")
		requireClass(t, err, indexer.ClassTransient)
		require.ErrorIs(t, err, context.Canceled)
	})

	t.Run("ConnectionReset", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST instead of FIN
			}
			_ = conn.Close()
		})
		_, err := newTestClient(t, srv.URL, Options{}).Stats(context.Background(), "example-apes")
		requireClass(t, err, indexer.ClassTransient)
	})

	t.Run("BodyCutShortIsTransientNotMalformed", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "5000")
			_, _ = w.Write([]byte(`{"total": {"volume": 1.5,`))
		})
		_, err := newTestClient(t, srv.URL, Options{}).Stats(context.Background(), "example-apes")
		ie := requireClass(t, err, indexer.ClassTransient)
		require.Equal(t, http.StatusOK, ie.Status)
		require.ErrorContains(t, err, "read body")
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	})

	t.Run("ConnectionRefused", func(t *testing.T) {
		t.Parallel()

		srv := newServer(t, func(http.ResponseWriter, *http.Request) {})
		url := srv.URL
		srv.Close()
		_, err := newTestClient(t, url, Options{}).Stats(context.Background(), "example-apes")
		requireClass(t, err, indexer.ClassTransient)
	})
}

func TestRedirectKeyGuard(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	var (
		mu     sync.Mutex
		gotKey = map[string]string{}
	)
	record := func(name string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gotKey[name] = r.Header.Get("X-API-KEY")
	}
	serve := serveFixture(t, http.StatusOK, "stats.json", nil)
	other := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		record("other-host", r)
		serve(w, r)
	})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.Contains(r.URL.Path, "away"):
			http.Redirect(w, r, other.URL+"/api/v2/collections/x/stats", http.StatusFound)
		case strings.Contains(r.URL.Path, "moved"):
			http.Redirect(w, r, "/api/v2/collections/same-host/stats", http.StatusMovedPermanently)
		default:
			record("same-host", r)
			serve(w, r)
		}
	})
	c := newTestClient(t, srv.URL, Options{})

	_, err := c.Stats(ctx, "away")
	require.NoError(t, err)
	_, err = c.Stats(ctx, "moved")
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, map[string]string{"other-host": "", "same-host": testAPIKey}, gotKey)
}
