// Package tokenuri is the "token_uri" trait source: it fetches a token's own
// metadata document from its metadata_url (the contract's tokenURI) and
// reads name, description, image and traits from it (OpenSea metadata
// standard). Source implements indexer.TraitSource.
//
// # URLs
//
//   - https:// is fetched as is; http:// only with Options.AllowHTTP.
//   - ipfs://<cid>[/path] and ar://<id>[/path] are fetched through the
//     configured gateways (URL prefixes such as "https://ipfs.io/ipfs/"),
//     in order: when one fails (any error, a 404 included: gateways time
//     out on content they cannot find) the next one is asked. An https URL
//     on a path-style IPFS gateway (/ipfs/<cid>/…) falls back to the
//     configured IPFS gateways the same way.
//   - data:application/json[;charset=utf-8][;base64],<data> is decoded in
//     place, base64 or percent-encoded/plain.
//
// # Limits
//
// Every request (each redirect hop too) first asks Options.Budget for its
// host, so one PostgreSQL limiter budgets every metadata host and gateway
// across replicas; a 429 is reported back to it. One attempt at one URL is
// bounded by Options.Timeout; a body by MaxBodyBytes (checked against
// Content-Length first, then while reading, after decompression);
// redirects by MaxRedirects, to https only (or http where allowed). The
// answer must be 2xx with a content type that can carry JSON, and the
// body a JSON object.
//
// The address guard runs in the dialer, on the IP address each connection
// is about to be made to, after name resolution: loopback, private,
// link-local, multicast, unspecified and the other special-purpose blocks
// (carrier NAT, documentation, benchmarking, NAT64, 6to4, …) are refused
// unless Options.AllowNets contains them. So neither DNS rebinding nor a
// redirect can reach an internal address, and no proxy from the
// environment is used (it would dial for us).
//
// # Errors
//
// Every failure is an *indexer.Error about this token only (never about
// its collection):
//   - ClassPermanent: no or invalid metadata_url, unsupported scheme, http
//     not allowed, 404/410 and other 4xx, the address guard, too many
//     redirects or a refused redirect;
//   - ClassMalformed: a body that is not JSON (by content type or
//     content), over the size cap, not an object, or with a traits field
//     of the wrong type; a data: URL that is not JSON or cannot be decoded;
//   - ClassTransient: timeouts, connection errors, 408, 425 and 5xx;
//   - ClassRateLimited: a 429 (RetryAfter from Retry-After) or no budget
//     within the limiter's wait.
//
// When several URLs were tried, the error has the most hopeful class among
// theirs (rate limited, transient, malformed, permanent) and lists each.
package tokenuri
