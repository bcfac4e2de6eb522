// Package indexer defines the source-neutral types that NFT indexer clients
// return, the small Indexer interface the workers depend on, and the error
// classes every client maps its failures into.
//
// Clients (for example indexer/opensea) own their wire DTOs and translate them
// into these types; nothing here knows about HTTP or storage. Money is never a
// float: amounts travel as decimal strings that PostgreSQL NUMERIC accepts.
package indexer

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Indexer is what a fetch worker needs from an upstream source. Every method
// takes ctx first and returns an error classified by the helpers in
// errors.go (IsTransient, IsPermanent, IsMalformed, RateLimited).
type Indexer interface {
	// Source is the stable identifier stored as provenance, e.g. "opensea".
	Source() string
	// Collection returns the collection's metadata.
	Collection(ctx context.Context, slug string) (*Collection, error)
	// Stats returns floor price and volume windows; one call serves both.
	Stats(ctx context.Context, slug string) (*Stats, error)
	// Tokens returns one page of tokens with their traits. cursor "" starts
	// at the beginning; an empty Next in the result means the last page.
	Tokens(ctx context.Context, slug, cursor string) (*TokenPage, error)
}

// Money is an amount in display units of Currency (e.g. "11.25" ETH) with the
// currency's on-chain decimals (18 for ETH). Amount is a canonical decimal
// string without exponent, never negative, never NaN or Inf.
type Money struct {
	Amount   string
	Currency string
	Decimals int32
}

// Contract is one on-chain contract of a collection.
type Contract struct {
	Chain   string // e.g. "ethereum"
	Address string // lower-cased 0x address
}

// Collection is collection metadata.
type Collection struct {
	Slug            string
	Name            string
	Description     string
	ImageURL        string
	BannerImageURL  string
	ExternalURL     string
	Category        string
	SafelistStatus  string
	TotalSupply     int64
	UniqueItemCount int64
	Contracts       []Contract
	// Currency is the pricing (listing) currency symbol, e.g. "ETH", and its
	// decimals; empty when the source does not say.
	Currency         string
	CurrencyDecimals int32
	CreatedDate      string // as given by the source, e.g. "2021-04-22"
	Raw              json.RawMessage
	FetchedAt        time.Time
	// SourceAsOf is the source's own timestamp when it gives one (a
	// subgraph's head block time), else zero.
	SourceAsOf time.Time
}

// Window names the span a volume figure covers.
type Window string

// The volume windows we store. Unknown upstream intervals are ignored.
const (
	Window1d  Window = "1d"
	Window7d  Window = "7d"
	Window30d Window = "30d"
	WindowAll Window = "all"
)

// Volume is traded volume and number of sales over a window.
type Volume struct {
	Window Window
	Amount Money
	Sales  int64
	// Low and High, when set, bound the true volume of the window because
	// Amount is an estimate (a subgraph prorates the day before a window
	// from daily totals); decimal strings in Amount's currency. Empty when
	// Amount is exact.
	Low, High string
}

// Stats are market statistics of a collection at one moment. Floor is nil
// when the source reports no floor (no listings).
type Stats struct {
	Floor     *Money
	Volumes   []Volume // always contains WindowAll when the source has totals
	Owners    int64
	Sales     int64 // all-time sales
	FetchedAt time.Time
	// SourceAsOf is the source's own timestamp when it gives one, else zero.
	SourceAsOf time.Time
}

// Trait is one attribute of a token. ValueText is the value as text (strings
// verbatim, numbers in their JSON spelling, booleans "true"/"false").
// ValueNumeric is set when the value is a JSON number or a numeric string.
type Trait struct {
	Type         string
	ValueText    string
	ValueKind    ValueKind // the JSON type the source sent the value as
	ValueNumeric *string   // decimal string, NUMERIC-compatible
	DisplayType  string    // "" when absent/null
	MaxValue     string
	Raw          json.RawMessage
}

// ValueKind is the JSON type of a trait value as the source sent it. Rarity
// treats numbers and booleans as numeric traits (as OpenRarity does), even
// though a numeric-looking string also gets a ValueNumeric.
type ValueKind string

// The value kinds.
const (
	ValueString  ValueKind = "string"
	ValueNumber  ValueKind = "number"
	ValueBoolean ValueKind = "boolean"
)

// Token is one NFT with its traits. Traits is nil when the source returned
// no traits field or null (unknown), and empty when it returned [] (none).
type Token struct {
	TokenID       string // decimal identifier as given
	Contract      string // lower-cased address
	TokenStandard string // e.g. "erc721", "erc1155"
	Name          string
	ImageURL      string
	MetadataURL   string
	UpdatedAt     time.Time // source's updated_at; zero when absent
	Traits        []Trait
	Raw           json.RawMessage
}

// TokenPage is one page of a collection's tokens.
type TokenPage struct {
	Tokens []Token
	Next   string
}

// TokenMetadata is what one token's own document says: the single-NFT
// endpoint's answer or the token's metadata_url document.
type TokenMetadata struct {
	Name        string
	Description string
	ImageURL    string
	// Traits is nil when the document says nothing about traits (unknown)
	// and empty when it says the token has none.
	Traits []Trait
	// UpdatedAt is the source's own timestamp; zero when it does not say.
	UpdatedAt time.Time
	Raw       json.RawMessage
}

// TokenRef names a token for a per-token trait fetch.
type TokenRef struct {
	Chain       string // e.g. "ethereum"
	Contract    string // lower-cased 0x address
	TokenID     string // decimal identifier as listed
	MetadataURL string // the token's metadata_url as listed; may be empty
}

// TraitSource fetches one token's metadata and traits. Errors are *Error
// values with the classes in errors.go (read them with ClassOf and
// RetryAfter); a permanent or malformed error concerns that token only.
type TraitSource interface {
	// Source is "opensea" or "token_uri".
	Source() string
	// TokenTraits returns the token's metadata with its traits.
	TokenTraits(ctx context.Context, ref TokenRef) (*TokenMetadata, error)
}

// BatchTraitSource is a TraitSource that can also fetch many tokens'
// traits in one call (OpenSea's POST /api/v2/nfts/batch).
type BatchTraitSource interface {
	TraitSource
	// TokenTraitsBatch returns one entry per ref, in order: the token's
	// metadata (Traits nil when the source does not know them), or nil when
	// the answer left the token out (the source did not find it, or its
	// entry was unusable): the caller asks for such a token alone. An error
	// concerns the whole call; errors.Is(err, ErrBatchTooLarge) says the
	// source refused the call because it asked for too many tokens.
	TokenTraitsBatch(ctx context.Context, refs []TokenRef) ([]*TokenMetadata, error)
}

// ErrBatchTooLarge is wrapped by the error of a batch call the source
// refused for asking too many tokens at once (HTTP 413, or a 400 whose
// message says so). A smaller batch may succeed.
var ErrBatchTooLarge = errors.New("batch too large")

// The trait sources a collection can be configured with.
const (
	TraitSourceOpenSea  = "opensea"
	TraitSourceTokenURI = "token_uri"
)

// TraitCounts is a source's own count of a collection's trait values, for
// cross-checking the counts computed from the tokens' traits.
type TraitCounts struct {
	// Categories maps each trait type to its kind: "string", "number" or
	// "date".
	Categories map[string]string
	// Values maps each string trait type to {value: number of tokens}.
	Values map[string]map[string]int64
	// Ranges maps each number or date trait type to its smallest and
	// largest value, as canonical decimal strings.
	Ranges map[string]Range
}

// Range is the span of a numeric trait's values.
type Range struct{ Min, Max string }

// TraitCounter is implemented by sources that can count a collection's
// trait values in one call (OpenSea's GET /api/v2/traits/{slug}).
type TraitCounter interface {
	CollectionTraits(ctx context.Context, slug string) (*TraitCounts, error)
}
