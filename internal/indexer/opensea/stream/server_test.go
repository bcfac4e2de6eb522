package stream

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/stretchr/testify/require"
)

// phxServer is a Phoenix Channels v2 server speaking the Stream API's
// subset over a real websocket: it checks token and vsn at the upgrade,
// answers heartbeats and joins, and lets the test push frames.
type phxServer struct {
	t        *testing.T
	srv      *httptest.Server
	key      string
	refuse   atomic.Int32 // refuse upgrades with this HTTP status; 0 accepts
	silentHB atomic.Bool  // do not answer heartbeats
	upgrades atomic.Int32
	conns    chan *srvConn

	mu sync.Mutex
	// joinPolicy says how to answer the n-th join (1-based) of a topic:
	// "ok", "error" or "none" (no answer). Nil answers "ok".
	joinPolicy func(topic string, n int) string
	joins      map[string]int
}

// srvConn is one accepted connection.
type srvConn struct {
	c    *websocket.Conn
	in   chan frame // every frame the client sent
	done chan struct{}

	mu       sync.Mutex
	joinRefs map[string]string
}

func newPhxServer(t *testing.T) *phxServer {
	t.Helper()
	s := &phxServer{t: t, key: "sk-stream-0123456789", conns: make(chan *srvConn, 16), joins: map[string]int{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// url is the endpoint as a client would be configured, without the suffix.
func (s *phxServer) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") + "/socket" }

func (s *phxServer) setJoinPolicy(p func(topic string, n int) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.joinPolicy = p
}

func (s *phxServer) serve(w http.ResponseWriter, r *http.Request) {
	s.upgrades.Add(1)
	if r.URL.Path != "/socket/websocket" || r.URL.Query().Get("vsn") != "2.0.0" {
		http.Error(w, "bad path or vsn", http.StatusBadRequest)
		return
	}
	if code := int(s.refuse.Load()); code != 0 || r.URL.Query().Get("token") != s.key {
		if code == 0 {
			code = http.StatusUnauthorized
		}
		http.Error(w, `{"errors":["invalid api key"]}`, code)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(-1)
	sc := &srvConn{c: c, in: make(chan frame, 256), done: make(chan struct{}), joinRefs: map[string]string{}}
	s.conns <- sc
	defer close(sc.done)
	ctx := context.Background()
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			return
		}
		f, err := decodeFrame(data)
		if err != nil {
			s.t.Errorf("client sent a malformed frame %s: %v", data, err)
			return
		}
		select {
		case sc.in <- f:
		default:
		}
		switch f.Event {
		case heartbeatEvent:
			if !s.silentHB.Load() {
				sc.send(f.JoinRef, f.Ref, heartbeatTopic, phxReply, map[string]any{"status": "ok", "response": map[string]any{}})
			}
		case phxJoin:
			s.mu.Lock()
			s.joins[f.Topic]++
			answer := "ok"
			if s.joinPolicy != nil {
				answer = s.joinPolicy(f.Topic, s.joins[f.Topic])
			}
			s.mu.Unlock()
			sc.mu.Lock()
			sc.joinRefs[f.Topic] = f.JoinRef
			sc.mu.Unlock()
			switch answer {
			case "ok":
				sc.send(f.JoinRef, f.Ref, f.Topic, phxReply, map[string]any{"status": "ok", "response": map[string]any{}})
			case "error":
				sc.send(f.JoinRef, f.Ref, f.Topic, phxReply, map[string]any{"status": "error", "response": map[string]any{"reason": "unmatched topic"}})
			}
		case phxLeave:
			sc.send(f.JoinRef, f.Ref, f.Topic, phxReply, map[string]any{"status": "ok", "response": map[string]any{}})
		}
	}
}

// conn waits for the next accepted connection.
func (s *phxServer) conn(t *testing.T) *srvConn {
	t.Helper()
	select {
	case sc := <-s.conns:
		return sc
	case <-time.After(5 * time.Second):
		t.Fatal("no connection")
		return nil
	}
}

func (sc *srvConn) send(joinRef, ref, topic, event string, payload any) {
	b, err := encodeFrame(joinRef, ref, topic, event, payload)
	if err != nil {
		panic(err)
	}
	sc.raw(b)
}

// raw writes one text frame; errors (a closed connection) are ignored.
func (sc *srvConn) raw(b []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sc.c.Write(ctx, websocket.MessageText, b)
}

// next waits for the next frame of the client with the given event.
func (sc *srvConn) next(t *testing.T, event string) frame {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f := <-sc.in:
			if f.Event == event {
				return f
			}
		case <-deadline:
			t.Fatalf("client sent no %s", event)
		}
	}
}

// recorder is a Handler that logs every call.
type recorder struct {
	mu     sync.Mutex
	log    []string
	events []Event
	bad    []error
	downs  []error
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) Event(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	r.add("event:" + e.Slug + ":" + e.Type)
}
func (r *recorder) Joined(slug string) { r.add("joined:" + slug) }
func (r *recorder) Left(slug string)   { r.add("left:" + slug) }
func (r *recorder) Down(err error) {
	r.mu.Lock()
	r.downs = append(r.downs, err)
	r.mu.Unlock()
	r.add("down")
}
func (r *recorder) Malformed(slug string, raw []byte, err error) {
	r.mu.Lock()
	r.bad = append(r.bad, err)
	r.mu.Unlock()
	r.add("malformed:" + slug)
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// count returns how many log entries equal s.
func (r *recorder) count(s string) int {
	n := 0
	for _, e := range r.snapshot() {
		if e == s {
			n++
		}
	}
	return n
}

// waitCount waits until s was logged at least n times.
func (r *recorder) waitCount(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for r.count(s) < n {
		select {
		case <-r.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("waited for %d× %q; log: %v", n, s, r.snapshot())
		}
	}
}

// startClient runs a client against srv until the test ends and returns
// Run's result channel.
func startClient(t *testing.T, srv *phxServer, opts Options, h Handler, slugs ...string) (*Client, <-chan error, context.CancelFunc) {
	t.Helper()
	opts.URL = srv.url()
	if opts.APIKey == "" {
		opts.APIKey = srv.key
	}
	if opts.BackoffMin == 0 {
		opts.BackoffMin = 5 * time.Millisecond
	}
	if opts.BackoffMax == 0 {
		opts.BackoffMax = 50 * time.Millisecond
	}
	c, err := New(opts)
	require.NoError(t, err)
	for _, s := range slugs {
		c.Join(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, h)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return c, done, cancel
}

// requireJoinFrame checks a phx_join frame: join_ref equals ref and the
// payload carries the full event_types list.
func requireJoinFrame(t *testing.T, f frame, topic string) {
	t.Helper()
	require.Equal(t, topic, f.Topic)
	require.NotEmpty(t, f.Ref)
	require.Equal(t, f.Ref, f.JoinRef)
	var p struct {
		EventTypes []string `json:"event_types"`
	}
	require.NoError(t, json.Unmarshal(f.Payload, &p))
	require.Equal(t, EventTypes(), p.EventTypes)
}
