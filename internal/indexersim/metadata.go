package indexersim

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Token metadata: every token's own document (its tokenURI), in the OpenSea
// metadata standard (https://docs.opensea.io/docs/metadata-standards): name,
// description, image, external_url and attributes [{trait_type, value,
// display_type, max_value}]. The attributes are the token's traits as the
// single-NFT endpoint sends them (one generator, c.tokenTraits), so either
// trait source yields the same ground truth.
//
// The metadata_url a collection's tokens carry depends on the collection
// (MetadataScheme):
//
//	http  http://<host the client used>/metadata/{slug}/{id}, served here
//	ipfs  ipfs://<cid>/{id}, served by the simulated gateway at
//	      MetadataConfig.GatewayPath + <cid>/{id} (default /ipfs/)
//	data  data:application/json;base64,<document> (on-chain metadata)

// Metadata URL schemes of MetadataScheme.
const (
	MetadataHTTP = "http"
	MetadataIPFS = "ipfs"
	MetadataData = "data"
)

// Endpoint kinds of metadata requests, the keys of Stats.Metadata.ByEndpoint.
const (
	EndpointMetadata = "metadata"     // GET /metadata/{slug}/{id}
	EndpointGateway  = "ipfs_gateway" // GET {GatewayPath}{cid}/{id}
)

// Metadata faults, the keys of Stats.Metadata.Faults.
const (
	FaultMetadataNotFound = "metadata_not_found"
	FaultMetadataSlow     = "metadata_slow"
	FaultMetadataOversize = "metadata_oversize"
	FaultMetadataNotJSON  = "metadata_not_json"
)

// DefaultGatewayPath is where the simulated IPFS gateway serves /ipfs/<cid>/…
const DefaultGatewayPath = "/ipfs/"

// DefaultSlowDelay is how long a slow metadata answer takes when
// MetadataConfig.SlowDelay is 0: longer than a metadata client's timeout.
const DefaultSlowDelay = 30 * time.Second

// MetadataConfig configures the token metadata documents. The fault rates
// are the shares of tokens whose document is broken, each token always the
// same way (a token's metadata is broken for good, as on a real host; see
// Server.MetadataFault): 404, an answer after SlowDelay, a body of
// Config.OversizeBytes, or an answer that is not JSON (an HTML page or a
// truncated document). data: URLs have no faults.
type MetadataConfig struct {
	// GatewayPath is the path prefix of the simulated IPFS gateway, starting
	// and ending with "/". Empty means DefaultGatewayPath.
	GatewayPath string
	// Rate is the metadata requests per second (http and gateway together)
	// answered before 429 with Retry-After; 0 means unlimited. Burst is the
	// bucket's capacity, 0 meaning ceil(Rate).
	Rate  float64
	Burst int

	NotFoundRate float64
	SlowRate     float64
	OversizeRate float64
	NotJSONRate  float64
	// SlowDelay is how long a slow document takes. 0 means DefaultSlowDelay.
	SlowDelay time.Duration
}

func (m MetadataConfig) withDefaults() MetadataConfig {
	if m.GatewayPath == "" {
		m.GatewayPath = DefaultGatewayPath
	}
	if m.SlowDelay == 0 {
		m.SlowDelay = DefaultSlowDelay
	}
	return m
}

func (m MetadataConfig) validate() error {
	m = m.withDefaults()
	var errs []error
	if !strings.HasPrefix(m.GatewayPath, "/") || !strings.HasSuffix(m.GatewayPath, "/") ||
		strings.ContainsAny(m.GatewayPath, "{}?# ") || strings.HasPrefix(m.GatewayPath, "/api/") ||
		strings.HasPrefix(m.GatewayPath, "/_sim/") || strings.HasPrefix(m.GatewayPath, "/metadata/") {
		errs = append(errs, fmt.Errorf("metadata gateway path must start and end with / and not clash with other paths, got %q", m.GatewayPath))
	}
	if m.Rate < 0 || m.Rate != m.Rate || m.Burst < 0 {
		errs = append(errs, fmt.Errorf("metadata rate and burst must be >= 0, got %v and %d", m.Rate, m.Burst))
	}
	sum := 0.0
	for name, v := range map[string]float64{"not found": m.NotFoundRate, "slow": m.SlowRate, "oversize": m.OversizeRate, "not JSON": m.NotJSONRate} {
		if !(v >= 0 && v <= 1) {
			errs = append(errs, fmt.Errorf("metadata %s rate must be in [0, 1], got %v", name, v))
		}
		sum += v
	}
	if sum > 1 {
		errs = append(errs, fmt.Errorf("metadata fault rates must add up to at most 1, got %v", sum))
	}
	if m.SlowDelay < 0 {
		errs = append(errs, fmt.Errorf("metadata slow delay must be >= 0, got %s", m.SlowDelay))
	}
	return errors.Join(errs...)
}

// Purpose tags of the metadata hash streams (far from gen.go's).
const (
	tagMetaFault uint64 = 0x6d657461 + iota
	tagMetaVariant
)

// metadataService serves the documents: its own rate limit and counters,
// apart from the OpenSea API's (a metadata host is another upstream).
type metadataService struct {
	cfg     MetadataConfig
	limiter *limiter
	rec     *recorder
	byCID   map[string]*collection
}

func newMetadataService(cfg Config, collections []*collection) *metadataService {
	m := &metadataService{
		cfg:     cfg.Metadata.withDefaults(),
		limiter: newLimiter(Config{Rate: cfg.Metadata.Rate, Burst: cfg.Metadata.Burst}.withDefaults()),
		rec:     newRecorder(),
		byCID:   make(map[string]*collection, len(collections)),
	}
	for _, c := range collections {
		m.byCID[c.cid] = c
	}
	return m
}

// metadataRoutes registers the metadata and gateway endpoints on mux.
func (s *Server) metadataRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /metadata/{slug}/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.bySlug[r.PathValue("slug")]
		s.serveMetadata(w, r, EndpointMetadata, c, ok)
	})
	mux.HandleFunc("GET "+s.meta.cfg.GatewayPath+"{cid}/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, ok := s.meta.byCID[r.PathValue("cid")]
		s.serveMetadata(w, r, EndpointGateway, c, ok)
	})
}

// metadataScheme is collection c's metadata_url scheme: by collection
// number (sim-collection-NNN), http for half of them, ipfs for a quarter,
// data for a quarter.
func (c *collection) metadataScheme() string {
	n, _ := strconv.Atoi(strings.TrimPrefix(c.info.Slug, "sim-collection-"))
	switch n % 4 {
	case 1:
		return MetadataIPFS
	case 3:
		return MetadataData
	}
	return MetadataHTTP
}

// MetadataScheme returns the scheme of a collection's metadata URLs
// (MetadataHTTP, MetadataIPFS or MetadataData), "" for an unknown slug.
func (s *Server) MetadataScheme(slug string) string {
	c, ok := s.bySlug[slug]
	if !ok {
		return ""
	}
	return c.metadataScheme()
}

// metadataURL is token i's metadata_url as the list and single-NFT answers
// send it. An http URL names the host the request came to (r.Host), so it
// works behind any listen address.
func (s *Server) metadataURL(r *http.Request, c *collection, i int) string {
	id := strconv.Itoa(firstTokenID + i)
	switch c.metadataScheme() {
	case MetadataIPFS:
		return "ipfs://" + c.cid + "/" + id
	case MetadataData:
		return "data:application/json;base64," + base64.StdEncoding.EncodeToString(c.metadataDocument(i))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/metadata/" + c.info.Slug + "/" + id
}

// wireMetadata is a metadata document (OpenSea metadata standard).
type wireMetadata struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Image       string `json:"image"`
	ExternalURL string `json:"external_url"`
	// Attributes is left out for a token whose traits are unknown (the
	// document says nothing about them), and [] for a token without traits.
	Attributes *[]wireAttribute `json:"attributes,omitempty"`
}

// wireAttribute is one attribute: display_type and max_value are left out
// when the trait has none (documents omit them rather than send null),
// numbers are JSON numbers.
type wireAttribute struct {
	TraitType   string `json:"trait_type"`
	Value       any    `json:"value"`
	DisplayType string `json:"display_type,omitempty"`
	MaxValue    any    `json:"max_value,omitempty"`
}

// metadataDocument renders token i's document as it is now.
func (c *collection) metadataDocument(i int) []byte {
	id := strconv.Itoa(firstTokenID + i)
	traits := c.tokenTraits(i)
	doc := wireMetadata{
		Name:        c.info.Name + " #" + id,
		Description: c.description,
		Image:       "ipfs://" + c.cid + "/images/" + id + ".png",
		ExternalURL: "https://example.org/" + c.info.Slug + "/" + id,
	}
	attrs := make([]wireAttribute, len(traits))
	if traits != nil {
		doc.Attributes = &attrs
	}
	for k, t := range traits {
		a := wireAttribute{TraitType: t.Type, Value: t.Value, DisplayType: t.DisplayType}
		if t.Numeric {
			a.Value = json.Number(t.Value)
		}
		if t.MaxValue != "" {
			if _, err := strconv.ParseInt(t.MaxValue, 10, 64); err == nil {
				a.MaxValue = json.Number(t.MaxValue)
			} else {
				a.MaxValue = t.MaxValue
			}
		}
		attrs[k] = a
	}
	body, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("indexersim: encode metadata document: %v", err)) // only strings and numbers
	}
	return body
}

// metadataFault returns the fault of token i's document ("" for none): a
// pure function of (seed, slug, i) and the configured rates.
func (s *Server) metadataFault(c *collection, i int) string {
	m := s.meta.cfg
	u := unit(hash(c.seed, tagMetaFault, uint64(i)))
	for _, f := range []struct {
		rate  float64
		fault string
	}{{m.NotFoundRate, FaultMetadataNotFound}, {m.SlowRate, FaultMetadataSlow}, {m.OversizeRate, FaultMetadataOversize}, {m.NotJSONRate, FaultMetadataNotJSON}} {
		if u < f.rate {
			return f.fault
		}
		u -= f.rate
	}
	return ""
}

// MetadataFault returns the fault a token's metadata document is served
// with (a FaultMetadata* constant, "" for none), and false for an unknown
// slug or identifier. Tokens with data: URLs never have one.
func (s *Server) MetadataFault(slug, identifier string) (string, bool) {
	c, ok := s.bySlug[slug]
	if !ok {
		return "", false
	}
	i, ok := c.index(identifier)
	if !ok {
		return "", false
	}
	if c.metadataScheme() == MetadataData {
		return "", true
	}
	return s.metadataFault(c, i), true
}

// serveMetadata answers a metadata request for collection c (found says
// whether the path named one): rate limit, then the token's fault or its
// document. The gateway sends documents as text/plain, as IPFS gateways
// do for a file without an extension (they sniff the content type, and
// sniffing calls JSON text); the http host sends application/json.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request, kind string, c *collection, found bool) {
	ctx := r.Context()
	rec := s.meta.rec
	rec.request(kind)
	now := s.cfg.Clock()
	if d := s.meta.limiter.allow("", now); !d.ok {
		d.setHeaders(w.Header())
		rec.rateLimited()
		s.throttleWith(w, r, d.retryAfter, rec)
		return
	}
	rec.served(now)
	i, ok := 0, found
	if ok {
		i, ok = c.index(r.PathValue("id"))
	}
	if !ok {
		s.writeMetadataNotFound(w, r, kind)
		return
	}
	fault := s.metadataFault(c, i)
	if fault != "" {
		rec.fault(fault)
		s.logger.DebugContext(ctx, "indexersim: metadata fault", slog.String("fault", fault), slog.String("path", r.URL.Path))
	}
	switch fault {
	case FaultMetadataNotFound:
		s.writeMetadataNotFound(w, r, kind)
		return
	case FaultMetadataSlow:
		if !s.sleep(ctx, s.meta.cfg.SlowDelay) {
			return
		}
	}
	body := c.metadataDocument(i)
	contentType := "application/json"
	if kind == EndpointGateway {
		contentType = "text/plain; charset=utf-8"
	}
	variant := hash(c.seed, tagMetaVariant, uint64(i))
	switch fault {
	case FaultMetadataOversize:
		rec.status(http.StatusOK)
		if err := writeOversize(w, r, body, s.cfg.OversizeBytes, variant%2 == 0, s.pad); err != nil {
			s.logger.DebugContext(ctx, "indexersim: oversize metadata cut short", slog.String("error", err.Error()))
		}
		return
	case FaultMetadataNotJSON:
		if variant%2 == 0 {
			body, contentType = []byte("<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>"), "text/html; charset=utf-8"
		} else {
			body = body[:len(body)/2]
		}
	}
	s.writeCounted(w, r, http.StatusOK, contentType, body, rec)
}

// writeMetadataNotFound answers 404 the way each kind of host does.
func (s *Server) writeMetadataNotFound(w http.ResponseWriter, r *http.Request, kind string) {
	if kind == EndpointGateway {
		msg := "ipfs resolve -L " + r.URL.Path + ": no link named \"" + r.PathValue("id") + "\" under " + r.PathValue("cid") + "\n"
		s.writeCounted(w, r, http.StatusNotFound, "text/plain; charset=utf-8", []byte(msg), s.meta.rec)
		return
	}
	s.writeCounted(w, r, http.StatusNotFound, "application/json", []byte(`{"error":"token not found"}`), s.meta.rec)
}

// writeCounted writes a body and counts its status in rec.
func (s *Server) writeCounted(w http.ResponseWriter, r *http.Request, status int, contentType string, body []byte, rec *recorder) {
	s.writeBytes(w, r, status, contentType, body, false)
	rec.status(status)
}

// throttleWith answers 429 with Retry-After and counts it in rec.
func (s *Server) throttleWith(w http.ResponseWriter, r *http.Request, wait time.Duration, rec *recorder) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
	s.writeCounted(w, r, http.StatusTooManyRequests, "application/json", []byte(`{"error":"rate limited"}`), rec)
}
