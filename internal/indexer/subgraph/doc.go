// Package subgraph is an indexer source for NFT marketplace subgraphs that
// follow Messari's "NFT Marketplace" schema v1.0.0 (repository
// messari/subgraphs, file schema-nft-marketplace.graphql), as deployed per
// marketplace (Seaport, Blur, LooksRare, X2Y2, ...) on The Graph's gateway,
// on Goldsky or on a self-hosted graph-node. Queries go through
// github.com/shurcooL/graphql.
//
// A subgraph is keyed by contract address, not by slug: every method takes
// the collection's lower-case contract address where the OpenSea client
// takes a slug.
//
// What it serves:
//   - Stats: trade volume only (the schema has no listings, hence no floor
//     price: Floor is always nil and Supported leaves DataFloorPrice out).
//     "all" is the collection's cumulativeTradeVolumeETH and tradeCount,
//     passed on as the source spells them. 1d, 7d and 30d come from
//     CollectionDailySnapshot rows (one per UTC day with trades): a window of
//     N days ending at the subgraph's head block time T is the current,
//     partial day up to T, the N-1 full days before it, and the share of the
//     day before those that falls inside the window (the day's volume times
//     the fraction of the day not yet elapsed at T), so that the figure
//     estimates a sliding N-day window like the ones marketplaces publish.
//     Days without a snapshot had no trades. Sums are exact decimal
//     arithmetic (math/big), rounded to 18 decimal places; nothing is ever a
//     float. Sales of a window are the days' dailyTradedItemCount, the
//     oldest day's prorated and rounded half up. Low and High bound the
//     true window (none to all of the oldest day). SourceAsOf is the head
//     block's timestamp (_meta.block.timestamp).
//   - Collection: name, symbol, total supply, NFT standard and royalty fee
//     from the Collection entity; SourceAsOf is the head block's timestamp.
//   - Tokens: not supported (the schema has no token or trait entities).
//
// Pagination follows The Graph's conventions: first is at most 1000 and
// pages are walked with where: {id_gt: $last} ordered by id, never skip;
// every page after the first is pinned to the first page's block
// (block: {number: N}) so the pages are one consistent view.
//
// Errors are *indexer.Error. Transport wraps the HTTP client's transport to
// add the API key (Authorization: Bearer, as The Graph's gateway expects),
// to bound the body, and to keep the status and Retry-After that
// shurcooL/graphql would otherwise flatten into a string:
//   - 429 → ClassRateLimited with Retry-After (seconds or HTTP date);
//   - 5xx, connection failures, timeouts → ClassTransient;
//   - 401, 403 → ClassPermanent with the status (the limiter takes the key
//     out of the pool); 404 and other 4xx → ClassPermanent;
//   - a 200 with an errors array, with or without partial data, is never
//     half-used: messages about a missing subgraph or deployment, indexing
//     errors, authentication, or a query the schema rejects are
//     ClassPermanent (for this endpoint); "indexed up to block" and
//     gateway "bad indexers" answers are ClassTransient; anything else is
//     ClassMalformed;
//   - undecodable JSON, wrong types, negative or non-decimal BigDecimal
//     strings, snapshots out of order or for another collection, an
//     oversize body → ClassMalformed;
//   - collection(id) answering null → ClassPermanent, Status 404, wrapping
//     indexer.ErrUnknownCollection (the marketplace never traded it).
package subgraph
