package stream

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// Phoenix Channels, serializer vsn 2.0.0 (phoenix assets/js/phoenix/serializer.js,
// and the receive-only subset in opensea-js src/stream/transport/phoenix.ts):
// every text frame is a JSON array [join_ref, ref, topic, event, payload].
// join_ref and ref are strings or null. A join is
// [ref, ref, "collection:<slug>", "phx_join", {"event_types": [...]}] and is
// answered with [ref, ref, topic, "phx_reply", {"status": "ok"|"error",
// "response": {...}}]; a heartbeat is [null, ref, "phoenix", "heartbeat", {}]
// answered with a phx_reply on topic "phoenix". A channel that dies while
// the socket lives sends phx_error (or phx_close) with the join's join_ref.
// Broadcasts arrive as [null|join_ref, null, topic, event_type, message].
const (
	vsn            = "2.0.0"
	phxJoin        = "phx_join"
	phxLeave       = "phx_leave"
	phxReply       = "phx_reply"
	phxError       = "phx_error"
	phxClose       = "phx_close"
	heartbeatTopic = "phoenix"
	heartbeatEvent = "heartbeat"
	topicPrefix    = "collection:"
)

// frame is one decoded Phoenix v2 message.
type frame struct {
	JoinRef string // "" for null
	Ref     string // "" for null
	Topic   string
	Event   string
	Payload json.RawMessage
}

// encodeFrame renders [join_ref, ref, topic, event, payload]; an empty ref
// is null.
func encodeFrame(joinRef, ref, topic, event string, payload any) ([]byte, error) {
	ref2 := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	return json.Marshal([]any{ref2(joinRef), ref2(ref), topic, event, payload})
}

// decodeFrame parses a text frame. The error says what is wrong with it.
func decodeFrame(data []byte) (frame, error) {
	var parts []json.RawMessage
	if err := json.Unmarshal(data, &parts); err != nil {
		return frame{}, fmt.Errorf("frame is not a JSON array: %w", err)
	}
	if len(parts) != 5 {
		return frame{}, fmt.Errorf("frame has %d elements, want 5 [join_ref, ref, topic, event, payload]", len(parts))
	}
	var f frame
	var err error
	if f.JoinRef, err = refString(parts[0], "join_ref"); err != nil {
		return frame{}, err
	}
	if f.Ref, err = refString(parts[1], "ref"); err != nil {
		return frame{}, err
	}
	if indexer.JSONKind(parts[2]) != "string" || json.Unmarshal(parts[2], &f.Topic) != nil {
		return frame{}, fmt.Errorf("frame topic: want string, got JSON %s", indexer.JSONKind(parts[2]))
	}
	if indexer.JSONKind(parts[3]) != "string" || json.Unmarshal(parts[3], &f.Event) != nil {
		return frame{}, fmt.Errorf("frame event: want string, got JSON %s", indexer.JSONKind(parts[3]))
	}
	f.Payload = parts[4]
	return f, nil
}

// refString reads a ref: a string, null, or (leniently) an integer.
func refString(raw json.RawMessage, what string) (string, error) {
	switch indexer.JSONKind(raw) {
	case "null":
		return "", nil
	case "string":
		var s string
		_ = json.Unmarshal(raw, &s)
		return s, nil
	case "number":
		if _, err := strconv.ParseUint(string(raw), 10, 64); err == nil {
			return string(raw), nil
		}
	}
	return "", fmt.Errorf("frame %s: want string or null, got %s", what, clip.Text(string(raw), 40))
}

// reply is a phx_reply payload.
type reply struct {
	Status   string          `json:"status"`
	Response json.RawMessage `json:"response"`
}

// message is BaseStreamMessage, the payload of an event frame.
type message struct {
	EventType *string         `json:"event_type"`
	Version   json.RawMessage `json:"version"`
	SentAt    json.RawMessage `json:"sent_at"`
	Payload   json.RawMessage `json:"payload"`
}

// decodeEvent turns an event frame on a collection topic into an Event.
// The message must be an object whose event_type is a string and whose
// payload is an object; version must be a non-negative integer when
// present; sent_at must parse when present. Unknown fields are ignored.
func decodeEvent(slug string, f frame) (Event, error) {
	if indexer.JSONKind(f.Payload) != "object" {
		return Event{}, fmt.Errorf("%s message: want object, got JSON %s", f.Event, indexer.JSONKind(f.Payload))
	}
	var m message
	if err := json.Unmarshal(f.Payload, &m); err != nil {
		return Event{}, fmt.Errorf("%s message: %w", f.Event, err)
	}
	ev := Event{Slug: slug, Type: f.Event}
	if m.EventType != nil && *m.EventType != "" {
		ev.Type = *m.EventType
	}
	switch indexer.JSONKind(m.Version) {
	case "absent", "null":
	case "number":
		v, err := strconv.ParseInt(string(m.Version), 10, 64)
		if err != nil || v < 0 {
			return Event{}, fmt.Errorf("%s message: field version: want a non-negative integer, got %s", ev.Type, clip.Text(string(m.Version), 40))
		}
		ev.Version = v
	default:
		return Event{}, fmt.Errorf("%s message: field version: want integer, got JSON %s", ev.Type, indexer.JSONKind(m.Version))
	}
	var err error
	if ev.SentAt, err = parseTime(m.SentAt, "sent_at"); err != nil {
		return Event{}, fmt.Errorf("%s message: %w", ev.Type, err)
	}
	if indexer.JSONKind(m.Payload) != "object" {
		return Event{}, fmt.Errorf("%s message: field payload: want object, got JSON %s", ev.Type, indexer.JSONKind(m.Payload))
	}
	ev.Payload = m.Payload
	return ev, nil
}

// slugOf returns the slug of a "collection:<slug>" topic.
func slugOf(topic string) (string, bool) {
	s, ok := strings.CutPrefix(topic, topicPrefix)
	return s, ok && s != ""
}

// ErrFrameTooLarge is wrapped by the Malformed error of a frame larger than
// Options.MaxFrameBytes; the frame is discarded and the connection lives on.
var ErrFrameTooLarge = errors.New("frame too large")

// ErrHeartbeatTimeout is the Down error of a connection whose heartbeat
// went unanswered until the next tick.
var ErrHeartbeatTimeout = errors.New("heartbeat not answered within one interval")
