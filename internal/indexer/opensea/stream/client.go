package stream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer/opensea"
)

// Defaults of Options. Heartbeat and join timeout are Phoenix's and
// opensea-js's (30 s, 10 s); the backoff range is opensea-js's reconnect
// schedule (10 ms … 5 s).
const (
	DefaultURL           = "wss://stream-api.opensea.io/socket/websocket"
	DefaultHeartbeat     = 30 * time.Second
	DefaultJoinTimeout   = 10 * time.Second
	DefaultBackoffMin    = 10 * time.Millisecond
	DefaultBackoffMax    = 5 * time.Second
	DefaultMaxFrameBytes = 1 << 20
	// hardLimitFactor bounds a frame that is drained and discarded: a frame
	// beyond MaxFrameBytes×hardLimitFactor closes the connection instead.
	hardLimitFactor = 16
)

// ErrKeyRefused is wrapped by Run's error when the server refuses the API
// key at the websocket upgrade (HTTP 401 or 403). Run does not retry: the
// caller should pause the key loudly, as for a rejected REST key.
var ErrKeyRefused = errors.New("stream: api key refused")

// ErrThrottled is wrapped by the error Handler.Down gets when the server
// answers the upgrade with HTTP 429 or 503. With a Retry-After (seconds or
// an HTTP date), Run waits at least that long, capped at
// opensea.MaxRetryAfter, before it connects again; without one, its own
// backoff.
var ErrThrottled = errors.New("stream: upgrade throttled")

// throttledError is a 429 or 503 answer to the upgrade.
type throttledError struct {
	status     int
	retryAfter time.Duration // 0: none given
}

func (e *throttledError) Error() string {
	if e.retryAfter > 0 {
		return fmt.Sprintf("%s (HTTP %d, Retry-After %s)", ErrThrottled, e.status, e.retryAfter)
	}
	return fmt.Sprintf("%s (HTTP %d)", ErrThrottled, e.status)
}

func (e *throttledError) Unwrap() error { return ErrThrottled }

// Options configure a Client.
type Options struct {
	// URL is the socket endpoint, e.g. DefaultURL. "/websocket" is appended
	// when the path does not end with it (Phoenix's transport suffix), and
	// the query gets token=<APIKey>&vsn=2.0.0. ws, wss, http and https are
	// accepted. Empty means DefaultURL.
	URL string
	// APIKey is sent as the token query parameter. It is never logged and is
	// redacted from errors.
	APIKey string
	// Logger gets connection-level lines (connects, losses, refused joins).
	// Nil discards.
	Logger *slog.Logger
	// Heartbeat is the interval of heartbeats on topic "phoenix"; a
	// heartbeat not answered by the next tick closes the connection. 0
	// means DefaultHeartbeat.
	Heartbeat time.Duration
	// JoinTimeout bounds the wait for a join's reply (and the dial); a join
	// not answered in time is left and retried after backoff. 0 means
	// DefaultJoinTimeout.
	JoinTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect and rejoin delays: the
	// n-th consecutive failure waits min(BackoffMax, BackoffMin×2^(n-1)),
	// jittered down to half of it. 0 means the defaults.
	BackoffMin, BackoffMax time.Duration
	// MaxFrameBytes bounds a frame. A larger frame is read through, discarded
	// and reported to Handler.Malformed (ErrFrameTooLarge) while the
	// connection lives on; one beyond 16 times the bound closes the
	// connection. 0 means DefaultMaxFrameBytes.
	MaxFrameBytes int64
	// EventTypes is the join filter; nil means EventTypes().
	EventTypes []string
	// HTTPClient performs the upgrade; nil means a client without timeout
	// (the dial is bounded by JoinTimeout).
	HTTPClient *http.Client
	// Rand returns jitter in [0, 1); nil means math/rand/v2.
	Rand func() float64
}

// Handler receives what happens on the stream. Calls are serialised (never
// two at once), so a Handler needs no locking of its own; it may call Join
// and Leave. Event is called from the reading goroutine and must not block
// long: the next frame is read after it returns.
type Handler interface {
	// Event is one event of a joined topic, in the order received.
	Event(e Event)
	// Joined reports that a topic was joined, first or after a reconnect or a
	// rejoin: the consumer re-bootstraps that slug.
	Joined(slug string)
	// Left reports that a topic is no longer joined without the connection
	// going down: Leave was called, the server refused the join (reported
	// once until the next Joined), or the channel crashed (phx_error). The
	// client keeps retrying refused and crashed topics until Leave.
	Left(slug string)
	// Down reports that the connection ended or could not be made: every
	// topic is unjoined until Joined again.
	Down(err error)
	// Malformed reports a frame or event that could not be decoded; slug is
	// "" when the frame did not say. The connection lives on.
	Malformed(slug string, raw []byte, err error)
}

// topic states.
const (
	stateIdle    = iota // to be joined
	stateJoining        // join sent, deadline = reply timeout
	stateJoined
	stateWaiting // refused, timed out or crashed; deadline = next attempt
)

type topic struct {
	state    int
	joinRef  string
	deadline time.Time
	tries    int
	// refused is set when a refusal was reported with Left, so repeated
	// refusals of a retrying topic are reported once.
	refused bool
}

// leaveReq is a Leave to report, and to send on connection gen.
type leaveReq struct {
	slug, joinRef string
	gen           uint64
}

// Client is a Stream API client: one websocket connection carrying one
// Phoenix channel per collection. It is safe for concurrent use; Run must
// be called once at a time.
type Client struct {
	url     string // with token: never log
	safeURL string // token redacted
	apiKey  string
	log     *slog.Logger

	heartbeat, joinTimeout time.Duration
	backoffMin, backoffMax time.Duration
	maxFrame               int64
	eventTypes             []string
	httpClient             *http.Client
	rand                   func() float64

	wake chan struct{}
	hmu  sync.Mutex // serialises handler calls

	mu      sync.Mutex
	topics  map[string]*topic
	lefts   []leaveReq
	running bool
	gen     uint64 // connection generation; 0 when not connected
	gens    uint64
	ref     uint64
	hbRef   string // unanswered heartbeat
}

// New returns a Client; it connects when Run is called.
func New(opts Options) (*Client, error) {
	raw := opts.URL
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("stream: parse URL: %w", err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("stream: URL scheme must be ws, wss, http or https, got %q", u.Scheme)
	}
	if u.Host == "" || u.Fragment != "" {
		return nil, fmt.Errorf("stream: URL must be absolute without fragment, got %q", u.Redacted())
	}
	for name, d := range map[string]time.Duration{"Heartbeat": opts.Heartbeat, "JoinTimeout": opts.JoinTimeout, "BackoffMin": opts.BackoffMin, "BackoffMax": opts.BackoffMax} {
		if d < 0 {
			return nil, fmt.Errorf("stream: %s must not be negative, got %s", name, d)
		}
	}
	if opts.MaxFrameBytes < 0 {
		return nil, fmt.Errorf("stream: MaxFrameBytes must not be negative, got %d", opts.MaxFrameBytes)
	}
	if !strings.HasSuffix(u.Path, "/websocket") {
		u.Path = strings.TrimRight(u.Path, "/") + "/websocket"
	}
	q := u.Query()
	q.Set("vsn", vsn)
	q.Del("token")
	safe := *u
	safe.RawQuery = q.Encode() + "&token=REDACTED"
	q.Set("token", opts.APIKey)
	u.RawQuery = q.Encode()

	c := &Client{
		url:         u.String(),
		safeURL:     safe.String(),
		apiKey:      opts.APIKey,
		log:         opts.Logger,
		heartbeat:   cmpOr(opts.Heartbeat, DefaultHeartbeat),
		joinTimeout: cmpOr(opts.JoinTimeout, DefaultJoinTimeout),
		backoffMin:  cmpOr(opts.BackoffMin, DefaultBackoffMin),
		backoffMax:  cmpOr(opts.BackoffMax, DefaultBackoffMax),
		maxFrame:    cmpOr(opts.MaxFrameBytes, DefaultMaxFrameBytes),
		eventTypes:  append([]string(nil), opts.EventTypes...),
		httpClient:  opts.HTTPClient,
		rand:        opts.Rand,
		wake:        make(chan struct{}, 1),
		topics:      make(map[string]*topic),
	}
	if c.backoffMax < c.backoffMin {
		return nil, fmt.Errorf("stream: BackoffMax %s is below BackoffMin %s", c.backoffMax, c.backoffMin)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if opts.EventTypes == nil {
		c.eventTypes = EventTypes()
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	return c, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Join subscribes to the collection's topic: now when connected, else on
// the next (re)connect. It is idempotent; an empty slug is ignored.
func (c *Client) Join(slug string) {
	if slug == "" {
		return
	}
	c.mu.Lock()
	if _, ok := c.topics[slug]; !ok {
		c.topics[slug] = &topic{state: stateIdle}
	}
	c.mu.Unlock()
	c.poke()
}

// Leave unsubscribes from the collection's topic and reports Left; it does
// nothing for a slug that is not joined or being joined.
func (c *Client) Leave(slug string) {
	c.mu.Lock()
	t, ok := c.topics[slug]
	if ok {
		delete(c.topics, slug)
		req := leaveReq{slug: slug, gen: c.gen}
		if t.state == stateJoining || t.state == stateJoined {
			req.joinRef = t.joinRef
		}
		c.lefts = append(c.lefts, req)
	}
	c.mu.Unlock()
	if ok {
		c.poke()
	}
}

// Topics returns the slugs the client is subscribed to (joined or not).
func (c *Client) Topics() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.topics))
	for s := range c.topics {
		out = append(out, s)
	}
	return out
}

func (c *Client) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// Run connects, joins every topic, keeps the connection alive with
// heartbeats and reconnects with capped exponential backoff and jitter
// until ctx ends (an upgrade answered 429 or 503 with a Retry-After waits
// at least that long: ErrThrottled); after every reconnect every topic is
// joined again. It
// returns ctx.Err() when ctx ends, and an error wrapping ErrKeyRefused when
// the server refuses the key at the upgrade (no retry).
func (c *Client) Run(ctx context.Context, h Handler) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return errors.New("stream: Run is already running")
	}
	c.running = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
	}()

	failures := 0
	for {
		proven, err := c.connect(ctx, h)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, ErrKeyRefused) {
			c.log.ErrorContext(ctx, "stream: api key refused; not reconnecting", slog.String("url", c.safeURL), slog.Any("error", err))
			return err
		}
		c.call(func() { h.Down(err) })
		if proven {
			failures = 0
		}
		failures++
		wait := c.backoff(failures)
		var te *throttledError
		if errors.As(err, &te) && te.retryAfter > wait {
			wait = te.retryAfter // the server said when; sooner would be refused again
		}
		c.log.WarnContext(ctx, "stream: connection lost; reconnecting",
			slog.Any("error", err), slog.Duration("in", wait), slog.Int("attempt", failures))
		timer := time.NewTimer(wait)
	waiting:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-c.wake:
				c.reportLefts(h, 0)
			case <-timer.C:
				break waiting
			}
		}
	}
}

// backoff is the jittered delay before the n-th retry (n ≥ 1).
func (c *Client) backoff(n int) time.Duration {
	d := c.backoffMin
	for i := 1; i < n && d < c.backoffMax; i++ {
		d *= 2
	}
	d = min(d, c.backoffMax)
	return d/2 + time.Duration(c.rand()*float64(d/2))
}

// call runs a handler method, serialised, and survives its panics.
func (c *Client) call(fn func()) {
	c.hmu.Lock()
	defer c.hmu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("stream: handler panicked", slog.Any("panic", r))
		}
	}()
	fn()
}

// reportLefts reports pending Leaves and returns the leave frames to send
// on connection gen (none when gen is 0).
func (c *Client) reportLefts(h Handler, gen uint64) [][]byte {
	c.mu.Lock()
	lefts := c.lefts
	c.lefts = nil
	var frames [][]byte
	for _, l := range lefts {
		if gen != 0 && l.gen == gen && l.joinRef != "" {
			if b, err := encodeFrame(l.joinRef, c.nextRef(), topicPrefix+l.slug, phxLeave, struct{}{}); err == nil {
				frames = append(frames, b)
			}
		}
	}
	c.mu.Unlock()
	for _, l := range lefts {
		c.call(func() { h.Left(l.slug) })
	}
	return frames
}

// nextRef returns a fresh ref; c.mu must be held.
func (c *Client) nextRef() string {
	c.ref++
	return strconv.FormatUint(c.ref, 10)
}

// redact removes the API key from an error's text (url.Error quotes the
// URL with its query).
func (c *Client) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = c.safeURL
	}
	if c.apiKey != "" && strings.Contains(err.Error(), c.apiKey) {
		return &redactedError{msg: strings.ReplaceAll(err.Error(), c.apiKey, "REDACTED"), err: err}
	}
	return err
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// connect runs one connection until it ends. proven says the server
// answered something on it, which resets the reconnect backoff.
func (c *Client) connect(ctx context.Context, h Handler) (proven bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.joinTimeout)
	conn, resp, err := websocket.Dial(dctx, c.url, &websocket.DialOptions{HTTPClient: c.httpClient}) //nolint:bodyclose // the library closes the handshake body (its Dial doc)
	cancel()
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return false, fmt.Errorf("%w (HTTP %d at the upgrade)", ErrKeyRefused, resp.StatusCode)
		}
		if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
			ra, _ := opensea.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
			return false, &throttledError{status: resp.StatusCode, retryAfter: ra}
		}
		return false, fmt.Errorf("stream: connect: %w", c.redact(err))
	}
	defer func() { _ = conn.CloseNow() }()
	conn.SetReadLimit(c.maxFrame * hardLimitFactor)

	c.mu.Lock()
	c.gens++
	gen := c.gens
	c.gen = gen
	c.hbRef = ""
	for _, t := range c.topics {
		*t = topic{state: stateIdle}
	}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.gen = 0
		for _, t := range c.topics {
			*t = topic{state: stateIdle}
		}
		c.mu.Unlock()
	}()
	c.log.InfoContext(ctx, "stream: connected", slog.String("url", c.safeURL))

	s := &session{c: c, conn: conn, h: h, gen: gen, readDone: make(chan struct{})}
	sctx, scancel := context.WithCancel(ctx)
	go func() {
		s.readErr = s.readLoop(sctx)
		close(s.readDone)
	}()
	err = s.loop(sctx)
	if ctx.Err() != nil {
		// Say goodbye, briefly: the close handshake needs the reader.
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 100*time.Millisecond)
		go func() { <-cctx.Done(); _ = conn.CloseNow() }()
		_ = conn.Close(websocket.StatusNormalClosure, "")
		ccancel()
	}
	scancel()
	_ = conn.CloseNow()
	<-s.readDone // no handler call after Down
	if err == nil {
		err = s.readErr
	}
	return s.proven.Load(), err
}

// session is one live connection.
type session struct {
	c        *Client
	conn     *websocket.Conn
	h        Handler
	gen      uint64
	proven   atomic.Bool
	readDone chan struct{} // closed when readLoop returned readErr
	readErr  error
}

// loop sends joins, leaves and heartbeats until the connection ends.
func (s *session) loop(ctx context.Context) error {
	c := s.c
	hb := time.NewTicker(c.heartbeat)
	defer hb.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Leaves first: a slug left and joined again must not have its new
		// join followed by the old join's leave.
		frames := c.reportLefts(s.h, s.gen)
		joins, next := s.plan(time.Now())
		frames = append(frames, joins...)
		for _, f := range frames {
			if err := s.write(ctx, f); err != nil {
				return err
			}
		}
		timer.Reset(max(time.Until(next), time.Millisecond))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.readDone:
			return s.readErr
		case <-hb.C:
			c.mu.Lock()
			pending := c.hbRef
			var f []byte
			if pending == "" {
				c.hbRef = c.nextRef()
				f, _ = encodeFrame("", c.hbRef, heartbeatTopic, heartbeatEvent, struct{}{})
			}
			c.mu.Unlock()
			if pending != "" {
				return ErrHeartbeatTimeout
			}
			if err := s.write(ctx, f); err != nil {
				return err
			}
		case <-c.wake:
		case <-timer.C:
		}
	}
}

// plan returns the frames due at now (joins of idle topics and of topics
// whose retry is due, leaves of timed-out joins) and when to look again.
func (s *session) plan(now time.Time) (frames [][]byte, next time.Time) {
	c := s.c
	next = now.Add(time.Hour)
	c.mu.Lock()
	defer c.mu.Unlock()
	join := func(slug string, t *topic) {
		ref := c.nextRef()
		f, err := encodeFrame(ref, ref, topicPrefix+slug, phxJoin, map[string][]string{"event_types": c.eventTypes})
		if err != nil {
			return
		}
		frames = append(frames, f)
		t.state, t.joinRef, t.deadline = stateJoining, ref, now.Add(c.joinTimeout)
	}
	for slug, t := range c.topics {
		switch t.state {
		case stateIdle:
			join(slug, t)
		case stateJoining:
			if !now.Before(t.deadline) {
				// Like Phoenix's channel on a join timeout: leave the
				// unanswered join, retry after backoff.
				if f, err := encodeFrame(t.joinRef, c.nextRef(), topicPrefix+slug, phxLeave, struct{}{}); err == nil {
					frames = append(frames, f)
				}
				t.tries++
				t.state, t.joinRef, t.deadline = stateWaiting, "", now.Add(c.backoff(t.tries))
				c.log.Warn("stream: join timed out; retrying", slog.String("slug", slug), slog.Int("attempt", t.tries))
			}
		case stateWaiting:
			if !now.Before(t.deadline) {
				join(slug, t)
			}
		}
		if (t.state == stateJoining || t.state == stateWaiting) && t.deadline.Before(next) {
			next = t.deadline
		}
	}
	return frames, next
}

func (s *session) write(ctx context.Context, f []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.c.joinTimeout)
	defer cancel()
	if err := s.conn.Write(wctx, websocket.MessageText, f); err != nil {
		return fmt.Errorf("stream: write: %w", err)
	}
	return nil
}

// readLoop reads frames until the connection fails.
func (s *session) readLoop(ctx context.Context) error {
	max := s.c.maxFrame
	for {
		typ, r, err := s.conn.Reader(ctx)
		if err != nil {
			return fmt.Errorf("stream: read: %w", err)
		}
		data, err := io.ReadAll(io.LimitReader(r, max+1))
		if err != nil {
			return fmt.Errorf("stream: read: %w", err)
		}
		if int64(len(data)) > max {
			n, err := io.Copy(io.Discard, r)
			if err != nil {
				return fmt.Errorf("stream: read: %w", err)
			}
			head := data[:min(len(data), 256)]
			s.c.call(func() {
				s.h.Malformed("", head, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, int64(len(data))+n, max))
			})
			continue
		}
		if typ != websocket.MessageText {
			s.c.call(func() { s.h.Malformed("", data, errors.New("binary frame; vsn 2.0.0 JSON frames are text")) })
			continue
		}
		s.handle(data)
	}
}

// handle dispatches one text frame.
func (s *session) handle(data []byte) {
	c, h := s.c, s.h
	f, err := decodeFrame(data)
	if err != nil {
		c.call(func() { h.Malformed("", data, err) })
		return
	}
	if f.Event == phxReply {
		s.reply(f, data)
		return
	}
	if f.Topic == heartbeatTopic {
		return
	}
	slug, ok := slugOf(f.Topic)
	if !ok {
		c.call(func() { h.Malformed("", data, fmt.Errorf("frame topic %q is not a collection topic", f.Topic)) })
		return
	}
	c.mu.Lock()
	t := c.topics[slug]
	// Frames of a topic we left, or of an earlier join of it, are late.
	stale := t == nil || (f.JoinRef != "" && t.joinRef != "" && f.JoinRef != t.joinRef) || t.state == stateWaiting
	crashed := false
	if !stale && (f.Event == phxError || f.Event == phxClose) {
		crashed = t.state == stateJoined
		t.tries++
		t.state, t.joinRef, t.deadline = stateWaiting, "", time.Now().Add(c.backoff(t.tries))
	}
	c.mu.Unlock()
	switch {
	case stale:
		return
	case f.Event == phxError || f.Event == phxClose:
		c.log.Warn("stream: channel closed by the server; rejoining", slog.String("slug", slug), slog.String("event", f.Event))
		if crashed {
			c.call(func() { h.Left(slug) })
		}
		c.poke()
		return
	}
	ev, err := decodeEvent(slug, f)
	if err != nil {
		c.call(func() { h.Malformed(slug, data, err) })
		return
	}
	c.call(func() { h.Event(ev) })
}

// reply handles a phx_reply: heartbeats, and join outcomes.
func (s *session) reply(f frame, data []byte) {
	c, h := s.c, s.h
	s.proven.Store(true)
	var r reply
	if err := json.Unmarshal(f.Payload, &r); err != nil || r.Status == "" {
		if err == nil {
			err = errors.New("reply without status")
		}
		slug, _ := slugOf(f.Topic)
		c.call(func() { h.Malformed(slug, data, fmt.Errorf("phx_reply payload: %w", err)) })
		return
	}
	c.mu.Lock()
	if f.Topic == heartbeatTopic {
		if f.Ref != "" && f.Ref == c.hbRef {
			c.hbRef = ""
		}
		c.mu.Unlock()
		return
	}
	slug, ok := slugOf(f.Topic)
	t := c.topics[slug]
	if !ok || t == nil || t.state != stateJoining || f.Ref == "" || f.Ref != t.joinRef {
		c.mu.Unlock() // a leave's reply, or a late one
		return
	}
	if r.Status == "ok" {
		t.state, t.tries, t.refused = stateJoined, 0, false
		c.mu.Unlock()
		c.call(func() { h.Joined(slug) })
		return
	}
	t.tries++
	t.state, t.joinRef, t.deadline = stateWaiting, "", time.Now().Add(c.backoff(t.tries))
	report := !t.refused
	t.refused = true
	tries := t.tries
	c.mu.Unlock()
	c.log.Warn("stream: join refused; retrying", slog.String("slug", slug), slog.String("status", r.Status),
		slog.String("response", clip.Text(string(r.Response), 200)), slog.Int("attempt", tries))
	if report {
		c.call(func() { h.Left(slug) })
	}
	c.poke()
}
