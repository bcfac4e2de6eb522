package indexersim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the simulator: an http.Handler serving the OpenSea API v2 for
// the configured synthetic collections. It is safe for concurrent use.
type Server struct {
	cfg         Config
	logger      *slog.Logger
	start       time.Time
	collections []*collection
	bySlug      map[string]*collection
	byContract  map[string]*collection
	subgraphs   map[string]*subgraphEndpoint
	apiKeys     map[string]bool
	usdPrice    string
	usdcEth     string       // eth_price of USDC: ETH per USDC, a decimal
	pol         *simCurrency // Polygon's native currency (currency.go)
	stream      *streamRecorder
	connSeq     atomic.Uint64
	limiter     *limiter
	faults      *faults
	rec         *recorder
	meta        *metadataService
	pad         []byte // read-only padding chunk for oversize bodies
	handler     http.Handler

	closeOnce sync.Once
	closed    chan struct{}
	// warmSlots bounds the stream joins bringing a book up to date at
	// once (each is CPU-bound for up to seconds at a high listing rate).
	warmSlots chan struct{}
}

// endpointFunc answers an admitted API request with a status and a value
// to encode as JSON.
type endpointFunc func(r *http.Request, now time.Time) (int, any)

// New validates cfg, applies defaults and generates the collections. A nil
// logger discards logs.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new simulator: %w", err)
	}
	cfg = cfg.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:        cfg,
		logger:     logger,
		start:      cfg.Clock(),
		bySlug:     make(map[string]*collection, cfg.Collections),
		byContract: make(map[string]*collection, cfg.Collections),
		subgraphs:  map[string]*subgraphEndpoint{},
		apiKeys:    make(map[string]bool, len(cfg.APIKeys)),
		limiter:    newLimiter(cfg),
		faults:     newFaults(cfg),
		rec:        newRecorder(),
		pad:        bytes.Repeat([]byte("x"), padChunkSize),
		closed:     make(chan struct{}),
		warmSlots:  make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
	s.usdPrice = fmt.Sprintf("%.2f", 2500+1500*unit(hash(uint64(cfg.Seed), 0x05d)))
	usd, _ := strconv.ParseFloat(s.usdPrice, 64) // formatted above
	s.usdcEth = strconv.FormatFloat(math.Round(1e10/usd)/1e10, 'f', -1, 64)
	usdcEth, _ := strconv.ParseFloat(s.usdcEth, 64)
	eth, pol := currencies(cfg.Seed, s.usdPrice)
	s.pol = pol
	s.stream = newStreamRecorder()
	for _, k := range cfg.APIKeys {
		s.apiKeys[k] = true
	}
	for i := range cfg.Collections {
		c := newCollection(cfg.Seed, i, cfg.MinTokens, cfg.MaxTokens, cfg.PolygonFraction, eth, pol)
		c.allKnown = cfg.AllTraitsKnown
		c.book = newBook(c, cfg.Market, c.usdcRate(usdcEth))
		s.collections = append(s.collections, c)
		s.bySlug[c.info.Slug] = c
		s.byContract[c.info.Contract] = c
	}
	s.meta = newMetadataService(cfg, s.collections)
	for _, sc := range cfg.Subgraphs {
		e, err := newSubgraphEndpoint(s, sc)
		if err != nil {
			return nil, fmt.Errorf("new simulator: %w", err)
		}
		s.subgraphs[sc.Name] = e
	}

	mux := http.NewServeMux()
	mux.Handle("GET /api/v2/collections/{slug}", s.api(EndpointCollection, s.serveCollection))
	mux.Handle("GET /api/v2/collections/{slug}/stats", s.api(EndpointStats, s.serveStats))
	mux.Handle("GET /api/v2/collection/{slug}/nfts", s.api(EndpointNFTs, s.serveNFTs))
	mux.Handle("GET /api/v2/chain/{chain}/contract/{address}/nfts/{identifier}", s.api(EndpointNFT, s.serveNFT))
	mux.Handle("GET /api/v2/traits/{slug}", s.api(EndpointTraits, s.serveTraits))
	mux.Handle("POST /api/v2/nfts/batch", s.api(EndpointNFTsBatch, s.serveNFTsBatch))
	mux.Handle("GET /api/v2/listings/collection/{slug}/best", s.api(EndpointBestListings, s.serveBestListings))
	mux.Handle("GET /api/v2/events/collection/{slug}", s.api(EndpointEvents, s.serveEvents))
	mux.Handle("GET /api/v2/chain/{chain}/payment_token/{address}", s.api(EndpointPaymentToken, s.servePaymentToken))
	mux.HandleFunc("GET /socket/websocket", s.serveSocket)
	mux.Handle("/api/", s.api(EndpointUnknown, func(*http.Request, time.Time) (int, any) {
		return http.StatusNotFound, wireErrors{Errors: []string{"not found"}}
	}))
	s.metadataRoutes(mux)
	mux.HandleFunc("/subgraphs/name/{name}", func(w http.ResponseWriter, r *http.Request) {
		e, ok := s.subgraphs[r.PathValue("name")]
		if !ok {
			// graph-node answers an unknown subgraph name with 200 and errors.
			s.writeValue(w, r, http.StatusOK, map[string]any{"errors": []map[string]string{
				{"message": "subgraph not found: " + r.PathValue("name")}}}, false)
			return
		}
		e.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		s.writeValue(w, r, http.StatusOK, s.Stats(), false)
	})
	mux.HandleFunc("POST /_sim/touch", func(w http.ResponseWriter, r *http.Request) {
		var req wireTouch
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			s.writeValue(w, r, http.StatusBadRequest, wireErrors{Errors: []string{"body: " + err.Error()}}, false)
			return
		}
		if err := s.Touch(req.Slug, req.Identifiers...); err != nil {
			s.writeValue(w, r, http.StatusBadRequest, wireErrors{Errors: []string{err.Error()}}, false)
			return
		}
		s.writeValue(w, r, http.StatusOK, map[string]int{"touched": len(req.Identifiers)}, false)
	})
	mux.HandleFunc("GET /_sim/collections", func(w http.ResponseWriter, r *http.Request) {
		infos := make([]CollectionInfo, 0, len(s.collections))
		for _, c := range s.collections {
			infos = append(infos, c.infoCopy())
		}
		s.writeValue(w, r, http.StatusOK, map[string]any{"collections": infos}, false)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeValue(w, r, http.StatusNotFound, wireErrors{Errors: []string{"not found"}}, false)
	})
	s.handler = mux
	return s, nil
}

// Handler returns the HTTP handler serving the API and the /_sim/ endpoints.
func (s *Server) Handler() http.Handler { return s.handler }

// Close releases the requests hanging in a timeout fault by dropping their
// connections without an answer, so that an HTTP server can shut down. The
// Server keeps serving; later timeout faults drop the connection at once.
// Close is idempotent.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

// Stats returns a snapshot of the request counters.
// Each subgraph's counters are in Stats.Subgraphs by name.
func (s *Server) Stats() Stats {
	st := s.rec.snapshot()
	meta := s.meta.rec.snapshot()
	st.Metadata = &meta
	stream := s.stream.snapshot()
	st.Stream = &stream
	if len(s.subgraphs) > 0 {
		st.Subgraphs = make(map[string]Stats, len(s.subgraphs))
		for name, e := range s.subgraphs {
			st.Subgraphs[name] = e.rec.snapshot()
		}
	}
	return st
}

// Slugs returns the slugs of all collections in order.
func (s *Server) Slugs() []string {
	out := make([]string, len(s.collections))
	for i, c := range s.collections {
		out[i] = c.info.Slug
	}
	return out
}

// Collection returns the generator's truth about a collection, and false
// for an unknown slug.
func (s *Server) Collection(slug string) (CollectionInfo, bool) {
	c, ok := s.bySlug[slug]
	if !ok {
		return CollectionInfo{}, false
	}
	return c.infoCopy(), true
}

// Token returns the traits the simulator serves for a token now (an empty,
// non-nil slice for a token without traits, nil for a token whose traits
// the API does not know), and false for an unknown slug or identifier.
func (s *Server) Token(slug, identifier string) ([]Trait, bool) {
	c, ok := s.bySlug[slug]
	if !ok {
		return nil, false
	}
	i, ok := c.index(identifier)
	if !ok {
		return nil, false
	}
	return c.tokenTraits(i), true
}

func (c *collection) infoCopy() CollectionInfo {
	info := c.info
	info.TraitTypes = slices.Clone(info.TraitTypes)
	info.NumericTraitTypes = slices.Clone(info.NumericTraitTypes)
	return info
}

// api wraps an endpoint in the request pipeline: count, latency,
// authentication, storm, rate limits, then a drawn fault or the answer.
func (s *Server) api(kind string, h endpointFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		s.rec.request(kind)
		if s.cfg.Latency > 0 && !s.sleep(ctx, s.cfg.Latency) {
			return
		}
		now := s.cfg.Clock()
		key := r.Header.Get("X-API-KEY")
		if len(s.apiKeys) > 0 && !s.apiKeys[key] {
			s.writeValue(w, r, http.StatusUnauthorized, wireErrors{Errors: []string{"invalid or missing API key"}}, true)
			return
		}
		if wait, ok := stormWait(s.cfg, s.start, now); ok {
			s.rec.fault(FaultStorm)
			s.throttle(w, r, wait)
			return
		}
		d := s.limiter.allow(key, now)
		d.setHeaders(w.Header())
		if !d.ok {
			s.rec.rateLimited()
			s.throttle(w, r, d.retryAfter)
			return
		}
		s.rec.served(now)

		p := s.faults.draw()
		switch p.kind {
		case faultError:
			status, body, fault := errorFault(p.variant)
			s.injected(ctx, fault, r)
			s.writeValue(w, r, status, body, true)
			return
		case faultTimeout:
			s.injected(ctx, FaultTimeout, r)
			select {
			case <-ctx.Done():
			case <-s.closed:
				panic(http.ErrAbortHandler) // drop the connection without an answer
			}
			return
		}
		status, v := h(r, now)
		if status != http.StatusOK || (p.kind != faultMalformed && p.kind != faultOversize) {
			s.writeValue(w, r, status, v, true)
			return
		}
		body, err := json.Marshal(v)
		if err != nil {
			s.writeValue(w, r, status, v, true) // reports the error
			return
		}
		if p.kind == faultOversize {
			s.injected(ctx, FaultOversize, r)
			s.rec.status(http.StatusOK)
			if err := writeOversize(w, r, body, s.cfg.OversizeBytes, p.variant%2 == 0, s.pad); err != nil {
				s.logger.DebugContext(ctx, "indexersim: oversize body cut short", slog.String("error", err.Error()))
			}
			return
		}
		body, contentType, fault := malform(kind, body, p.variant)
		s.injected(ctx, fault, r)
		s.writeBytes(w, r, status, contentType, body, true)
	})
}

// injected counts and logs an injected fault.
func (s *Server) injected(ctx context.Context, fault string, r *http.Request) {
	s.rec.fault(fault)
	s.logger.DebugContext(ctx, "indexersim: fault injected",
		slog.String("fault", fault), slog.String("path", r.URL.Path))
}

// sleep waits for d; false when ctx ended first.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// throttle answers 429 with Retry-After, in the body format of the real API.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request, wait time.Duration) {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	noun := "seconds"
	if secs == 1 {
		noun = "second"
	}
	detail := fmt.Sprintf("Request was throttled. Expected available in %d %s.", secs, noun)
	s.writeValue(w, r, http.StatusTooManyRequests, wireThrottled{Detail: detail}, true)
}

// writeValue encodes v as JSON and writes it; count says whether the
// answer is counted in Stats.ByStatus.
func (s *Server) writeValue(w http.ResponseWriter, r *http.Request, status int, v any, count bool) {
	body, err := json.Marshal(v)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "indexersim: encode response", slog.String("error", err.Error()))
		status, body = http.StatusInternalServerError, []byte(`{"errors":["internal error"]}`)
	}
	s.writeBytes(w, r, status, "application/json", body, count)
}

func (s *Server) writeBytes(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte, count bool) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if count {
		s.rec.status(status)
	}
	if _, err := w.Write(body); err != nil {
		s.logger.DebugContext(r.Context(), "indexersim: write response", slog.String("error", err.Error()))
	}
}
