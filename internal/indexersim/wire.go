package indexersim

// The simulator's own wire types, written from the OpenSea API v2 spec
// (CollectionDetailedResponse, CollectionStatsResponse, NftListResponse,
// V1ErrorWrapper). They deliberately share nothing with any client's DTOs.
// Pointer fields are sent as null when nil, as the real API does.

type wireContract struct {
	Address string `json:"address"`
	Chain   string `json:"chain"`
}

type wireFee struct {
	Fee       float64 `json:"fee"`
	Recipient string  `json:"recipient"`
	Required  bool    `json:"required"`
}

type wireRarity struct {
	StrategyID      string `json:"strategy_id"`
	StrategyVersion string `json:"strategy_version"`
	CalculatedAt    string `json:"calculated_at"`
	MaxRank         int    `json:"max_rank"`
	TotalSupply     int    `json:"total_supply"`
}

type wireCurrency struct {
	Symbol   string `json:"symbol"`
	Address  string `json:"address"`
	Chain    string `json:"chain"`
	Image    string `json:"image"`
	Name     string `json:"name"`
	Decimals int    `json:"decimals"`
	EthPrice string `json:"eth_price"`
	UsdPrice string `json:"usd_price"`
}

type wirePricingCurrencies struct {
	ListingCurrency wireCurrency `json:"listing_currency"`
	OfferCurrency   wireCurrency `json:"offer_currency"`
}

// wireCollection is CollectionDetailedResponse.
type wireCollection struct {
	Collection              string                `json:"collection"`
	Name                    string                `json:"name"`
	Description             string                `json:"description"`
	ImageURL                string                `json:"image_url"`
	BannerImageURL          string                `json:"banner_image_url"`
	Owner                   string                `json:"owner"`
	SafelistStatus          string                `json:"safelist_status"`
	Category                string                `json:"category"`
	IsDisabled              bool                  `json:"is_disabled"`
	IsNSFW                  bool                  `json:"is_nsfw"`
	TraitOffersEnabled      bool                  `json:"trait_offers_enabled"`
	CollectionOffersEnabled bool                  `json:"collection_offers_enabled"`
	OpenseaURL              string                `json:"opensea_url"`
	ProjectURL              string                `json:"project_url"`
	WikiURL                 string                `json:"wiki_url"`
	DiscordURL              string                `json:"discord_url"`
	TelegramURL             string                `json:"telegram_url"`
	TwitterUsername         string                `json:"twitter_username"`
	InstagramUsername       string                `json:"instagram_username"`
	Contracts               []wireContract        `json:"contracts"`
	Editors                 []string              `json:"editors"`
	Fees                    []wireFee             `json:"fees"`
	Rarity                  *wireRarity           `json:"rarity"`
	TotalSupply             int                   `json:"total_supply"`
	UniqueItemCount         int                   `json:"unique_item_count"`
	CreatedDate             string                `json:"created_date"`
	PricingCurrencies       wirePricingCurrencies `json:"pricing_currencies"`
}

type wireStatsTotal struct {
	Volume           float64 `json:"volume"`
	Sales            int64   `json:"sales"`
	NumOwners        int64   `json:"num_owners"`
	FloorPrice       float64 `json:"floor_price"`
	FloorPriceSymbol string  `json:"floor_price_symbol"`
}

type wireInterval struct {
	Interval string  `json:"interval"`
	Volume   float64 `json:"volume"`
	Sales    int64   `json:"sales"`
}

// wireStats is CollectionStatsResponse.
type wireStats struct {
	Total     wireStatsTotal `json:"total"`
	Intervals []wireInterval `json:"intervals"`
}

// wireTrait is one element of Nft.traits. Value is a string, or an int64 for
// display types "number" and "date".
type wireTrait struct {
	TraitType   string  `json:"trait_type"`
	DisplayType *string `json:"display_type"`
	MaxValue    *string `json:"max_value"`
	Value       any     `json:"value"`
}

// wireNFT is Nft as listed by collection. The live list endpoint sends no
// traits key (opensea-sdk issue #1889: OpenSea leaves traits out of the
// bulk NFT-by-collection answer because of database fan-out), so Traits is
// nil there unless Config.ListTraits asks for the old behaviour.
type wireNFT struct {
	Identifier           string       `json:"identifier"`
	Collection           string       `json:"collection"`
	Contract             string       `json:"contract"`
	TokenStandard        string       `json:"token_standard"`
	Name                 string       `json:"name"`
	Description          *string      `json:"description"`
	ImageURL             string       `json:"image_url"`
	DisplayImageURL      string       `json:"display_image_url"`
	DisplayAnimationURL  *string      `json:"display_animation_url"`
	MetadataURL          string       `json:"metadata_url"`
	OriginalImageURL     string       `json:"original_image_url"`
	OriginalAnimationURL *string      `json:"original_animation_url"`
	OpenseaURL           string       `json:"opensea_url"`
	UpdatedAt            string       `json:"updated_at"`
	IsDisabled           bool         `json:"is_disabled"`
	IsNSFW               bool         `json:"is_nsfw"`
	Traits               *[]wireTrait `json:"traits,omitempty"`
}

// wireOwner is one element of NftDetailed.owners.
type wireOwner struct {
	Address        string `json:"address"`
	Quantity       int64  `json:"quantity"`
	QuantityString string `json:"quantity_string"`
}

// wireNFTDetailed is NftDetailed, the single-NFT answer: Nft plus
// animation_url, is_suspicious, creator, owners and rarity, and always the
// traits (an empty list for a token without any).
type wireNFTDetailed struct {
	wireNFT
	// Traits is always sent: null for a token whose traits the API does not
	// know (it shadows wireNFT.Traits, which is left out when nil).
	Traits       *[]wireTrait `json:"traits"`
	AnimationURL *string      `json:"animation_url"`
	IsSuspicious bool         `json:"is_suspicious"`
	Creator      string       `json:"creator"`
	Owners       []wireOwner  `json:"owners"`
	Rarity       *wireRarity  `json:"rarity"`
}

// wireNFTBatchRequest is BatchNftsRequest, the body of POST
// /api/v2/nfts/batch: {"identifiers": [NftIdentifierInput]}.
type wireNFTBatchRequest struct {
	Identifiers *[]wireNFTIdentifier `json:"identifiers"`
}

// wireNFTIdentifier is NftIdentifierInput; all three fields are required.
type wireNFTIdentifier struct {
	Chain           *string `json:"chain"`
	ContractAddress *string `json:"contract_address"`
	TokenID         *string `json:"token_id"`
}

// wireNFTBatchResponse is NftBatchResponse: {"nfts": [NftDetailed]}.
type wireNFTBatchResponse struct {
	NFTs []wireNFTDetailed `json:"nfts"`
}

// wireNFTResponse is NftResponse: {"nft": NftDetailed}.
type wireNFTResponse struct {
	NFT wireNFTDetailed `json:"nft"`
}

// wireTraitCounts is GetTraitsResponse of GET /api/v2/traits/{slug}:
// categories maps each trait type to "string", "number" or "date"; counts
// maps a string type to {value: count} and a numeric or date type to
// {"min": n, "max": n}.
type wireTraitCounts struct {
	Categories map[string]string         `json:"categories"`
	Counts     map[string]map[string]any `json:"counts"`
}

// wireNFTList is NftListResponse; Next is absent on the last page.
type wireNFTList struct {
	NFTs []wireNFT `json:"nfts"`
	Next string    `json:"next,omitempty"`
}

// wireErrors is V1ErrorWrapper, the body of most non-2xx answers.
type wireErrors struct {
	Errors []string `json:"errors"`
}

// wireThrottled is the body of a 429 answer, as observed from the real API.
type wireThrottled struct {
	Detail string `json:"detail"`
}
