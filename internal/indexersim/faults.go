package indexersim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// faultKind is the fault drawn for one admitted request.
type faultKind int

const (
	faultNone faultKind = iota
	faultError
	faultTimeout
	faultMalformed
	faultOversize
)

// plan is the fault drawn for one request; variant is extra randomness that
// picks the sub-kind (status code, how a body is broken, where it is cut).
type plan struct {
	kind    faultKind
	variant uint64
}

// faults draws one plan per admitted request from a seeded sequence, so the
// faults are deterministic given the seed and the order of requests.
type faults struct {
	errorRate, timeoutRate, malformedRate, oversizeRate float64

	mu  sync.Mutex
	rng rng
}

func newFaults(cfg Config) *faults {
	return &faults{
		errorRate:     cfg.ErrorRate,
		timeoutRate:   cfg.TimeoutRate,
		malformedRate: cfg.MalformedRate,
		oversizeRate:  cfg.OversizeRate,
		rng:           rng{s: hash(uint64(cfg.Seed), 0xfa17)},
	}
}

// draw returns the next plan. With every rate zero it consumes nothing.
func (f *faults) draw() plan {
	if f.errorRate+f.timeoutRate+f.malformedRate+f.oversizeRate == 0 {
		return plan{}
	}
	f.mu.Lock()
	u, v := f.rng.float(), f.rng.next()
	f.mu.Unlock()
	p := plan{variant: v}
	for _, c := range []struct {
		rate float64
		kind faultKind
	}{{f.errorRate, faultError}, {f.timeoutRate, faultTimeout}, {f.malformedRate, faultMalformed}, {f.oversizeRate, faultOversize}} {
		if u < c.rate {
			p.kind = c.kind
			return p
		}
		u -= c.rate
	}
	return plan{}
}

// stormWait reports whether now is inside a 429 storm and how long the
// storm lasts from now. Storms are the last StormDuration of every
// StormEvery period counted from start.
func stormWait(cfg Config, start, now time.Time) (time.Duration, bool) {
	if cfg.StormEvery <= 0 {
		return 0, false
	}
	phase := now.Sub(start) % cfg.StormEvery
	if phase < 0 {
		phase += cfg.StormEvery
	}
	if phase < cfg.StormEvery-cfg.StormDuration {
		return 0, false
	}
	return cfg.StormEvery - phase, true
}

// errorFault returns the status, body and fault kind of an injected 5xx.
func errorFault(variant uint64) (int, wireErrors, string) {
	switch variant % 3 {
	case 0:
		return http.StatusInternalServerError, wireErrors{Errors: []string{"Internal server error"}}, FaultError500
	case 1:
		return http.StatusBadGateway, wireErrors{Errors: []string{"Bad gateway"}}, FaultError502
	default:
		return http.StatusServiceUnavailable, wireErrors{Errors: []string{"Service temporarily unavailable"}}, FaultError503
	}
}

// malform breaks a successful JSON body of the given endpoint kind. It
// returns the new body, its content type and the fault kind. Variants:
// truncated (30%), syntax error or an HTML error page (20%), a field with
// the wrong JSON type (30%), a negative number (20%).
func malform(kind string, body []byte, variant uint64) ([]byte, string, string) {
	const ctJSON = "application/json"
	sub := variant % 10
	variant /= 10
	switch {
	case sub < 3 && len(body) > 1:
		return body[:1+variant%uint64(len(body)-1)], ctJSON, FaultMalformedTruncate
	case sub < 5:
		if variant%2 == 0 {
			return append(bytes.Clone(body[:len(body)-1]), ",}"...), ctJSON, FaultMalformedSyntax
		}
		html := "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>"
		return []byte(html), "text/html", FaultMalformedSyntax
	}
	negative := sub >= 8
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return body[:len(body)/2], ctJSON, FaultMalformedTruncate
	}
	fault := FaultMalformedType
	if negative {
		fault = FaultMalformedNegative
	}
	switch kind {
	case EndpointStats:
		total, _ := doc["total"].(map[string]any)
		switch {
		case negative:
			total["floor_price"] = json.Number("-" + fmt.Sprint(total["floor_price"]))
		case variant%2 == 0:
			total["floor_price"] = "abc"
		default:
			total["volume"] = "lots"
		}
	case EndpointCollection:
		switch {
		case negative:
			doc["total_supply"] = json.Number("-" + fmt.Sprint(doc["total_supply"]))
		case variant%2 == 0:
			doc["total_supply"] = "ten thousand"
		default:
			doc["contracts"] = map[string]any{"address": "0x0", "chain": "ethereum"}
		}
	case EndpointNFTs:
		nfts, _ := doc["nfts"].([]any)
		if len(nfts) == 0 {
			doc["nfts"] = "none"
			break
		}
		nft, _ := nfts[variant%uint64(len(nfts))].(map[string]any)
		switch {
		case negative:
			nft["identifier"] = "-" + fmt.Sprint(nft["identifier"])
		case variant%2 == 0:
			nft["traits"] = "none"
		default:
			n, _ := strconv.ParseInt(fmt.Sprint(nft["identifier"]), 10, 64)
			nft["identifier"] = n
		}
	case EndpointNFTsBatch:
		nfts, _ := doc["nfts"].([]any)
		if len(nfts) == 0 {
			doc["nfts"] = "none"
			break
		}
		nft, _ := nfts[variant%uint64(len(nfts))].(map[string]any)
		switch {
		case negative:
			nft["identifier"] = "-" + fmt.Sprint(nft["identifier"])
		case variant%2 == 0:
			nft["traits"] = "none"
		default:
			nft["traits"] = []any{map[string]any{"trait_type": 7, "value": "x"}}
		}
	case EndpointNFT:
		nft, _ := doc["nft"].(map[string]any)
		switch {
		case negative:
			nft["owners"] = []any{map[string]any{"address": nft["creator"], "quantity": -1, "quantity_string": "-1"}}
		case variant%2 == 0:
			nft["traits"] = "none"
		default:
			nft["traits"] = []any{map[string]any{"trait_type": 7, "value": "x"}}
		}
	case EndpointTraits:
		counts, _ := doc["counts"].(map[string]any)
		for name := range counts {
			if negative {
				counts[name] = map[string]any{"x": -3}
			} else {
				counts[name] = "lots"
			}
			break
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return body[:len(body)/2], ctJSON, FaultMalformedTruncate
	}
	return out, ctJSON, fault
}

// padChunkSize is the size of the chunks an oversize body is written in.
const padChunkSize = 32 << 10

// writeOversize streams body padded to size bytes, as valid JSON: the
// body's closing brace is replaced by a long "sim_padding" string field. It
// sends a Content-Length when withLength is set and is chunked otherwise.
// Only one padding chunk is held in memory. It stops early when the client
// goes away.
func writeOversize(w http.ResponseWriter, r *http.Request, body []byte, size int64, withLength bool, pad []byte) error {
	prefix := append(bytes.Clone(body[:len(body)-1]), `,"sim_padding":"`...)
	suffix := []byte(`"}`)
	padLen := max(0, size-int64(len(prefix)+len(suffix)))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if withLength {
		h.Set("Content-Length", strconv.FormatInt(int64(len(prefix)+len(suffix))+padLen, 10))
	}
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(prefix); err != nil {
		return fmt.Errorf("write oversize prefix: %w", err)
	}
	for padLen > 0 {
		if err := r.Context().Err(); err != nil {
			return fmt.Errorf("write oversize body: %w", err)
		}
		n := min(padLen, int64(len(pad)))
		if _, err := w.Write(pad[:n]); err != nil {
			return fmt.Errorf("write oversize body: %w", err)
		}
		padLen -= n
	}
	if _, err := w.Write(suffix); err != nil {
		return fmt.Errorf("write oversize suffix: %w", err)
	}
	return nil
}
