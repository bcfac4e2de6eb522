// Package opensea is the OpenSea API v2 REST adapter. Its Client implements
// indexer.Indexer with three endpoints:
//
//	GET /api/v2/collections/{slug}             → Collection
//	GET /api/v2/collections/{slug}/stats       → Stats
//	GET /api/v2/collection/{slug}/nfts?limit=&next= → Tokens (note the singular "collection")
//
// The package owns its wire DTOs and translates them into the source-neutral
// types of package indexer. Every failure is an *indexer.Error whose Class
// tells the worker what to do:
//
//   - 429 and OpenSea's custom 599 are ClassRateLimited. RetryAfter comes from
//     Retry-After (integer seconds or an HTTP-date), else from
//     X-RateLimit-Reset when X-RateLimit-Remaining is 0, capped at
//     MaxRetryAfter.
//   - 400, 401, 403, 404 and every other 4xx are ClassPermanent.
//   - 5xx, timeouts, connection resets and bodies cut short are
//     ClassTransient. When the caller's ctx is done the error wraps ctx.Err()
//     (also transient) so errors.Is(err, context.Canceled) holds.
//   - A complete 2xx body that is not what the spec promises (bad JSON,
//     trailing data, wrong types, missing required fields, negative or
//     out-of-range amounts, a body over Options.MaxBodyBytes) is
//     ClassMalformed. Nothing from such a response is returned.
//
// # Decoding policy
//
// Decoding is strict about structure and tolerant about growth: unknown
// fields are ignored because OpenSea adds fields over time (and removed some
// in api-types 0.3.0), but every field the client reads must have its
// documented JSON type, required fields must be present and non-null, and
// nothing may follow the top-level JSON value.
//
// Money is never a float. Amounts are taken as the literal JSON number and
// rewritten as a canonical decimal string without exponent ("1e-05" →
// "0.00001", "11.250" → "11.25"), which PostgreSQL NUMERIC accepts verbatim.
// Negative amounts, JSON strings, and amounts with more than 100 digits on
// either side of the point are malformed. JSON itself has no NaN or
// Infinity, so such spellings fail as invalid JSON or as a string where a
// number belongs.
//
// A floor price of 0 (or null/absent) becomes Stats.Floor == nil, whatever the
// sales count. OpenSea reports 0 when a collection has no listings, and a
// listing cannot have a price of 0, so a zero floor never means "free"; the
// research note's "unless sales > 0" exception is deliberately not applied,
// because past sales do not make a zero floor real.
//
// Currencies: a stats response names only floor_price_symbol. It is used for
// the floor and, as the best available guess, for every volume (the spec
// does not state the volume unit). Decimals come from a small table of
// well-known symbols (ETH, WETH, DAI, POL, MATIC, APE: 18; USDC, USDT: 6;
// SOL: 9) and default to 18 for other symbols, which are kept as given.
// When the symbol is absent the volumes carry Currency "" and Decimals 0,
// meaning unknown; callers should fall back to Collection.Currency. A
// non-zero floor without a symbol is malformed, because storing it as ETH is
// the classic non-ETH miscount. Collection currency decimals come from
// pricing_currencies.listing_currency.decimals when present, else from the
// same table.
//
// EVM addresses (0x…) are lower-cased; other addresses (Solana's base58 is
// case-sensitive) are kept as given.
//
// Traits: a token page fails as malformed when its structure is wrong (an
// nft or trait that is not an object, a missing or non-string identifier,
// contract or trait_type, a traits field that is not an array, a wrong-typed
// display_type). The error names the token. The trait value, untyped in the
// spec, is tolerated: a string is kept verbatim, a number keeps its JSON
// spelling in ValueText and gets a canonical ValueNumeric, a bool becomes
// "true"/"false". A trait whose value is null, absent, an object or an array
// is skipped and reported through Options.ObserveSkip and the logger, as is
// an updated_at that cannot be parsed (UpdatedAt stays zero). A string value
// that is a valid JSON number ("42", "1.5") also gets ValueNumeric. A
// display_type of "None" (the old SDK spelling of "no display type") becomes
// "". max_value may be a string (the spec) or a number (kept in its JSON
// spelling). Raw always keeps the original JSON.
//
// The API key is sent as X-API-KEY and never logged, never put in an error
// (upstream messages that echo it are redacted), and never forwarded on a
// redirect to another host or from https to http.
package opensea
