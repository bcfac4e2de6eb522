package opensea

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// The batch NFT lookup, POST /api/v2/nfts/batch (get_nfts_batch), added in
// ProjectOpenSea/api-types 0.4.0 (2026-05-13; shapes from opensea-api.json
// v0.8.5): the body is BatchNftsRequest {"identifiers": [NftIdentifierInput
// {chain, contract_address, token_id}]}, the answer NftBatchResponse
// {"nfts": [NftDetailed]}, each with its traits; "Not-found NFTs are
// silently omitted from the response". The spec states no maximum batch
// size and documents only 400 (BadRequest) and 500 as errors; a 413, or a
// 400 whose message says the batch is too large, is reported as
// indexer.ErrBatchTooLarge so the caller can halve its batch.

// batchRequestDTO is BatchNftsRequest.
type batchRequestDTO struct {
	Identifiers []batchIdentifierDTO `json:"identifiers"`
}

// batchIdentifierDTO is NftIdentifierInput.
type batchIdentifierDTO struct {
	Chain           string `json:"chain"`
	ContractAddress string `json:"contract_address"`
	TokenID         string `json:"token_id"`
}

// batchResponseDTO is NftBatchResponse; nfts is required.
type batchResponseDTO struct {
	NFTs *[]json.RawMessage `json:"nfts"`
}

var _ indexer.BatchTraitSource = (*Client)(nil)

// TokenTraitsBatch implements indexer.BatchTraitSource with POST
// /api/v2/nfts/batch: one call for all refs (a ref without chain means
// ethereum). The result has one entry per ref in order, nil for a token the
// answer left out. An answer entry that cannot be decoded is reported as a
// skip (Options.ObserveSkip) and its token left out, so one broken entry
// costs its token a single call rather than failing the batch; a body that
// is not a batch answer at all is ClassMalformed. Entries for tokens not
// asked for are ignored.
func (c *Client) TokenTraitsBatch(ctx context.Context, refs []indexer.TokenRef) ([]*indexer.TokenMetadata, error) {
	op := fmt.Sprintf("nfts batch of %d", len(refs))
	out := make([]*indexer.TokenMetadata, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	req := batchRequestDTO{Identifiers: make([]batchIdentifierDTO, len(refs))}
	index := make(map[string][]int, len(refs))
	for i, r := range refs {
		if r.Contract == "" || r.TokenID == "" {
			return nil, &indexer.Error{Class: indexer.ClassPermanent, Op: op, Err: fmt.Errorf("identifiers[%d]: contract and token id must be non-empty", i)}
		}
		req.Identifiers[i] = batchIdentifierDTO{Chain: cmpOr(r.Chain, "ethereum"), ContractAddress: r.Contract, TokenID: r.TokenID}
		k := normalizeAddress(r.Contract) + "/" + r.TokenID
		index[k] = append(index[k], i)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, &indexer.Error{Class: indexer.ClassPermanent, Op: op, Err: fmt.Errorf("encode request: %w", err)}
	}
	resp, err := c.post(ctx, op, "/api/v2/nfts/batch", body)
	if err != nil {
		var ie *indexer.Error
		if errors.As(err, &ie) && batchTooLarge(ie) {
			ie.Err = fmt.Errorf("%w: %w", indexer.ErrBatchTooLarge, ie.Err)
		}
		return nil, err
	}
	var dto batchResponseDTO
	if err := decodeStrict(resp.body, &dto); err != nil {
		return nil, malformed(op, resp.status, fmt.Errorf("decode nfts batch: %w", err))
	}
	if dto.NFTs == nil {
		return nil, malformed(op, resp.status, errors.New("decode nfts batch: field nfts: required"))
	}
	var skips []Skip
	for i, raw := range *dto.NFTs {
		tok, s, err := decodeToken(raw)
		if err != nil {
			id := lenientIdentifier(raw)
			skips = append(skips, Skip{TokenID: id, Field: fmt.Sprintf("nfts[%d]", i), Reason: clip.Text(err.Error(), 200)})
			continue
		}
		var extra nftExtraDTO
		if err := decodeStrict(raw, &extra); err != nil {
			skips = append(skips, Skip{TokenID: tok.TokenID, Field: fmt.Sprintf("nfts[%d]", i), Reason: clip.Text(err.Error(), 200)})
			continue
		}
		skips = append(skips, s...)
		md := &indexer.TokenMetadata{Name: tok.Name, ImageURL: tok.ImageURL, Traits: tok.Traits, UpdatedAt: tok.UpdatedAt, Raw: tok.Raw}
		if extra.Description != nil {
			md.Description = *extra.Description
		}
		for _, j := range index[tok.Contract+"/"+tok.TokenID] {
			out[j] = md
		}
	}
	c.reportSkips(ctx, op, skips)
	return out, nil
}

// batchTooLarge reports whether a refused batch call says it asked for too
// many tokens: 413, or a 400 whose message says so. The live API's wording
// is not documented, so the test is on the words such messages use.
func batchTooLarge(e *indexer.Error) bool {
	switch e.Status {
	case http.StatusRequestEntityTooLarge:
		return true
	case http.StatusBadRequest:
		msg := strings.ToLower(e.Error())
		for _, w := range []string{"too large", "too many", "too long", "exceed", "maximum", "at most"} {
			if strings.Contains(msg, w) {
				return true
			}
		}
	}
	return false
}
