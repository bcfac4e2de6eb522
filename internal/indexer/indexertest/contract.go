// Package indexertest holds the contract every indexer source adapter
// passes: what each kind of call returns, how failures are classified, and
// that kinds a source does not serve fail loudly instead of inventing
// data. Adapter packages run it from their tests with a Harness that
// points the adapter at a real HTTP server (the simulator) in each Mode.
package indexertest

import (
	"context"
	"errors"
	"math/big"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
)

// Mode is how the upstream behaves for every request.
type Mode int

// The modes a Harness must provide.
const (
	Healthy     Mode = iota // answers correctly
	Throttled               // answers 429 with Retry-After
	ServerError             // answers 5xx
	Malformed               // answers 200 with a broken or mistyped body
)

func (m Mode) String() string {
	return [...]string{"healthy", "throttled", "server_error", "malformed"}[m]
}

// Target is an adapter under test and two collection keys (a slug or a
// contract address, whatever the adapter is keyed by): one the upstream
// knows and one it does not.
type Target struct {
	Indexer indexer.Indexer
	Known   string
	Unknown string
}

// Harness starts an upstream in mode and returns an adapter pointed at it.
// It must register its own cleanup.
type Harness func(t *testing.T, mode Mode) Target

// Run runs the contract against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	t.Run("healthy", func(t *testing.T) {
		t.Parallel()
		tg := h(t, Healthy)
		ix := tg.Indexer
		require.NotEmpty(t, ix.Source())
		ctx := context.Background()
		for _, k := range indexer.DataKinds() {
			if !indexer.Supports(ix, k) {
				requireNotSupported(t, ix, k, tg.Known)
				continue
			}
			switch k {
			case indexer.DataFloorPrice, indexer.DataVolume:
				st, err := ix.Stats(ctx, tg.Known)
				require.NoError(t, err, k)
				requireValidStats(t, ix, st)
			case indexer.DataMetadata:
				c, err := ix.Collection(ctx, tg.Known)
				require.NoError(t, err)
				require.NotEmpty(t, c.Name)
				require.False(t, c.FetchedAt.IsZero())
				require.NotEmpty(t, c.Contracts)
			case indexer.DataTokens:
				p, err := ix.Tokens(ctx, tg.Known, "")
				require.NoError(t, err)
				require.NotEmpty(t, p.Tokens)
			}
		}
	})
	t.Run("unknown collection", func(t *testing.T) {
		t.Parallel()
		tg := h(t, Healthy)
		for _, k := range []indexer.DataKind{indexer.DataVolume, indexer.DataMetadata} {
			if !indexer.Supports(tg.Indexer, k) {
				continue
			}
			err := call(tg.Indexer, k, tg.Unknown)
			e := RequireClass(t, err, indexer.ClassPermanent)
			require.Equal(t, http.StatusNotFound, e.Status, "%s: %v", k, err)
		}
	})
	for _, m := range []struct {
		mode  Mode
		class indexer.Class
	}{{Throttled, indexer.ClassRateLimited}, {ServerError, indexer.ClassTransient}, {Malformed, indexer.ClassMalformed}} {
		t.Run(m.mode.String(), func(t *testing.T) {
			t.Parallel()
			tg := h(t, m.mode)
			for _, k := range []indexer.DataKind{indexer.DataVolume, indexer.DataMetadata} {
				if !indexer.Supports(tg.Indexer, k) {
					continue
				}
				e := RequireClass(t, call(tg.Indexer, k, tg.Known), m.class)
				if m.mode == Throttled {
					require.Positive(t, e.RetryAfter, "a 429's Retry-After is kept")
					require.Equal(t, http.StatusTooManyRequests, e.Status)
				}
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		t.Parallel()
		tg := h(t, Healthy)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := tg.Indexer.Stats(ctx, tg.Known)
		require.Error(t, err)
		require.Equal(t, indexer.ClassTransient, indexer.ClassOf(err), "a cancelled call is not the upstream's fault")
	})
}

// call makes the call that serves kind k and returns its error.
func call(ix indexer.Indexer, k indexer.DataKind, key string) error {
	ctx := context.Background()
	var err error
	switch k {
	case indexer.DataFloorPrice, indexer.DataVolume:
		_, err = ix.Stats(ctx, key)
	case indexer.DataMetadata:
		_, err = ix.Collection(ctx, key)
	case indexer.DataTokens:
		_, err = ix.Tokens(ctx, key, "")
	}
	return err
}

func requireNotSupported(t *testing.T, ix indexer.Indexer, k indexer.DataKind, key string) {
	t.Helper()
	if k == indexer.DataFloorPrice {
		// Floor travels with volume in Stats; a source without floors
		// never reports one.
		if indexer.Supports(ix, indexer.DataVolume) {
			st, err := ix.Stats(context.Background(), key)
			require.NoError(t, err)
			require.Nil(t, st.Floor, "a source without floor prices must not invent one")
		}
		return
	}
	err := call(ix, k, key)
	_ = RequireClass(t, err, indexer.ClassPermanent)
	require.ErrorIs(t, err, indexer.ErrNotSupported, "%s", k)
}

func requireValidStats(t *testing.T, ix indexer.Indexer, st *indexer.Stats) {
	t.Helper()
	require.False(t, st.FetchedAt.IsZero())
	byWin := map[indexer.Window]*big.Rat{}
	for _, v := range st.Volumes {
		r, ok := new(big.Rat).SetString(v.Amount.Amount)
		require.True(t, ok, "volume %s %q is a decimal", v.Window, v.Amount.Amount)
		require.GreaterOrEqual(t, r.Sign(), 0)
		require.NotEmpty(t, v.Amount.Currency)
		require.GreaterOrEqual(t, v.Sales, int64(0))
		_, dup := byWin[v.Window]
		require.False(t, dup, "window %s twice", v.Window)
		byWin[v.Window] = r
		if v.Low != "" || v.High != "" {
			lo, ok1 := new(big.Rat).SetString(v.Low)
			hi, ok2 := new(big.Rat).SetString(v.High)
			require.True(t, ok1 && ok2, "bounds are decimals")
			require.True(t, lo.Cmp(r) <= 0 && r.Cmp(hi) <= 0, "estimate %s within [%s, %s]", v.Amount.Amount, v.Low, v.High)
		}
	}
	require.Contains(t, byWin, indexer.WindowAll)
	order := []indexer.Window{indexer.Window1d, indexer.Window7d, indexer.Window30d, indexer.WindowAll}
	for i := 1; i < len(order); i++ {
		a, b := byWin[order[i-1]], byWin[order[i]]
		if a != nil && b != nil {
			require.LessOrEqual(t, a.Cmp(b), 0, "%s <= %s", order[i-1], order[i])
		}
	}
	if st.Floor != nil {
		require.True(t, indexer.Supports(ix, indexer.DataFloorPrice), "floor from a source that has none")
	}
}

// RequireClass fails t unless err is an *indexer.Error of class, and
// returns it.
func RequireClass(t *testing.T, err error, class indexer.Class) *indexer.Error {
	t.Helper()
	require.Error(t, err)
	var e *indexer.Error
	require.True(t, errors.As(err, &e), "%v is an *indexer.Error", err)
	require.Equal(t, class, e.Class, "%v", err)
	return e
}
