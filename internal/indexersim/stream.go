package indexersim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// The Stream API: OpenSea's push endpoint, Phoenix Channels over a
// websocket, as its SDKs speak it (ProjectOpenSea/stream-js src/client.ts,
// src/types.ts, src/constants.ts and README "Event Versioning"; opensea-js
// src/stream/client.ts and developerDocs/stream-migration.md), framed by
// Phoenix's V2 JSON serializer (phoenixframework/phoenix
// lib/phoenix/socket/serializers/v2_json_serializer.ex):
//
//	connect   GET /socket/websocket?token=<API key>&vsn=2.0.0
//	          an unknown or refused key gets 403 at the upgrade (Phoenix's
//	          answer when a socket's connect refuses), another vsn 400
//	client    [join_ref, ref, topic, event, payload]
//	join      [jr, r, "collection:<slug>", "phx_join", {"event_types": [...]}]
//	          -> [jr, r, topic, "phx_reply", {"status": "ok", "response": {}}]
//	          or "status": "error" with {"reason": ...}
//	heartbeat [null, r, "phoenix", "heartbeat", {}]
//	          -> [null, r, "phoenix", "phx_reply", {"status": "ok", "response": {}}]
//	leave     [jr, r, topic, "phx_leave", {}] -> ok reply, then
//	          [jr, jr, topic, "phx_close", {}]
//	event     [null, null, "collection:<slug>", "<event_type>",
//	           {"event_type", "version", "sent_at", "payload"}]
//
// A message on a topic not joined gets an error reply with reason
// "unmatched topic", as in Phoenix. The event_types join filter limits
// which event types a topic receives (opensea-js sends the filter in the
// join; without one a topic gets every type). Only events that happen
// after the join are pushed: delivery is best effort, with no resend and
// no replay cursor (stream-js README). Streamed events are not requests:
// they count against no REST limit and are not in Stats.Requests.
//
// version follows the README's table: order events (item_listed,
// item_cancelled, order_invalidate, order_revalidate) carry the order's
// revision counter (1 when listed, +1 per later order event); item events
// (item_sold, item_transferred, item_metadata_updated) carry the epoch
// milliseconds of their source time. The collection:* wildcard topic is
// not simulated (its join is refused with a reason saying so).
//
// Unlike OpenSea's, the simulator's join can be slow: a book read for the
// first time replays the last six hours of its market, seconds of work at
// the highest listing rate (book.go). So a join is answered once its book
// is ready, joins in the order they came, while the connection goes on
// answering heartbeats and pushing the other topics' events; a join left
// before it was answered (a client's join timed out) is never answered.
// Every reply is written ahead of the events queued for the client, so a
// burst of events, or a client reading slowly, never delays a heartbeat's
// answer; a client that reads nothing at all is cut off.

// streamTimeLayout is how the Stream API writes times (Python isoformat
// with microseconds and the UTC offset).
const streamTimeLayout = "2006-01-02T15:04:05.000000+00:00"

// StreamStats are the Stream API's counters since the Server was created.
type StreamStats struct {
	// Connections counts accepted websocket connections; Open is how many
	// are open now.
	Connections int64 `json:"connections"`
	Open        int64 `json:"open"`
	// Refused counts upgrades refused for an unknown or refused key (403)
	// or a wrong vsn (400).
	Refused int64 `json:"refused"`
	// Joins and JoinErrors count phx_join answered ok and error; Leaves
	// counts phx_leave; Heartbeats counts heartbeats answered.
	Joins      int64 `json:"joins"`
	JoinErrors int64 `json:"join_errors"`
	Leaves     int64 `json:"leaves"`
	Heartbeats int64 `json:"heartbeats"`
	// Events counts the events due to subscribers (after the join filter)
	// by event type, before faults: what a perfect stream would deliver.
	Events map[string]int64 `json:"events"`
	// Sent counts event frames written, duplicates and replays included.
	Sent int64 `json:"sent"`
	// Dropped, Duplicated, Reordered and Replayed count the injected
	// faults: events never sent, sent twice, sent after the event that
	// followed them, and older events re-sent (stale replays).
	Dropped    int64 `json:"dropped"`
	Duplicated int64 `json:"duplicated"`
	Reordered  int64 `json:"reordered"`
	Replayed   int64 `json:"replayed"`
	// Disconnects counts connections closed abruptly by the
	// DisconnectEvery fault.
	Disconnects int64 `json:"disconnects"`
	// Malformed counts client frames that were not a Phoenix V2 message.
	Malformed int64 `json:"malformed"`
	// Lost counts events a connection fell too far behind to read.
	Lost int64 `json:"lost"`
}

type streamRecorder struct {
	mu sync.Mutex
	st StreamStats
}

func newStreamRecorder() *streamRecorder {
	return &streamRecorder{st: StreamStats{Events: map[string]int64{}}}
}

func (r *streamRecorder) add(f func(*StreamStats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.st)
}

func (r *streamRecorder) snapshot() StreamStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.st
	s.Events = maps.Clone(s.Events)
	return s
}

// StreamStats returns a snapshot of the Stream API's counters.
func (s *Server) StreamStats() StreamStats { return s.stream.snapshot() }

// streamKeyOK says whether token may open a stream connection.
func (s *Server) streamKeyOK(token string) bool {
	for _, k := range s.cfg.Stream.RefusedKeys {
		if k == token {
			return false
		}
	}
	return len(s.apiKeys) == 0 || s.apiKeys[token]
}

// serveSocket upgrades GET /socket/websocket to a Phoenix V2 connection.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if vsn := q.Get("vsn"); vsn != "2.0.0" {
		s.stream.add(func(st *StreamStats) { st.Refused++ })
		http.Error(w, "unsupported vsn "+strconv.Quote(vsn)+": the Stream API speaks Phoenix V2 (vsn=2.0.0)", http.StatusBadRequest)
		return
	}
	if !s.streamKeyOK(q.Get("token")) {
		s.stream.add(func(st *StreamStats) { st.Refused++ })
		w.WriteHeader(http.StatusForbidden)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.logger.DebugContext(r.Context(), "indexersim: websocket accept", slog.String("error", err.Error()))
		return
	}
	ws.SetReadLimit(1 << 20)
	id := s.connSeq.Add(1)
	s.stream.add(func(st *StreamStats) { st.Connections++; st.Open++ })
	defer s.stream.add(func(st *StreamStats) { st.Open-- })
	c := &streamConn{
		s: s, ws: ws, r: r, id: id,
		rng:       rng{s: hash(uint64(s.cfg.Seed), 0x57ea, id)},
		joined:    map[string]*topicSub{},
		connected: s.cfg.Clock(),
		lastVer:   map[uint64]int64{},
		ctrl:      make(chan []byte, ctrlQueue),
		events:    make(chan outFrame, eventQueue),
		warmed:    make(chan warmed, 16),
	}
	c.run(r.Context())
}

// topicSub is one joined topic of a connection.
type topicSub struct {
	topic   string
	c       *collection // nil for a slug the simulator does not know
	joinRef json.RawMessage
	next    uint64          // the book's next event to push
	filter  map[string]bool // nil: every event type
	// left is set when the topic is left or joined again: its events
	// still queued are not written after the leave's reply.
	left atomic.Bool
}

// pendingJoin is a join whose book is being brought up to date (a book
// read for the first time replays the last maxLife: at a high listing
// rate that takes seconds, see book.advanceTo). Joins are answered in the
// order they came, as Phoenix answers them.
type pendingJoin struct {
	m      inMsg
	sub    *topicSub
	next   uint64
	done   bool
	cancel bool // left or joined again before it was answered
}

// warmed reports a pending join whose subscription is in place.
type warmed struct {
	p    *pendingJoin
	next uint64
}

// outFrame is a frame for the writer; sub is set for event frames.
type outFrame struct {
	sub   *topicSub
	frame []byte
}

// sentFrame is an event frame kept for stale replays.
type sentFrame struct {
	sub   *topicSub
	key   uint64
	ver   int64
	frame []byte
}

// streamConn is one websocket connection. One goroutine (run) owns its
// state and does every write; another reads frames into inbound.
type streamConn struct {
	s         *Server
	ws        *websocket.Conn
	r         *http.Request
	id        uint64
	rng       rng
	subs      []*topicSub // in join order, so faults are drawn in a stable order
	joined    map[string]*topicSub
	connected time.Time

	held     outFrame   // a reordered frame waiting for the next one
	heldAt   time.Time  // wall time it was held
	later    []outFrame // duplicates, sent at the next tick
	history  []sentFrame
	histNext int
	lastVer  map[uint64]int64

	// The writer goroutine writes every frame. Replies (ctrl) always go
	// before queued events, so a client reading slowly or a burst of
	// events never delays a heartbeat's or a join's answer; events wait
	// in their queue, and while it is half full the connection reads no
	// more from the books (a reader too far behind loses the oldest
	// events there, counted as Lost).
	ctrl    chan []byte
	events  chan outFrame
	pending []*pendingJoin
	warmed  chan warmed
}

// Queue sizes of a connection's writer.
const (
	ctrlQueue  = 1024
	eventQueue = 4096
)

const replayHistory = 512

// inMsg is one decoded client frame.
type inMsg struct {
	joinRef, ref json.RawMessage
	topic, event string
	payload      json.RawMessage
}

func (c *streamConn) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	defer func() { _ = c.ws.CloseNow() }()
	defer func() {
		for _, sub := range c.subs {
			if sub.c != nil {
				sub.c.book.unsubscribe(sub)
			}
		}
	}()
	warming := 0 // joins whose warm-up goroutine has not reported
	defer func() {
		// Joins ready but not answered yet (behind an earlier one) are
		// subscribed; warm-ups still running unsubscribe when they report.
		cancel()
		for _, p := range c.pending {
			if p.done && p.sub.c != nil {
				p.sub.c.book.unsubscribe(p.sub)
			}
		}
		for ; warming > 0; warming-- {
			w := <-c.warmed
			w.p.sub.c.book.unsubscribe(w.p.sub)
		}
	}()
	writeErr := make(chan error, 1)
	go func() { writeErr <- c.writeLoop(ctx) }()
	inbound := make(chan []byte, 64)
	go func() {
		defer close(inbound)
		for {
			_, data, err := c.ws.Read(ctx)
			if err != nil {
				return
			}
			select {
			case inbound <- data:
			case <-ctx.Done():
				return
			}
		}
	}()
	cfg := c.s.cfg.Stream
	tick := time.NewTicker(cfg.Tick)
	defer tick.Stop()
	lastIn := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.s.closed:
			_ = c.ws.Close(websocket.StatusGoingAway, "server shutting down")
			return
		case err := <-writeErr:
			c.s.logger.DebugContext(ctx, "indexersim: stream connection closed", slog.String("error", err.Error()))
			return
		case w := <-c.warmed:
			warming--
			w.p.next, w.p.done = w.next, true
			if err := c.answerJoins(); err != nil {
				return
			}
		case data, ok := <-inbound:
			if !ok {
				return
			}
			lastIn = time.Now()
			started, err := c.handle(ctx, data)
			warming += started
			if err != nil {
				c.s.logger.DebugContext(ctx, "indexersim: stream connection closed", slog.String("error", err.Error()))
				return
			}
		case <-tick.C:
			if cfg.IdleTimeout > 0 && time.Since(lastIn) > cfg.IdleTimeout {
				_ = c.ws.Close(websocket.StatusPolicyViolation, "heartbeat timeout")
				return
			}
			if cfg.DisconnectEvery > 0 && c.s.cfg.Clock().Sub(c.connected) >= cfg.DisconnectEvery {
				c.s.stream.add(func(st *StreamStats) { st.Disconnects++ })
				return // CloseNow: no close frame, no phx_close
			}
			if len(c.events) > eventQueue/2 {
				continue // the client is behind: the books keep the events meanwhile
			}
			if err := c.pump(); err != nil {
				return
			}
		}
	}
}

// writeLoop writes the queued frames, replies first. An event frame of a
// topic left meanwhile is not written.
func (c *streamConn) writeLoop(ctx context.Context) error {
	drainCtrl := func() error {
		for {
			select {
			case f := <-c.ctrl:
				if err := c.writeNow(ctx, f); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}
	for {
		if err := drainCtrl(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case f := <-c.ctrl:
			if err := c.writeNow(ctx, f); err != nil {
				return err
			}
		case ev := <-c.events:
			// A reply queued before this event goes first (both may have
			// been ready, and select picks at random).
			if err := drainCtrl(); err != nil {
				return err
			}
			if ev.sub != nil && ev.sub.left.Load() {
				continue
			}
			c.s.stream.add(func(st *StreamStats) { st.Sent++ })
			if err := c.writeNow(ctx, ev.frame); err != nil {
				return err
			}
		}
	}
}

// writeNow writes one text frame.
func (c *streamConn) writeNow(ctx context.Context, frame []byte) error {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.ws.Write(wctx, websocket.MessageText, frame); err != nil {
		return err //nolint:wrapcheck // the connection is gone; the caller only stops
	}
	return nil
}

// write queues a reply or control frame for the writer. A client that
// leaves ctrlQueue replies unread is dropped.
func (c *streamConn) write(frame []byte) error {
	select {
	case c.ctrl <- frame:
		return nil
	default:
		return errors.New("reply queue full: the client reads nothing")
	}
}

// reply queues a phx_reply.
func (c *streamConn) reply(m inMsg, status string, response any) error {
	frame, err := json.Marshal([]any{m.joinRef, m.ref, m.topic, "phx_reply",
		map[string]any{"status": status, "response": response}})
	if err != nil {
		return err //nolint:wrapcheck // values we built
	}
	return c.write(frame)
}

// null is a JSON null for absent refs.
var null = json.RawMessage("null") //nolint:gochecknoglobals // read-only

// handle answers one client frame; started is 1 when it started a join's
// warm-up. A frame that is not a Phoenix V2 message closes the
// connection, as Phoenix's decoder failing does.
func (c *streamConn) handle(ctx context.Context, data []byte) (started int, err error) {
	var parts []json.RawMessage
	var m inMsg
	if err := json.Unmarshal(data, &parts); err != nil || len(parts) < 5 ||
		json.Unmarshal(parts[2], &m.topic) != nil || json.Unmarshal(parts[3], &m.event) != nil {
		c.s.stream.add(func(st *StreamStats) { st.Malformed++ })
		_ = c.ws.Close(websocket.StatusUnsupportedData, "invalid message: want [join_ref, ref, topic, event, payload]")
		return 0, errors.New("malformed client frame")
	}
	m.joinRef, m.ref, m.payload = parts[0], parts[1], parts[4]
	switch {
	case m.topic == "phoenix" && m.event == "heartbeat":
		c.s.stream.add(func(st *StreamStats) { st.Heartbeats++ })
		return 0, c.reply(m, "ok", struct{}{})
	case m.event == "phx_join":
		return c.join(ctx, m)
	case m.event == "phx_leave":
		sub, ok := c.joined[m.topic]
		if ok {
			c.leave(sub)
		}
		if p := c.pendingFor(m.topic); p != nil {
			// Left before its join was answered (a client whose join
			// timed out leaves it): that join is never answered.
			p.cancel, sub, ok = true, p.sub, true
			p.sub.left.Store(true)
		}
		if !ok {
			return 0, c.reply(m, "error", map[string]string{"reason": "unmatched topic"})
		}
		c.s.stream.add(func(st *StreamStats) { st.Leaves++ })
		if err := c.reply(m, "ok", struct{}{}); err != nil {
			return 0, err
		}
		frame, err := json.Marshal([]any{sub.joinRef, sub.joinRef, sub.topic, "phx_close", struct{}{}})
		if err != nil {
			return 0, fmt.Errorf("encode phx_close: %w", err)
		}
		return 0, errors.Join(c.write(frame), c.answerJoins())
	default:
		if _, ok := c.joined[m.topic]; ok {
			return 0, nil // the channel has no handle_in for it: ignored
		}
		return 0, c.reply(m, "error", map[string]string{"reason": "unmatched topic"})
	}
}

// pendingFor returns the unanswered, not cancelled join of topic, if any.
func (c *streamConn) pendingFor(topic string) *pendingJoin {
	for _, p := range c.pending {
		if !p.cancel && p.sub.topic == topic {
			return p
		}
	}
	return nil
}

// answerJoins answers the pending joins whose books are ready, in the
// order they came, and starts pushing their events.
func (c *streamConn) answerJoins() error {
	for len(c.pending) > 0 && c.pending[0].done {
		p := c.pending[0]
		c.pending[0] = nil
		c.pending = c.pending[1:]
		if p.cancel {
			if p.sub.c != nil {
				p.sub.c.book.unsubscribe(p.sub)
			}
			continue
		}
		p.sub.next = p.next
		if err := c.joined1(p.m, p.sub); err != nil {
			return err
		}
	}
	if len(c.pending) == 0 {
		c.pending = nil
	}
	return nil
}

// join answers a phx_join: at once for a refused join or a slug the
// simulator does not know, else once the collection's book is up to date
// (started is 1: a goroutine brings it there and reports on c.warmed).
func (c *streamConn) join(ctx context.Context, m inMsg) (started int, err error) {
	refuse := func(reason string) (int, error) {
		c.s.stream.add(func(st *StreamStats) { st.JoinErrors++ })
		return 0, c.reply(m, "error", map[string]string{"reason": reason})
	}
	slug, ok := strings.CutPrefix(m.topic, "collection:")
	if !ok || slug == "" {
		return refuse("unmatched topic")
	}
	if slug == "*" {
		return refuse("the simulator does not serve collection:*; join collection:<slug> topics")
	}
	var p struct {
		EventTypes *[]string `json:"event_types"`
	}
	if len(m.payload) > 0 && string(m.payload) != "null" {
		if err := json.Unmarshal(m.payload, &p); err != nil {
			return refuse("invalid join payload: event_types must be a list of strings")
		}
	}
	sub := &topicSub{topic: m.topic, c: c.s.bySlug[slug], joinRef: m.joinRef}
	if len(sub.joinRef) == 0 {
		sub.joinRef = null
	}
	if p.EventTypes != nil {
		sub.filter = make(map[string]bool, len(*p.EventTypes))
		for _, t := range *p.EventTypes {
			sub.filter[t] = true
		}
	}
	if old := c.pendingFor(m.topic); old != nil {
		old.cancel = true // a second join replaces the first, as in Phoenix
		old.sub.left.Store(true)
	}
	if sub.c == nil && len(c.pending) == 0 {
		return 0, c.joined1(m, sub)
	}
	pj := &pendingJoin{m: m, sub: sub, done: sub.c == nil}
	c.pending = append(c.pending, pj)
	if sub.c == nil {
		return 0, nil // answered after the joins before it
	}
	// Events from the join's instant on, whenever the warm-up ends.
	at := c.s.cfg.Clock()
	go func() {
		var next uint64
		select {
		case c.s.warmSlots <- struct{}{}:
			next = sub.c.book.subscribe(sub, at)
			<-c.s.warmSlots
		case <-ctx.Done(): // the connection is gone: nothing to subscribe
		}
		c.warmed <- warmed{p: pj, next: next}
	}()
	return 1, nil
}

// joined1 registers a joined topic and answers its join.
func (c *streamConn) joined1(m inMsg, sub *topicSub) error {
	if old, ok := c.joined[m.topic]; ok {
		c.leave(old) // a second join replaces the first, as in Phoenix
	}
	c.joined[m.topic] = sub
	c.subs = append(c.subs, sub)
	c.s.stream.add(func(st *StreamStats) { st.Joins++ })
	return c.reply(m, "ok", struct{}{})
}

func (c *streamConn) leave(sub *topicSub) {
	sub.left.Store(true)
	if sub.c != nil {
		sub.c.book.unsubscribe(sub)
	}
	delete(c.joined, sub.topic)
	for i, x := range c.subs {
		if x == sub {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			break
		}
	}
}

// eventTypes are the stream events a book event becomes: a sale is an
// item_sold and the item_transferred of its transaction.
func eventTypes(e *bookEvent) []string {
	switch e.kind {
	case evCreate:
		return []string{EventItemListed}
	case evInvalidate:
		return []string{EventOrderInvalidate}
	case evRevalidate:
		return []string{EventOrderRevalidate}
	case evCancel:
		return []string{EventItemCancelled}
	case evSold:
		return []string{EventItemSold, EventItemTransferred}
	case evTransfer:
		return []string{EventItemTransferred}
	case evMetadata:
		return []string{EventItemMetadataUpdated}
	}
	return nil
}

// pump pushes every event that happened since the last tick, through the
// configured faults.
func (c *streamConn) pump() error {
	for _, f := range c.later {
		c.send(f)
	}
	c.later = c.later[:0]
	now := c.s.cfg.Clock()
	for _, sub := range c.subs {
		if sub.c == nil {
			continue
		}
		// An event makes at most two frames, and a fault may add one
		// more each: read no more than the writer's queue has room for.
		room := (cap(c.events) - len(c.events)) / 4
		if room == 0 {
			break // the rest at the next tick, from the books' logs
		}
		evs, next, lost := sub.c.book.eventsUpTo(sub, sub.next, now, room)
		sub.next = next
		if lost > 0 {
			c.s.stream.add(func(st *StreamStats) { st.Lost += int64(lost) })
		}
		for _, e := range evs {
			for _, typ := range eventTypes(e) {
				if sub.filter != nil && !sub.filter[typ] {
					continue
				}
				if err := c.deliver(sub, e, typ, now); err != nil {
					return err
				}
			}
		}
	}
	if c.held.frame != nil && time.Since(c.heldAt) > time.Second {
		// Nothing followed it for a second: it goes out in order after all.
		c.send(c.held)
		c.held = outFrame{}
	}
	return nil
}

// send queues an event frame for the writer (which counts it as Sent).
// The tick stops reading the books while the queue is half full, so it
// is full only when one tick brings more than half of it: the excess is
// lost, as the events a reader falls too far behind on.
func (c *streamConn) send(f outFrame) {
	select {
	case c.events <- f:
	default:
		c.s.stream.add(func(st *StreamStats) { st.Lost++ })
	}
}

// deliver pushes one event through the faults. Four numbers are drawn per
// event whatever the configuration, so a seed gives the same faults.
func (c *streamConn) deliver(sub *topicSub, e *bookEvent, typ string, now time.Time) error {
	cfg := c.s.cfg.Stream
	uDrop, uDup, uReorder, uReplay := c.rng.float(), c.rng.float(), c.rng.float(), c.rng.float()
	pick := c.rng.next()
	c.s.stream.add(func(st *StreamStats) { st.Events[typ]++ })
	if uDrop < cfg.DropRate {
		c.s.stream.add(func(st *StreamStats) { st.Dropped++ })
		return nil
	}
	frame, err := c.s.renderEvent(c.r, sub, e, typ, now)
	if err != nil {
		return err
	}
	out := outFrame{sub: sub, frame: frame}
	switch {
	case c.held.frame != nil:
		held := c.held
		c.held = outFrame{}
		c.send(out)
		c.s.stream.add(func(st *StreamStats) { st.Reordered++ })
		c.send(held)
	case uReorder < cfg.ReorderRate:
		c.held, c.heldAt = out, time.Now()
	default:
		c.send(out)
	}
	if uDup < cfg.DuplicateRate {
		c.s.stream.add(func(st *StreamStats) { st.Duplicated++ })
		c.later = append(c.later, out)
	}
	if cfg.StaleReplayRate > 0 && e.l != nil && typ != EventItemSold && typ != EventItemTransferred {
		// Order events (item_sold's version is a time, not a revision).
		if len(c.lastVer) > 4*replayHistory {
			// Keep the versions of the orders still in the history only.
			c.lastVer = make(map[uint64]int64, replayHistory)
			for _, h := range c.history {
				c.lastVer[h.key] = max(c.lastVer[h.key], h.ver)
			}
		}
		if e.ver > c.lastVer[e.l.key] {
			c.lastVer[e.l.key] = e.ver
		}
		sf := sentFrame{sub: sub, key: e.l.key, ver: e.ver, frame: frame}
		if len(c.history) < replayHistory {
			c.history = append(c.history, sf)
		} else {
			c.history[c.histNext] = sf
			c.histNext = (c.histNext + 1) % replayHistory
		}
	}
	if uReplay < cfg.StaleReplayRate && len(c.history) > 0 {
		// Re-send an older state of some order: the first stale one from a
		// random place in the history, else any.
		n := len(c.history)
		start := int(pick % uint64(n))
		old := c.history[start]
		for i := range n {
			h := c.history[(start+i)%n]
			if h.ver < c.lastVer[h.key] {
				old = h
				break
			}
		}
		c.s.stream.add(func(st *StreamStats) { st.Replayed++ })
		c.send(outFrame{sub: old.sub, frame: old.frame})
	}
	return nil
}
