// Package api is nftsync's client GraphQL API (schema-first with gqlgen:
// schema.graphqls is the contract; generated.go and models_gen.go come from
// `make generate`). The Server serves:
//
//   - /graphql: queries for collections and tokens, admin queries (jobs,
//     jobStats) and admin mutations (track, refresh, retry...), which call
//     the admin package, the same code the CLI runs;
//   - /: GraphiQL, with its assets embedded (it works with no internet);
//   - /console/: the web console (package console; /console redirects
//     there): collections, history charts, tokens, live updates and the
//     operator's actions, its data read from /graphql with the browser's
//     token;
//   - /riverui/: River UI, admin only;
//   - /healthz (process up) and /readyz (database reachable, migrations
//     current).
//
// Hardening: bearer-token auth (admin tokens; optional read tokens), CORS,
// query depth and complexity limits, a maximum page size, a request body
// limit, a per-request timeout and server timeouts. Several replicas may
// serve one database: the server keeps no state of its own.
package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/vektah/gqlparser/v2/ast"
	"riverqueue.com/riverui"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/admin"
	"github.com/nftsync/nftsync/internal/api/console"
	"github.com/nftsync/nftsync/internal/metrics"
)

// Options is the API server's configuration (from NFTSYNC_API_* variables).
type Options struct {
	// Addr is the listen address (host:port; port 0 picks a free one).
	Addr string
	// FallbackAddr, when set, is listened on if Addr cannot be (taken).
	FallbackAddr string
	// AdminTokens may use mutations, admin queries and River UI.
	AdminTokens []string
	// ReadTokens, when any are set, are required for every read; empty
	// means reads are public.
	ReadTokens []string
	// CORSOrigins are the browser origins allowed to call /graphql ("*"
	// allows any).
	CORSOrigins []string
	// MaxDepth and MaxComplexity bound a query; MaxPageSize bounds first.
	MaxDepth      int
	MaxComplexity int
	MaxPageSize   int
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// CacheEntries is how many answers the response cache keeps (LRU); 0
	// means the default, a negative value disables the cache.
	CacheEntries int
	// MaxSubscriptionsPerConnection bounds the subscriptions one websocket
	// connection may hold; MaxConnectionsPerToken the websocket connections
	// one token (or, without a token, one client address) may hold.
	MaxSubscriptionsPerConnection int
	MaxConnectionsPerToken        int
	// WebsocketKeepAlive is how often the server pings a websocket client
	// (a client that does not answer within twice that is dropped);
	// WebsocketInitTimeout how long a new connection may take to send
	// connection_init.
	WebsocketKeepAlive   time.Duration
	WebsocketInitTimeout time.Duration
	// RequestTimeout bounds the work of one request.
	RequestTimeout time.Duration
	// Server timeouts.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	IdleTimeout  time.Duration
	// ShutdownTimeout is how long in-flight requests may finish on stop.
	ShutdownTimeout time.Duration
}

// DefaultOptions is the configuration used for zero fields.
func DefaultOptions() Options {
	return Options{
		Addr: "127.0.0.1:8080", MaxDepth: 15, MaxComplexity: 5000, MaxPageSize: 100,
		MaxBodyBytes: 1 << 20, RequestTimeout: 10 * time.Second, CacheEntries: 4096,
		MaxSubscriptionsPerConnection: 20, MaxConnectionsPerToken: 50, WebsocketKeepAlive: 15 * time.Second, WebsocketInitTimeout: 10 * time.Second,
		ReadTimeout: 15 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 60 * time.Second,
		ShutdownTimeout: 15 * time.Second,
	}
}

func (c *Options) fill() {
	d := DefaultOptions()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	for _, f := range []struct{ v, def *int }{{&c.MaxDepth, &d.MaxDepth}, {&c.MaxComplexity, &d.MaxComplexity}, {&c.MaxPageSize, &d.MaxPageSize},
		{&c.MaxSubscriptionsPerConnection, &d.MaxSubscriptionsPerConnection}, {&c.MaxConnectionsPerToken, &d.MaxConnectionsPerToken}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	if c.CacheEntries == 0 {
		c.CacheEntries = d.CacheEntries
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	for _, f := range []struct{ v, def *time.Duration }{{&c.RequestTimeout, &d.RequestTimeout}, {&c.ReadTimeout, &d.ReadTimeout},
		{&c.WriteTimeout, &d.WriteTimeout}, {&c.IdleTimeout, &d.IdleTimeout}, {&c.ShutdownTimeout, &d.ShutdownTimeout},
		{&c.WebsocketKeepAlive, &d.WebsocketKeepAlive}, {&c.WebsocketInitTimeout, &d.WebsocketInitTimeout}} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
}

// Deps are what the server reads and calls.
type Deps struct {
	DB     *pgxpool.Pool
	River  *river.Client[pgx.Tx]
	Admin  *admin.Service
	Logger *slog.Logger
	// Ready reports whether the database schema is current (for /readyz);
	// nil means only the connection is checked.
	Ready func(ctx context.Context) error
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Metrics, when set, counts and times GraphQL requests by operation
	// and status (serve its registry where the process serves /metrics).
	Metrics *metrics.Metrics
}

// Server is the API's HTTP handler plus its lifecycle.
type Server struct {
	cfg     Options
	deps    Deps
	admins  tokenSet
	readers tokenSet
	mux     *http.ServeMux
	riverUI *riverui.Handler
	hub     *hub
}

// New builds the server. It does not listen; use Run, or Handler with a
// server of your own (then call Start first for River UI).
func New(cfg Options, deps Deps) (*Server, error) {
	cfg.fill()
	if deps.DB == nil || deps.River == nil || deps.Admin == nil || deps.Logger == nil {
		return nil, errors.New("api: DB, River, Admin and Logger are required")
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{cfg: cfg, deps: deps, admins: newTokenSet(cfg.AdminTokens), readers: newTokenSet(cfg.ReadTokens), mux: http.NewServeMux(),
		hub: newHub(deps.DB, deps.Logger.With(slog.String("component", "subscriptions")))}
	ui, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(deps.River, nil),
		Logger:    deps.Logger.With(slog.String("component", "riverui")),
		Prefix:    "/riverui",
	})
	if err != nil {
		return nil, fmt.Errorf("river ui: %w", err)
	}
	s.riverUI = ui
	gql, err := s.graphqlHandler()
	if err != nil {
		return nil, err
	}
	s.mux.Handle("/graphql", gql)
	s.mux.Handle("/riverui/", s.requireAdmin(ui))
	s.mux.Handle("GET /riverui", http.RedirectHandler("/riverui/", http.StatusMovedPermanently))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /assets/", graphiqlAssets())
	s.mux.Handle("GET /console/", http.StripPrefix("/console", console.Handler()))
	s.mux.Handle("GET /console", http.RedirectHandler("/console/", http.StatusMovedPermanently))
	s.mux.HandleFunc("GET /{$}", graphiqlPage)
	return s, nil
}

// Start starts River UI's background caches and the listener that feeds
// subscriptions; they stop when ctx is done.
func (s *Server) Start(ctx context.Context) error {
	if err := s.riverUI.Start(ctx); err != nil {
		return fmt.Errorf("start river ui: %w", err)
	}
	go s.hub.run(ctx)
	return nil
}

// Handler is the server's whole HTTP handler: per-request timeout and the
// routes.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWebsocket(r) {
			// A subscription connection lives as long as the client wants.
			s.mux.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		s.mux.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Run listens on cfg.Addr, calls ready with the bound URL, and serves until
// ctx is done; then it stops accepting, lets in-flight requests finish
// (ShutdownTimeout) and returns.
func (s *Server) Run(ctx context.Context, ready func(url string)) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil && s.cfg.FallbackAddr != "" {
		s.deps.Logger.InfoContext(ctx, "api address taken, using another", slog.String("addr", s.cfg.Addr), slog.Any("error", err))
		ln, err = lc.Listen(ctx, "tcp", s.cfg.FallbackAddr)
	}
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	uiCtx, stopUI := context.WithCancel(context.WithoutCancel(ctx))
	defer stopUI()
	if err := s.Start(uiCtx); err != nil {
		_ = ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: min(5*time.Second, s.cfg.ReadTimeout),
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.deps.Logger.Handler(), slog.LevelWarn),
	}
	url := "http://" + ln.Addr().String()
	s.deps.Logger.InfoContext(ctx, "api listening", slog.String("url", url))
	if ready != nil {
		ready(url)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.deps.Logger.InfoContext(ctx, "api shutting down", slog.Duration("timeout", s.cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func (s *Server) graphqlHandler() (http.Handler, error) {
	r := &resolver{q: db.New(s.deps.DB), stats: newStatsCache(defaultStatsCacheValues), admin: s.deps.Admin, maxPage: s.cfg.MaxPageSize, now: s.deps.Now,
		actorFor: func(ctx context.Context) string { return authFrom(ctx).actor }, hub: s.hub}
	ec := graphqlConfig(r)
	srv := handler.New(NewExecutableSchema(ec))
	srv.AddTransport(s.websocketTransport(&connLimiter{max: s.cfg.MaxConnectionsPerToken, n: map[string]int{}}))
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	// Parsed and validated documents by query text: a client app sends the
	// same few queries over and over (limits still apply per request).
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	// Automatic persisted queries (Apollo's protocol): a client sends the
	// query's SHA-256 alone, and the query with it only when the server
	// answers PERSISTED_QUERY_NOT_FOUND; hash-only requests fit a GET URL,
	// and their answers are cached like any other.
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](1000)})
	srv.Use(extension.Introspection{})
	srv.Use(operationLabel{}) // first: it labels requests the limits refuse too
	srv.Use(depthLimit{max: s.cfg.MaxDepth})
	srv.Use(extension.FixedComplexityLimit(s.cfg.MaxComplexity))
	srv.SetErrorPresenter(presentError(s.deps.Logger))
	srv.SetRecoverFunc(recoverPanic(s.deps.Logger))
	srv.Use(cachePolicy{})
	q := db.New(s.deps.DB)
	cache, err := newRespCache(q, s.cfg.CacheEntries)
	if err != nil {
		return nil, err
	}
	if cache != nil {
		srv.Use(rootFieldCache{cache})
	}
	return s.cors(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start, ri := time.Now(), &requestInfo{}
		if s.deps.Metrics != nil {
			defer func() {
				op, status := ri.labels()
				s.deps.Metrics.ObserveAPIRequest(op, status, time.Since(start))
			}()
		}
		refuse := func(status int, code, msg string) {
			ri.setOperation("none")
			ri.setError(code)
			writeGraphQLError(w, status, code, msg)
		}
		if isWebsocket(req) {
			// Subscriptions: auth and limits come with connection_init.
			ri.setOperation("subscription")
			ctx := context.WithValue(req.Context(), wsPeerKey{}, req.RemoteAddr)
			ctx = context.WithValue(ctx, requestInfoKey{}, ri)
			srv.ServeHTTP(w, req.WithContext(ctx))
			return
		}
		if req.Method != http.MethodPost && req.Method != http.MethodGet {
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			refuse(http.StatusMethodNotAllowed, admin.CodeBadInput, "use POST (or GET) on /graphql")
			return
		}
		a := s.authenticate(req)
		switch {
		case a.role == roleWrong:
			refuse(http.StatusForbidden, codeForbidden, "the token sent is not valid")
			return
		case a.role == roleNone && len(s.readers) > 0:
			refuse(http.StatusUnauthorized, codeUnauthenticated, "this API needs a token: send Authorization: Bearer <token>")
			return
		}
		if req.ContentLength > s.cfg.MaxBodyBytes {
			refuse(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("the request body is over the limit of %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		if len(req.URL.RawQuery) > int(s.cfg.MaxBodyBytes) {
			refuse(http.StatusRequestURITooLong, codeTooLarge, fmt.Sprintf("the query string is over the limit of %d bytes", s.cfg.MaxBodyBytes))
			return
		}
		req.Body = http.MaxBytesReader(w, req.Body, s.cfg.MaxBodyBytes)
		var body []byte
		if req.Method == http.MethodPost {
			var berr *bodyError
			body, berr = readPostBody(req, s.cfg.MaxBodyBytes)
			if berr != nil {
				refuse(berr.status, berr.code, berr.msg)
				return
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		h := &statusHolder{}
		ctx := context.WithValue(req.Context(), authKey{}, a)
		ctx = context.WithValue(ctx, statusKey{}, h)
		ctx = context.WithValue(ctx, requestInfoKey{}, ri)
		var key string
		var rec *cacheRecorder
		if cache != nil {
			request := body
			if req.Method == http.MethodGet {
				request = []byte(req.URL.RawQuery)
			}
			accept := req.Header.Get("Accept")
			key = cacheKey(a.role, accept, req.Method, request)
			looked, _ := cache.entries.Peek(key)
			e, _, err := cache.current(ctx, key)
			if err == nil && e == nil {
				// A miss: when the same request is being resolved, wait for
				// that and look again (it is cached unless it may not be).
				done, wait := cache.resolving(key)
				if wait != nil {
					select {
					case <-wait:
					case <-ctx.Done():
					}
					e, _, err = cache.current(ctx, key)
				} else {
					defer done()
					// Another resolution may have ended between the look and
					// the registration: then it stored another entry.
					if now, _ := cache.entries.Peek(key); now != looked {
						e, _, err = cache.current(ctx, key)
					}
				}
			}
			if err != nil {
				s.deps.Logger.WarnContext(ctx, "response cache: versions unreadable, resolving", slog.Any("error", err))
			}
			if e != nil {
				ri.setOperation(e.operation)
				w.Header().Set("X-Cache", "hit")
				serveCached(w, req, http.StatusOK, e.etag, e.contentType, e.body, e.maxAge, len(s.readers) > 0 || a.role != roleNone)
				return
			}
			rec = &cacheRecorder{versions: map[int64]db.APICollectionDataVersionRow{}, q: q, key: key}
			ctx = context.WithValue(ctx, cacheRecorderKey{}, rec)
		}
		// Loaders only now: a cache hit needs none.
		ctx = withLoaders(ctx, newLoaders(q))
		cw := &captureWriter{ResponseWriter: w}
		srv.ServeHTTP(&statusWriter{ResponseWriter: cw, h: h}, req.WithContext(ctx))
		status := cw.status
		if status == 0 {
			status = http.StatusOK
		}
		answer := cw.buf.Bytes()
		etag := etagOf(answer)
		var maxAge time.Duration
		if rec != nil && status == http.StatusOK {
			op, _ := ri.labels()
			if e := rec.entry(bytes.Clone(answer), etag, w.Header().Get("Content-Type"), op); e != nil {
				cache.entries.Add(key, e)
				w.Header().Set("X-Cache", "miss")
				maxAge = e.maxAge
			}
		}
		serveCached(w, req, status, etag, "", answer, maxAge, len(s.readers) > 0 || a.role != roleNone)
	})), nil
}

func graphqlConfig(r *resolver) Config {
	c := Config{Resolvers: r}
	c.Directives.Admin = adminDirective
	setComplexity(&c.Complexity)
	return c
}

// requireAdmin guards River UI: without a token it asks the browser for
// basic-auth credentials (any user name, an admin token as password).
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch s.authenticate(r).role {
		case roleAdmin:
			next.ServeHTTP(w, r)
		case roleNone:
			w.Header().Set("WWW-Authenticate", `Basic realm="nftsync admin (password: an admin token)"`)
			http.Error(w, "401 unauthorized: River UI needs an admin token", http.StatusUnauthorized)
		default:
			http.Error(w, "403 forbidden: the token sent is not an admin token", http.StatusForbidden)
		}
	})
}

// cors answers preflight requests and marks responses for allowed origins.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && (slices.Contains(s.cfg.CORSOrigins, "*") || slices.Contains(s.cfg.CORSOrigins, origin))
		w.Header().Add("Vary", "Origin")
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method == http.MethodOptions {
			if allowed {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
				w.Header().Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			w.WriteHeader(http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readyz answers 200 when the database answers and its schema is current.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := s.deps.DB.Ping(ctx); err != nil {
		s.deps.Logger.WarnContext(ctx, "readyz: database unreachable", slog.Any("error", err))
		http.Error(w, "database unreachable", http.StatusServiceUnavailable)
		return
	}
	if s.deps.Ready != nil {
		if err := s.deps.Ready(ctx); err != nil {
			s.deps.Logger.WarnContext(ctx, "readyz: not ready", slog.Any("error", err))
			msg := "not ready"
			if strings.Contains(err.Error(), "migration") {
				msg = "database migrations are not current"
			}
			http.Error(w, msg, http.StatusServiceUnavailable)
			return
		}
	}
	_, _ = w.Write([]byte("ok\n"))
}
