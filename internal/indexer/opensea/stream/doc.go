// Package stream is a client of OpenSea's Stream API: marketplace events
// pushed over one websocket speaking Phoenix Channels (serializer vsn
// 2.0.0), one channel per collection ("collection:<slug>"; never the
// wildcard topic, which is known to miss events, stream-js issue #393).
//
// The protocol follows OpenSea's own clients: stream-js (src/client.ts,
// src/types.ts, src/constants.ts; endpoint wss://stream-api.opensea.io/socket
// since 0.3.1) and the receive-only Phoenix transport of opensea-js
// (src/stream/transport/phoenix.ts), itself the subset of Phoenix's
// assets/js/phoenix that the stream needs:
//
//   - the socket URL is <endpoint>/websocket?token=<API key>&vsn=2.0.0, and
//     a bad key is refused at the HTTP upgrade (401/403): Run then returns an
//     error wrapping ErrKeyRefused and does not retry;
//   - a topic is joined once with the full event_types list (widening a
//     filter later rejoins and can miss events, opensea-js
//     developerDocs/stream-migration.md); a join not answered within the join
//     timeout (10 s) is left and retried, a refused join is retried with
//     backoff until Leave;
//   - a heartbeat goes to topic "phoenix" every 30 s, and one still
//     unanswered at the next tick closes the connection;
//   - a lost connection is re-made with capped exponential backoff and
//     jitter (10 ms … 5 s by default), reset only once the server has
//     answered something, and every topic is joined again (Handler.Joined);
//     an upgrade answered 429 or 503 with a Retry-After (seconds or an HTTP
//     date, RFC 9110 §10.2.3) waits at least that long instead, capped at
//     5 minutes as opensea-js caps REST waits (src/utils/rateLimit.ts);
//   - a channel that the server closes (phx_error, phx_close) while the
//     socket lives is rejoined with backoff (opensea-js does the same).
//
// Delivery is best effort: no resend, no replay cursor, possibly out of
// order, possibly old state (stream-js README). Events carry a version per
// order or per item for the consumer to drop duplicates and stale replays;
// this package only decodes. Unknown event types and fields pass through;
// frames that cannot be decoded go to Handler.Malformed and the connection
// lives on; frames are bounded in size.
//
// Event's accessors decode the payloads into the shared indexer types with
// exact decimals: base_price and sale_price are raw integer strings scaled
// by payment_token.decimals, eth_price is kept as a canonical decimal,
// addresses and hashes are lower-cased, nft_id "<chain>/<contract>/<id>" is
// parsed, and times are ISO 8601 strings (unix seconds or milliseconds are
// accepted too). Errors name the event type and the field.
package stream
