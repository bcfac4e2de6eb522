package opensea

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// Skip describes a value the client dropped instead of failing the call.
// See Options.ObserveSkip.
type Skip struct {
	// Op is the operation, e.g. "tokens example-apes".
	Op string
	// TokenID is the identifier of the token the value belongs to.
	TokenID string
	// Field is the JSON path of the dropped value, e.g. "traits[2].value".
	Field string
	// Reason says what was wrong, e.g. "value is null".
	Reason string
}

// nftPageDTO is NftListResponse. nfts is required; next is absent or null
// on the last page. Each nft is kept raw so errors can name the token and
// Token.Raw keeps the original bytes.
type nftPageDTO struct {
	Next *string            `json:"next"`
	NFTs *[]json.RawMessage `json:"nfts"`
}

// nftDTO is the part of Nft the client reads. identifier and contract are
// required; traits is kept raw to tell absent/null from [].
type nftDTO struct {
	Contract      *string         `json:"contract"`
	Identifier    *string         `json:"identifier"`
	ImageURL      string          `json:"image_url"`
	MetadataURL   string          `json:"metadata_url"`
	Name          string          `json:"name"`
	TokenStandard string          `json:"token_standard"`
	Traits        json.RawMessage `json:"traits"`
	UpdatedAt     string          `json:"updated_at"`
}

// traitDTO is Trait. trait_type is required; value is untyped in the spec
// and kept raw; max_value is a string in the spec but numbers are accepted.
type traitDTO struct {
	DisplayType *string         `json:"display_type"`
	MaxValue    json.RawMessage `json:"max_value"`
	TraitType   *string         `json:"trait_type"`
	Value       json.RawMessage `json:"value"`
}

// Tokens fetches one page of GET /api/v2/collection/{slug}/nfts with
// limit=Options.PageSize and next=cursor (omitted when cursor is ""). Next
// in the result is "" on the last page. A next equal to the request's
// cursor is malformed, since following it would loop forever.
//
// Token.Traits is nil when the API sent no traits or null (unknown), and
// non-nil, possibly empty, when it sent an array. The page fails as
// ClassMalformed, naming the token, when its structure is wrong; odd trait
// values and unparseable updated_at are skipped and reported instead (see
// the package doc).
func (c *Client) Tokens(ctx context.Context, slug, cursor string) (*indexer.TokenPage, error) {
	op := "tokens " + slug
	if err := checkSlug(op, slug); err != nil {
		return nil, err
	}
	q := url.Values{"limit": {strconv.Itoa(c.pageSize)}}
	if cursor != "" {
		q.Set("next", cursor)
	}
	resp, err := c.get(ctx, op, "/api/v2/collection/"+url.PathEscape(slug)+"/nfts", q)
	if err != nil {
		return nil, err
	}
	page, skips, err := decodeTokenPage(resp.body, cursor)
	if err != nil {
		return nil, malformed(op, resp.status, fmt.Errorf("decode tokens %s: %w", slug, err))
	}
	c.reportSkips(ctx, op, skips)
	return page, nil
}

// decodeTokenPage decodes and validates an NFT page requested with cursor.
func decodeTokenPage(body []byte, cursor string) (*indexer.TokenPage, []Skip, error) {
	var dto nftPageDTO
	if err := decodeStrict(body, &dto); err != nil {
		return nil, nil, err
	}
	if dto.NFTs == nil {
		return nil, nil, errors.New("field nfts: required")
	}
	page := &indexer.TokenPage{Tokens: make([]indexer.Token, 0, len(*dto.NFTs))}
	if dto.Next != nil {
		page.Next = *dto.Next
	}
	if page.Next != "" && page.Next == cursor {
		return nil, nil, fmt.Errorf("field next: repeats the request cursor %q", cursor)
	}
	var skips []Skip
	for i, raw := range *dto.NFTs {
		tok, s, err := decodeToken(raw)
		if err != nil {
			if id := lenientIdentifier(raw); id != "" {
				return nil, nil, fmt.Errorf("nfts[%d] (identifier %q): %w", i, id, err)
			}
			return nil, nil, fmt.Errorf("nfts[%d]: %w", i, err)
		}
		page.Tokens = append(page.Tokens, tok)
		skips = append(skips, s...)
	}
	return page, skips, nil
}

// decodeToken decodes one nft object.
func decodeToken(raw json.RawMessage) (indexer.Token, []Skip, error) {
	if kind := rawKind(raw); kind != "object" {
		return indexer.Token{}, nil, fmt.Errorf("want object, got JSON %s", kind)
	}
	var dto nftDTO
	if err := decodeStrict(raw, &dto); err != nil {
		return indexer.Token{}, nil, err
	}
	switch {
	case dto.Identifier == nil:
		return indexer.Token{}, nil, errors.New("field identifier: required")
	case *dto.Identifier == "":
		return indexer.Token{}, nil, errors.New("field identifier: empty")
	case dto.Contract == nil:
		return indexer.Token{}, nil, errors.New("field contract: required")
	case *dto.Contract == "":
		return indexer.Token{}, nil, errors.New("field contract: empty")
	}
	tok := indexer.Token{
		TokenID:       *dto.Identifier,
		Contract:      normalizeAddress(*dto.Contract),
		TokenStandard: dto.TokenStandard,
		Name:          dto.Name,
		ImageURL:      dto.ImageURL,
		MetadataURL:   dto.MetadataURL,
		Raw:           raw,
	}
	var skips []Skip
	if dto.UpdatedAt != "" {
		if t, ok := parseUpdatedAt(dto.UpdatedAt); ok {
			tok.UpdatedAt = t
		} else {
			skips = append(skips, Skip{TokenID: tok.TokenID, Field: "updated_at",
				Reason: "unparseable timestamp " + strconv.Quote(clip.Text(dto.UpdatedAt, 40))})
		}
	}
	traits, traitSkips, err := decodeTraits(dto.Traits, tok.TokenID)
	if err != nil {
		return indexer.Token{}, nil, err
	}
	tok.Traits = traits
	return tok, append(skips, traitSkips...), nil
}

// decodeTraits decodes the traits field: nil for absent or null, else a
// non-nil slice of the usable traits.
func decodeTraits(raw json.RawMessage, tokenID string) ([]indexer.Trait, []Skip, error) {
	switch kind := rawKind(raw); kind {
	case "absent", "null":
		return nil, nil, nil
	case "array":
	default:
		return nil, nil, fmt.Errorf("field traits: want array, got JSON %s", kind)
	}
	var items []json.RawMessage
	if err := decodeStrict(raw, &items); err != nil {
		return nil, nil, fmt.Errorf("field traits: %w", err)
	}
	traits := make([]indexer.Trait, 0, len(items))
	var skips []Skip
	for i, item := range items {
		field := fmt.Sprintf("traits[%d]", i)
		tr, reason, err := decodeTrait(item)
		switch {
		case err != nil:
			return nil, nil, fmt.Errorf("field %s: %w", field, err)
		case reason != "":
			skips = append(skips, Skip{TokenID: tokenID, Field: field + ".value", Reason: reason})
		default:
			traits = append(traits, tr)
		}
	}
	return traits, skips, nil
}

// decodeTrait decodes one trait object. A non-empty reason means the trait
// is skipped; err means the page fails.
func decodeTrait(raw json.RawMessage) (tr indexer.Trait, reason string, err error) {
	if kind := rawKind(raw); kind != "object" {
		return indexer.Trait{}, "", fmt.Errorf("want object, got JSON %s", kind)
	}
	var dto traitDTO
	if err := decodeStrict(raw, &dto); err != nil {
		return indexer.Trait{}, "", err
	}
	if dto.TraitType == nil {
		return indexer.Trait{}, "", errors.New("field trait_type: required")
	}
	return indexer.NewTrait(*dto.TraitType, dto.DisplayType, dto.MaxValue, dto.Value, raw)
}

// lenientIdentifier digs the identifier out of a raw nft for error
// messages, whatever its JSON type; "" when there is none.
func lenientIdentifier(raw json.RawMessage) string {
	var v struct {
		Identifier json.RawMessage `json:"identifier"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	switch rawKind(v.Identifier) {
	case "string":
		s, _ := rawString(v.Identifier)
		return clip.Text(s, 80)
	case "number":
		return clip.Text(string(v.Identifier), 80)
	}
	return ""
}

// parseUpdatedAt parses an updated_at value. OpenSea sends a zone-less ISO
// timestamp with microseconds ("2026-06-30T12:00:00.000000"), read as UTC;
// RFC 3339 with a zone and a space instead of "T" are accepted too.
func parseUpdatedAt(s string) (time.Time, bool) {
	layouts := [...]string{
		time.RFC3339Nano,
		"2006-01-02T15:04:05.999999999",
		"2006-01-02 15:04:05.999999999",
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
