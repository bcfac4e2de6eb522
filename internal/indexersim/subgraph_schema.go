package indexersim

// subgraphSchema is the part of a marketplace subgraph's GraphQL schema the
// simulator serves: the entities of Messari's "NFT Marketplace" schema
// v1.0.0 (repository messari/subgraphs, file schema-nft-marketplace.graphql)
// that describe collections and their daily snapshots, with the query
// fields, filters and arguments graph-node generates for them (first
// defaults to 100 and is at most 1000, skip, orderBy, orderDirection,
// where with _gt/_gte/_lt/_lte/_in suffixes, block: {number}) and graph-node's
// _meta. BigInt and BigDecimal are strings on the wire, Int a number.
const subgraphSchema = `
schema { query: Query }

scalar BigInt
scalar BigDecimal
scalar Bytes

enum NftStandard { ERC721 ERC1155 UNKNOWN }
enum OrderDirection { asc desc }
enum Collection_orderBy { id cumulativeTradeVolumeETH tradeCount }
enum CollectionDailySnapshot_orderBy { id timestamp blockNumber dailyTradeVolumeETH }

input Block_height { hash: Bytes number: Int number_gte: Int }

input Collection_filter {
  id: ID
  id_gt: ID
  id_in: [ID!]
}

input CollectionDailySnapshot_filter {
  id: ID
  id_gt: ID
  id_lt: ID
  id_in: [ID!]
  collection: String
  timestamp: BigInt
  timestamp_gt: BigInt
  timestamp_gte: BigInt
  timestamp_lt: BigInt
  timestamp_lte: BigInt
}

type Collection {
  id: ID!
  name: String
  symbol: String
  totalSupply: BigInt
  nftStandard: NftStandard!
  royaltyFee: BigDecimal!
  cumulativeTradeVolumeETH: BigDecimal!
  marketplaceRevenueETH: BigDecimal!
  creatorRevenueETH: BigDecimal!
  totalRevenueETH: BigDecimal!
  tradeCount: Int!
  buyerCount: Int!
  sellerCount: Int!
}

type CollectionDailySnapshot {
  id: ID!
  collection: Collection!
  blockNumber: BigInt!
  timestamp: BigInt!
  royaltyFee: BigDecimal!
  dailyMinSalePrice: BigDecimal!
  dailyMaxSalePrice: BigDecimal!
  cumulativeTradeVolumeETH: BigDecimal!
  dailyTradeVolumeETH: BigDecimal!
  marketplaceRevenueETH: BigDecimal!
  creatorRevenueETH: BigDecimal!
  totalRevenueETH: BigDecimal!
  tradeCount: Int!
  dailyTradedItemCount: Int!
}

type _Block_ { hash: Bytes number: Int! timestamp: Int }
type _Meta_ { block: _Block_! deployment: String! hasIndexingErrors: Boolean! }

type Query {
  collection(id: ID!, block: Block_height): Collection
  collections(skip: Int = 0, first: Int = 100, orderBy: Collection_orderBy, orderDirection: OrderDirection,
              where: Collection_filter, block: Block_height): [Collection!]!
  collectionDailySnapshot(id: ID!, block: Block_height): CollectionDailySnapshot
  collectionDailySnapshots(skip: Int = 0, first: Int = 100, orderBy: CollectionDailySnapshot_orderBy,
              orderDirection: OrderDirection, where: CollectionDailySnapshot_filter, block: Block_height): [CollectionDailySnapshot!]!
  _meta(block: Block_height): _Meta_
}
`
