// Package indexersim is a built-in simulator of the OpenSea API v2 (REST).
//
// A Server is an http.Handler that serves the OpenSea v2 wire format for a
// configurable number of deterministic, synthetic NFT collections:
//
//	GET /api/v2/collections/{slug}            collection metadata
//	GET /api/v2/collections/{slug}/stats      floor price, volumes, sales, owners
//	GET /api/v2/collection/{slug}/nfts        tokens, paged by limit/next (no traits key)
//	GET /api/v2/chain/{chain}/contract/{address}/nfts/{identifier}
//	                                          one token with traits, owners, rarity: null
//	GET /api/v2/traits/{slug}                 trait categories and value counts
//	GET /api/v2/listings/collection/{slug}/best
//	                                          active listings, cheapest first (limit, next,
//	                                          include_private_listings)
//	GET /api/v2/events/collection/{slug}?event_type=sale
//	                                          sales, newest first (after, before, limit, next)
//	GET /api/v2/chain/{chain}/payment_token/{address}
//	                                          a currency with its eth_price (ETH, WETH, USDC)
//	GET /socket/websocket?token=<key>&vsn=2.0.0
//	                                          the Stream API: Phoenix Channels V2 over a
//	                                          websocket, topics collection:<slug> (stream.go)
//	GET /metadata/{slug}/{id}                 a token's metadata document (its http metadata_url)
//	GET /ipfs/{cid}/{id}                      the same through a simulated IPFS gateway
//	                                          (path configurable: MetadataConfig.GatewayPath)
//
// Each token's metadata_url is, by collection, an http URL served here, an
// ipfs:// URL resolved by the gateway path, or a data:application/json
// URL; the document's attributes are the token's traits (metadata.go).
// Metadata requests have their own rate limit, per-token faults (404, slow,
// oversize, not JSON) and counters (Stats.Metadata).
//
// Like the live API, the list answer carries no traits (opensea-sdk issue
// #1889: OpenSea leaves them out of the bulk endpoint); Config.ListTraits
// brings back the old behaviour. Server.Touch (or POST /_sim/touch) changes
// tokens as a metadata update would: new traits and a later updated_at.
//
// The production clients run against it in development, tests and
// benchmarks, so it speaks the documented wire format with its own wire types
// (wire.go) and never imports any client's DTOs: a fake that shares the
// client's structs could not catch their mistakes.
//
// Each collection has an order book of listings (book.go) that evolves in
// time: listings are posted around the collection's reference floor (a
// bounded random walk), cancelled, sold, expire, are invalidated and
// revalidated; tokens are transferred and their metadata updated. The
// /stats floor is the cheapest active public listing at the request's
// time, per unit and in the collection's currency: ETH, or POL for the
// share of collections on Polygon (Config.PolygonFraction, currency.go),
// whose listings, sales and stream events are priced in POL; the sales are the trades behind the /stats
// volumes, so the events endpoint and the stream's item_sold events add up
// to the one-day, seven-day and thirty-day windows. Config.Market sets the
// pace (by default about six stream events per collection per minute).
// Server.FloorAt and Server.FloorChanges tell the true floor and its
// change log for tests and benchmarks; Server.StreamStats counts the
// stream's connections, events and faults. The Stream API pushes what
// happens after a topic's join as OpenSea's does (stream.go), with
// optional faults (Config.Stream): dropped, duplicated and reordered
// events, stale replays of older order states, periodic abrupt
// disconnects and refused keys. Streamed events count against no REST
// limit.
//
// Everything is a pure function of Config.Seed: collection sizes, contracts,
// trait schemas and every token's traits (generated on the fly, page by
// page), and the market (the order books, the sales and volumes are
// functions of seed, slug and time read from Config.Clock: a book is the
// same whenever a process started, see book.go). Two servers with
// the same Config answer the same request with the same bytes.
//
// Like the real API it rate-limits (a token bucket over all keys and one per
// X-API-KEY), answers 429 with Retry-After and X-RateLimit-* headers, and can
// require API keys. Fault modes (latency, 5xx errors, periodic 429 storms,
// hanging requests, malformed and oversize bodies) are off by default; the
// faults drawn are deterministic given the seed and the request order.
//
// The server counts what it saw (Server.Stats, GET /_sim/stats), including
// the excess requests it refused and the largest number of requests served
// in any sliding one-second window, so tests can prove a client stayed within
// its budget. GET /_sim/collections lists the collections. The /_sim/
// endpoints are exempt from authentication, limits, faults and counting.
package indexersim
