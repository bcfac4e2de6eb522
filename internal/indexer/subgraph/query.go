package subgraph

// Wire types of the queries, in the shape of Messari's NFT Marketplace
// schema v1.0.0 (messari/subgraphs, schema-nft-marketplace.graphql):
// BigInt and BigDecimal arrive as JSON strings, Int as numbers. They are
// decoded as strings and validated here so that a number where a string
// belongs (or the reverse) is a malformed answer, and no amount ever passes
// through a float.

// BigInt is the GraphQL scalar of that name; the type name is what
// shurcooL/graphql declares variables with.
type BigInt string

// metaDTO is graph-node's _meta: the block the answer was read at.
type metaDTO struct {
	Block struct {
		Number    int64
		Timestamp *int64
	}
	HasIndexingErrors bool
}

// collectionDTO is the Collection entity.
type collectionDTO struct {
	ID                       string
	Name                     *string
	Symbol                   *string
	TotalSupply              *string
	NftStandard              string
	RoyaltyFee               string
	CumulativeTradeVolumeETH string `graphql:"cumulativeTradeVolumeETH"`
	TradeCount               int64
	BuyerCount               int64
	SellerCount              int64
}

// snapshotDTO is the CollectionDailySnapshot entity (id is
// "<contract address>-<days since the Unix epoch>").
type snapshotDTO struct {
	ID                   string
	Timestamp            string
	BlockNumber          string
	DailyTradeVolumeETH  string `graphql:"dailyTradeVolumeETH"`
	DailyMinSalePrice    string
	DailyMaxSalePrice    string
	TradeCount           int64
	DailyTradedItemCount int64
}

// statsQuery reads the head block, the collection's totals and the first
// page of its daily snapshots since $since, in one request.
type statsQuery struct {
	Meta       *metaDTO       `graphql:"_meta"`
	Collection *collectionDTO `graphql:"collection(id: $id)"`
	Snapshots  []snapshotDTO  `graphql:"collectionDailySnapshots(first: $first, orderBy: id, orderDirection: asc, where: {collection: $collection, timestamp_gte: $since, id_gt: $last})"`
}

// snapshotPageQuery reads a further page pinned to the first page's block.
type snapshotPageQuery struct {
	Snapshots []snapshotDTO `graphql:"collectionDailySnapshots(first: $first, orderBy: id, orderDirection: asc, block: {number: $block}, where: {collection: $collection, timestamp_gte: $since, id_gt: $last})"`
}

// collectionQuery reads the head block and the collection entity.
type collectionQuery struct {
	Meta       *metaDTO       `graphql:"_meta"`
	Collection *collectionDTO `graphql:"collection(id: $id)"`
}
