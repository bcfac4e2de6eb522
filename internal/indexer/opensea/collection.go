package opensea

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/nftsync/nftsync/internal/indexer"
)

// collectionDTO is the part of CollectionDetailedResponse the client reads.
// Pointer fields are required: absent or null is malformed. Plain string
// fields are optional and nullable ("" when absent or null).
type collectionDTO struct {
	BannerImageURL    string                `json:"banner_image_url"`
	Category          string                `json:"category"`
	Collection        *string               `json:"collection"`
	Contracts         *[]contractDTO        `json:"contracts"`
	CreatedDate       string                `json:"created_date"`
	Description       string                `json:"description"`
	ImageURL          string                `json:"image_url"`
	Name              *string               `json:"name"`
	PricingCurrencies *pricingCurrenciesDTO `json:"pricing_currencies"`
	ProjectURL        string                `json:"project_url"`
	SafelistStatus    string                `json:"safelist_status"`
	TotalSupply       int64                 `json:"total_supply"`
	UniqueItemCount   int64                 `json:"unique_item_count"`
}

type contractDTO struct {
	Address *string `json:"address"`
	Chain   *string `json:"chain"`
}

type pricingCurrenciesDTO struct {
	ListingCurrency *currencyDTO `json:"listing_currency"`
}

type currencyDTO struct {
	Decimals *int32 `json:"decimals"`
	Symbol   string `json:"symbol"`
}

// Collection fetches GET /api/v2/collections/{slug}. Slug in the result is
// the one the API returns, which can differ from the requested slug after a
// rename (logged as a warning). Currency is the listing currency; empty when
// the response has no pricing_currencies. Errors are *indexer.Error: 404 is
// ClassPermanent "collection not found"; see the package doc for the rest.
func (c *Client) Collection(ctx context.Context, slug string) (*indexer.Collection, error) {
	op := "collection " + slug
	if err := checkSlug(op, slug); err != nil {
		return nil, err
	}
	resp, err := c.get(ctx, op, "/api/v2/collections/"+url.PathEscape(slug), nil)
	if err != nil {
		return nil, err
	}
	col, err := decodeCollection(resp.body)
	if err != nil {
		return nil, malformed(op, resp.status, fmt.Errorf("decode collection %s: %w", slug, err))
	}
	col.FetchedAt = resp.fetchedAt
	if col.Slug != slug {
		c.logger.WarnContext(ctx, "opensea: collection slug differs from the requested one",
			slog.String("requested", slug), slog.String("returned", col.Slug))
	}
	return col, nil
}

// decodeCollection decodes and validates a collection body.
func decodeCollection(body []byte) (*indexer.Collection, error) {
	var dto collectionDTO
	if err := decodeStrict(body, &dto); err != nil {
		return nil, err
	}
	switch {
	case dto.Collection == nil:
		return nil, errors.New("field collection: required")
	case *dto.Collection == "":
		return nil, errors.New("field collection: empty")
	case dto.Name == nil:
		return nil, errors.New("field name: required")
	case dto.Contracts == nil:
		return nil, errors.New("field contracts: required")
	case dto.TotalSupply < 0:
		return nil, fmt.Errorf("field total_supply: negative (%d)", dto.TotalSupply)
	case dto.UniqueItemCount < 0:
		return nil, fmt.Errorf("field unique_item_count: negative (%d)", dto.UniqueItemCount)
	}
	col := &indexer.Collection{
		Slug:            *dto.Collection,
		Name:            *dto.Name,
		Description:     dto.Description,
		ImageURL:        dto.ImageURL,
		BannerImageURL:  dto.BannerImageURL,
		ExternalURL:     dto.ProjectURL,
		Category:        dto.Category,
		SafelistStatus:  dto.SafelistStatus,
		TotalSupply:     dto.TotalSupply,
		UniqueItemCount: dto.UniqueItemCount,
		Contracts:       make([]indexer.Contract, 0, len(*dto.Contracts)),
		CreatedDate:     dto.CreatedDate,
		Raw:             bytes.TrimSpace(body),
	}
	for i, ct := range *dto.Contracts {
		if ct.Address == nil || *ct.Address == "" {
			return nil, fmt.Errorf("field contracts[%d].address: required", i)
		}
		if ct.Chain == nil || *ct.Chain == "" {
			return nil, fmt.Errorf("field contracts[%d].chain: required", i)
		}
		col.Contracts = append(col.Contracts, indexer.Contract{Chain: *ct.Chain, Address: normalizeAddress(*ct.Address)})
	}
	if pc := dto.PricingCurrencies; pc != nil && pc.ListingCurrency != nil && pc.ListingCurrency.Symbol != "" {
		lc := pc.ListingCurrency
		col.Currency = lc.Symbol
		col.CurrencyDecimals = currencyDecimals(lc.Symbol)
		if lc.Decimals != nil {
			if *lc.Decimals < 0 || *lc.Decimals > 77 {
				return nil, fmt.Errorf("field pricing_currencies.listing_currency.decimals: out of range (%d)", *lc.Decimals)
			}
			col.CurrencyDecimals = *lc.Decimals
		}
	}
	return col, nil
}

// normalizeAddress lower-cases EVM hex addresses ("0x…"); other address
// formats, such as Solana's case-sensitive base58, are returned unchanged.
func normalizeAddress(addr string) string {
	if len(addr) > 2 && addr[0] == '0' && (addr[1] == 'x' || addr[1] == 'X') {
		return strings.ToLower(addr)
	}
	return addr
}

// currencyDecimals returns the on-chain decimals of a well-known currency
// symbol (case-insensitive), and 18, the EVM norm, for any other symbol.
func currencyDecimals(symbol string) int32 {
	switch strings.ToUpper(symbol) {
	case "USDC", "USDT":
		return 6
	case "SOL":
		return 9
	default: // ETH, WETH, DAI, POL, MATIC, APE and unknown symbols
		return 18
	}
}
