package indexersim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serveNFT answers GET /api/v2/chain/{chain}/contract/{address}/nfts/{identifier}
// (get_nft) with {"nft": NftDetailed}: the listed fields plus owners,
// creator and rarity (null: the simulator does not rank), and always the
// token's traits. An unknown chain, contract or identifier gets 404.
func (s *Server) serveNFT(r *http.Request, _ time.Time) (int, any) {
	c, ok := s.byContract[strings.ToLower(r.PathValue("address"))]
	if !ok || c.info.Chain != strings.ToLower(r.PathValue("chain")) {
		return http.StatusNotFound, wireErrors{Errors: []string{"contract not found"}}
	}
	i, ok := c.index(r.PathValue("identifier"))
	if !ok {
		return http.StatusNotFound, wireErrors{Errors: []string{"nft not found"}}
	}
	return http.StatusOK, wireNFTResponse{NFT: s.nftDetailed(r, c, i)}
}

// nftDetailed renders token index i as NftDetailed: traits null when the
// API does not know them.
func (s *Server) nftDetailed(r *http.Request, c *collection, i int) wireNFTDetailed {
	n := s.wireNFT(r, c, i)
	return wireNFTDetailed{
		wireNFT:      n,
		Traits:       n.Traits,
		Creator:      c.owner,
		Owners:       []wireOwner{{Address: address(c.seed, tagHolder<<32|uint64(i)), Quantity: 1, QuantityString: "1"}},
		IsSuspicious: false,
	}
}

// maxBatchBody bounds the request body of POST /api/v2/nfts/batch: about
// 130 bytes per identifier at the largest MaxBatchNFTs, with room.
const maxBatchBody = 4 << 20

// serveNFTsBatch answers POST /api/v2/nfts/batch (get_nfts_batch, added in
// ProjectOpenSea/api-types 0.4.0; opensea-api.json v0.8.5) as the spec
// describes it: the body is BatchNftsRequest {"identifiers": [{"chain",
// "contract_address", "token_id"}]} (all three required), the answer
// NftBatchResponse {"nfts": [NftDetailed]} with each NFT's traits (null when
// unknown), in the order asked; "Not-found NFTs are silently omitted from
// the response". The spec's only error answer besides 500 is 400
// (BadRequest, "For error reasons, review the response data"); it states no
// maximum batch size, so the simulator's is Config.MaxBatchNFTs and a
// longer list gets 400 with a message that says the batch is too large.
func (s *Server) serveNFTsBatch(r *http.Request, _ time.Time) (int, any) {
	var req wireNFTBatchRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBatchBody))
	if err := dec.Decode(&req); err != nil {
		return badRequest("Invalid request body: " + err.Error())
	}
	if req.Identifiers == nil {
		return badRequest("identifiers: This field is required.")
	}
	ids := *req.Identifiers
	if limit := s.cfg.MaxBatchNFTs; len(ids) > limit {
		return badRequest(fmt.Sprintf("Too many identifiers: the batch is too large (%d), at most %d are allowed per request.", len(ids), limit))
	}
	out := wireNFTBatchResponse{NFTs: make([]wireNFTDetailed, 0, len(ids))}
	for k, id := range ids {
		if id.Chain == nil || id.ContractAddress == nil || id.TokenID == nil {
			return badRequest(fmt.Sprintf("identifiers[%d]: chain, contract_address and token_id are required.", k))
		}
		c, ok := s.byContract[strings.ToLower(*id.ContractAddress)]
		if !ok || c.info.Chain != strings.ToLower(*id.Chain) {
			continue // not found: omitted
		}
		i, ok := c.index(*id.TokenID)
		if !ok {
			continue
		}
		out.NFTs = append(out.NFTs, s.nftDetailed(r, c, i))
	}
	return http.StatusOK, out
}

// serveTraits answers GET /api/v2/traits/{slug} (get_collection_traits):
// every trait type's category ("string", "number" or "date") and, over all
// tokens as they are now, {value: count} for string types and {"min",
// "max"} for numeric and date ones.
func (s *Server) serveTraits(r *http.Request, _ time.Time) (int, any) {
	c, ok := s.bySlug[r.PathValue("slug")]
	if !ok {
		return http.StatusNotFound, notFound()
	}
	out := wireTraitCounts{Categories: map[string]string{}, Counts: map[string]map[string]any{}}
	type span struct{ lo, hi int64 }
	spans := map[string]*span{}
	for i := range c.info.TokenCount {
		for _, t := range c.tokenTraits(i) {
			if !t.Numeric {
				out.Categories[t.Type] = "string"
				m := out.Counts[t.Type]
				if m == nil {
					m = map[string]any{}
					out.Counts[t.Type] = m
				}
				n, _ := m[t.Value].(int64)
				m[t.Value] = n + 1
				continue
			}
			out.Categories[t.Type] = "number"
			if t.DisplayType == "date" {
				out.Categories[t.Type] = "date"
			}
			v, _ := strconv.ParseInt(t.Value, 10, 64) // generated from an int64
			if sp := spans[t.Type]; sp == nil {
				spans[t.Type] = &span{v, v}
			} else {
				sp.lo, sp.hi = min(sp.lo, v), max(sp.hi, v)
			}
		}
	}
	for name, sp := range spans {
		out.Counts[name] = map[string]any{"min": sp.lo, "max": sp.hi}
	}
	return http.StatusOK, out
}

// index maps a listed identifier to the token index, false when the
// collection has no such token (or the identifier is not in canonical form).
func (c *collection) index(identifier string) (int, bool) {
	id, err := strconv.Atoi(identifier)
	if err != nil || strconv.Itoa(id) != identifier || id < firstTokenID || id >= firstTokenID+c.info.TokenCount {
		return 0, false
	}
	return id - firstTokenID, true
}

// Touch changes tokens of a collection as a metadata update upstream would:
// each gets new traits (different from its current ones) and an updated_at
// of the simulator's clock now (at least a second later than before). The
// list, single-NFT and traits endpoints all follow. It fails, changing
// nothing, on an unknown slug or identifier.
func (s *Server) Touch(slug string, identifiers ...string) error {
	c, ok := s.bySlug[slug]
	if !ok {
		return fmt.Errorf("touch: unknown collection %q", slug)
	}
	idx := make([]int, 0, len(identifiers))
	for _, id := range identifiers {
		i, ok := c.index(id)
		if !ok {
			return fmt.Errorf("touch %s: unknown token %q", slug, id)
		}
		idx = append(idx, i)
	}
	now := s.cfg.Clock()
	for _, i := range idx {
		c.touchToken(i, now)
	}
	c.book.touched(now, idx) // stream subscribers get item_metadata_updated
	return nil
}

// wireTouch is the body of POST /_sim/touch.
type wireTouch struct {
	Slug        string   `json:"slug"`
	Identifiers []string `json:"identifiers"`
}
