package opensea

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// The single-NFT and collection-traits endpoints. Their wire shapes follow
// the OpenSea API v2 spec (api-types NftResponse / NftDetailed, and
// opensea-js GetTraitsResponse {categories: {type: "string"|"number"|"date"},
// counts: {type: {value: count}}}); see testdata/SOURCES.md.

// nftResponseDTO is NftResponse: {"nft": NftDetailed}.
type nftResponseDTO struct {
	NFT json.RawMessage `json:"nft"`
}

// nftExtraDTO is the part of NftDetailed beyond the listed Nft fields that
// the client reads.
type nftExtraDTO struct {
	Description *string `json:"description"`
}

// NFT fetches GET /api/v2/chain/{chain}/contract/{address}/nfts/{identifier}:
// one token with its traits, the only OpenSea endpoint that has them (the
// list endpoint leaves them out, opensea-sdk issue #1889). Traits is nil
// when the answer carries no traits (OpenSea sends null for tokens with
// very many traits), else a list, empty for a token without traits. A 404
// is ClassPermanent for this token only; structure errors are
// ClassMalformed and name the token.
func (c *Client) NFT(ctx context.Context, chain, contract, identifier string) (*indexer.TokenMetadata, error) {
	op := "nft " + chain + "/" + contract + "/" + identifier
	if chain == "" || contract == "" || identifier == "" || strings.ContainsAny(chain+contract+identifier, "/?#") {
		return nil, &indexer.Error{Class: indexer.ClassPermanent, Op: op, Err: errors.New("chain, contract and identifier must be non-empty path segments")}
	}
	path := "/api/v2/chain/" + url.PathEscape(chain) + "/contract/" + url.PathEscape(contract) + "/nfts/" + url.PathEscape(identifier)
	resp, err := c.get(ctx, op, path, nil)
	if err != nil {
		var ie *indexer.Error
		if errors.As(err, &ie) && ie.Status == http.StatusNotFound {
			ie.Err = fmt.Errorf("nft not found: %w", ie.Err)
		}
		return nil, err
	}
	md, skips, err := decodeNFT(resp.body, identifier)
	if err != nil {
		return nil, malformed(op, resp.status, fmt.Errorf("decode nft %s: %w", identifier, err))
	}
	c.reportSkips(ctx, op, skips)
	return md, nil
}

// TokenTraits implements indexer.TraitSource with the single-NFT endpoint.
func (c *Client) TokenTraits(ctx context.Context, ref indexer.TokenRef) (*indexer.TokenMetadata, error) {
	return c.NFT(ctx, cmpOr(ref.Chain, "ethereum"), ref.Contract, ref.TokenID)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// decodeNFT decodes a single-NFT answer requested for identifier.
func decodeNFT(body []byte, identifier string) (*indexer.TokenMetadata, []Skip, error) {
	var dto nftResponseDTO
	if err := decodeStrict(body, &dto); err != nil {
		return nil, nil, err
	}
	if kind := rawKind(dto.NFT); kind != "object" {
		return nil, nil, fmt.Errorf("field nft: want object, got JSON %s", kind)
	}
	tok, skips, err := decodeToken(dto.NFT)
	if err != nil {
		return nil, nil, fmt.Errorf("field nft: %w", err)
	}
	if tok.TokenID != identifier {
		return nil, nil, fmt.Errorf("field nft.identifier: asked for %q, got %q", identifier, clip.Text(tok.TokenID, 80))
	}
	var extra nftExtraDTO
	if err := decodeStrict(dto.NFT, &extra); err != nil {
		return nil, nil, fmt.Errorf("field nft: %w", err)
	}
	md := &indexer.TokenMetadata{
		Name: tok.Name, ImageURL: tok.ImageURL, Traits: tok.Traits, UpdatedAt: tok.UpdatedAt, Raw: tok.Raw,
	}
	if extra.Description != nil {
		md.Description = *extra.Description
	}
	return md, skips, nil
}

// reportSkips logs and reports the values a decode dropped.
func (c *Client) reportSkips(ctx context.Context, op string, skips []Skip) {
	for _, s := range skips {
		s.Op = op
		c.logger.WarnContext(ctx, "opensea: skipped value",
			slog.String("op", op), slog.String("token_id", s.TokenID),
			slog.String("field", s.Field), slog.String("reason", s.Reason))
		if c.observeSkip != nil {
			c.observeSkip(s)
		}
	}
}

// traitCountsDTO is GetTraitsResponse.
type traitCountsDTO struct {
	Categories *map[string]string                     `json:"categories"`
	Counts     *map[string]map[string]json.RawMessage `json:"counts"`
}

// CollectionTraits fetches GET /api/v2/traits/{slug}: the collection's trait
// types with their kind and, for string types, how many tokens carry each
// value; number and date types come as {min, max}. A count that is not a
// non-negative integer, a numeric bound that is not a number, or a category
// other than string/number/date is ClassMalformed.
func (c *Client) CollectionTraits(ctx context.Context, slug string) (*indexer.TraitCounts, error) {
	op := "traits " + slug
	if err := checkSlug(op, slug); err != nil {
		return nil, err
	}
	resp, err := c.get(ctx, op, "/api/v2/traits/"+url.PathEscape(slug), nil)
	if err != nil {
		return nil, err
	}
	tc, err := decodeTraitCounts(resp.body)
	if err != nil {
		return nil, malformed(op, resp.status, fmt.Errorf("decode traits %s: %w", slug, err))
	}
	return tc, nil
}

func decodeTraitCounts(body []byte) (*indexer.TraitCounts, error) {
	var dto traitCountsDTO
	if err := decodeStrict(body, &dto); err != nil {
		return nil, err
	}
	if dto.Categories == nil {
		return nil, errors.New("field categories: required")
	}
	if dto.Counts == nil {
		return nil, errors.New("field counts: required")
	}
	out := &indexer.TraitCounts{
		Categories: map[string]string{}, Values: map[string]map[string]int64{}, Ranges: map[string]indexer.Range{},
	}
	names := make([]string, 0, len(*dto.Categories))
	for name := range *dto.Categories {
		names = append(names, name)
	}
	sort.Strings(names) // deterministic error messages
	for _, name := range names {
		kind := (*dto.Categories)[name]
		counts, ok := (*dto.Counts)[name]
		field := "counts[" + clip.Text(name, 80) + "]"
		switch kind {
		case "string":
			out.Categories[name] = kind
			values := make(map[string]int64, len(counts))
			for v, raw := range counts {
				count, err := strconv.ParseInt(string(raw), 10, 64)
				if err != nil || count < 0 {
					return nil, fmt.Errorf("field %s[%s]: want a non-negative integer, got %s", field, clip.Text(v, 80), clip.Text(string(raw), 40))
				}
				values[v] = count
			}
			out.Values[name] = values
		case "number", "date":
			out.Categories[name] = kind
			if !ok {
				continue // no tokens carry it
			}
			var r indexer.Range
			for bound, dst := range map[string]*string{"min": &r.Min, "max": &r.Max} {
				raw, ok := counts[bound]
				if !ok || rawKind(raw) != "number" {
					return nil, fmt.Errorf("field %s.%s: want a number", field, bound)
				}
				n, err := indexer.CanonicalDecimal(string(raw), true)
				if err != nil {
					return nil, fmt.Errorf("field %s.%s: %w", field, bound, err)
				}
				*dst = n
			}
			out.Ranges[name] = r
		default:
			return nil, fmt.Errorf("field categories[%s]: want string, number or date, got %q", clip.Text(name, 80), clip.Text(kind, 40))
		}
	}
	return out, nil
}
