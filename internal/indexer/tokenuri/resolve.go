package tokenuri

import (
	"encoding/base64"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"regexp"
	"strings"

	"github.com/nftsync/nftsync/internal/clip"
)

// Errors of resolve, each wrapped with the offending detail. All of them are
// properties of the token's metadata_url, so they are permanent for it.
var (
	ErrNoURL             = errors.New("token has no metadata_url")
	ErrUnsupportedScheme = errors.New("unsupported metadata_url scheme")
	ErrHTTPNotAllowed    = errors.New("plain http metadata URLs are not allowed (see the allow-http setting)")
	ErrNoGateway         = errors.New("no gateway configured")
	ErrBadURL            = errors.New("invalid metadata_url")
)

var (
	// cidPattern matches an IPFS CID: CIDv0 (base58btc "Qm…") or CIDv1 in
	// any multibase (base32 "bafy…", base36 "k51…"), all alphanumeric.
	cidPattern = regexp.MustCompile(`^[A-Za-z0-9]{8,128}$`)
	// arPattern matches an Arweave transaction id (43 base64url characters)
	// or an ArNS name.
	arPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// plan is how to get one token's document: inline (a data: URL, nothing to
// fetch) or from candidate URLs tried in order until one answers.
type plan struct {
	inline     []byte
	candidates []string
}

// resolve turns a metadata_url into a plan. ipfs:// and ar:// URLs become
// one candidate per configured gateway; an https (or, when allowed, http)
// URL whose path is /ipfs/<cid>/… (a URL on some public IPFS gateway) is
// tried as given first and then on the configured IPFS gateways.
func (s *Source) resolve(raw string) (plan, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return plan{}, ErrNoURL
	}
	scheme, rest, ok := strings.Cut(raw, ":")
	if !ok {
		return plan{}, fmt.Errorf("%w: no scheme in %q", ErrBadURL, clip.Text(raw, 80))
	}
	switch strings.ToLower(scheme) {
	case "data":
		body, err := decodeDataURL(rest, s.maxBody)
		if err != nil {
			return plan{}, err
		}
		return plan{inline: body}, nil
	case "ipfs":
		return s.gatewayPlan("ipfs", s.ipfsGateways, rest, cidPattern, true)
	case "ar":
		return s.gatewayPlan("ar", s.arGateways, rest, arPattern, false)
	case "https", "http":
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return plan{}, fmt.Errorf("%w: %q", ErrBadURL, clip.Text(raw, 80))
		}
		if u.Scheme == "http" && !s.allowHTTP {
			return plan{}, fmt.Errorf("%w: %s", ErrHTTPNotAllowed, u.Redacted())
		}
		u.Fragment, u.RawFragment = "", ""
		p := plan{candidates: []string{u.String()}}
		if cid, path, ok := ipfsGatewayPath(u); ok {
			for _, gw := range s.ipfsGateways {
				if c := gw + cid + path; c != p.candidates[0] {
					p.candidates = append(p.candidates, c)
				}
			}
		}
		return p, nil
	}
	return plan{}, fmt.Errorf("%w %q (want https, ipfs, ar or data)", ErrUnsupportedScheme, clip.Text(scheme, 20))
}

// gatewayPlan resolves an ipfs:// or ar:// URL (rest is what follows the
// colon) against gateways, each a URL prefix ending in "/": the content id
// and any path are appended. ipfs://ipfs/<cid>/… (an old, wrong but common
// spelling) is accepted.
func (s *Source) gatewayPlan(scheme string, gateways []string, rest string, idPattern *regexp.Regexp, legacyPrefix bool) (plan, error) {
	rest = strings.TrimPrefix(rest, "//")
	if legacyPrefix {
		rest = strings.TrimPrefix(rest, "ipfs/")
	}
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	id, path := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		id, path = rest[:i], rest[i:]
	}
	if !idPattern.MatchString(id) {
		return plan{}, fmt.Errorf("%w: %s:// content id %q", ErrBadURL, scheme, clip.Text(id, 80))
	}
	if err := checkPath(path); err != nil {
		return plan{}, fmt.Errorf("%w: %s://%s: %w", ErrBadURL, scheme, id, err)
	}
	if len(gateways) == 0 {
		return plan{}, fmt.Errorf("%w for %s:// URLs", ErrNoGateway, scheme)
	}
	p := plan{candidates: make([]string, 0, len(gateways))}
	for _, gw := range gateways {
		u, err := url.Parse(gw + id + path)
		if err != nil {
			return plan{}, fmt.Errorf("%w: %s://%s%s: %w", ErrBadURL, scheme, id, clip.Text(path, 80), err)
		}
		p.candidates = append(p.candidates, u.String())
	}
	return p, nil
}

// checkPath refuses a path that climbs out of the content ("..") or
// carries control characters.
func checkPath(path string) error {
	p, _, _ := strings.Cut(path, "?")
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || strings.EqualFold(seg, "%2e%2e") {
			return errors.New(`path contains ".."`)
		}
	}
	if strings.ContainsFunc(path, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("path contains control characters")
	}
	return nil
}

// ipfsGatewayPath recognises a URL on a path-style IPFS gateway,
// https://<host>/ipfs/<cid>[/path], and returns the cid and the rest
// (path and query).
func ipfsGatewayPath(u *url.URL) (cid, rest string, ok bool) {
	after, found := strings.CutPrefix(u.EscapedPath(), "/ipfs/")
	if !found {
		return "", "", false
	}
	cid, path, _ := strings.Cut(after, "/")
	if !cidPattern.MatchString(cid) {
		return "", "", false
	}
	if path != "" {
		path = "/" + path
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	if checkPath(path) != nil {
		return "", "", false
	}
	return cid, path, true
}

// jsonMediaType reports whether a media type (without parameters) names
// JSON: application/json, text/json or any application/*+json.
func jsonMediaType(mt string) bool {
	mt = strings.ToLower(mt)
	return mt == "application/json" || mt == "text/json" ||
		(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// decodeDataURL decodes the part of a data: URL after "data:" (RFC 2397):
// a media type with parameters, an optional ";base64", a comma and the
// data. The media type must be JSON; a charset parameter, when given, must
// be UTF-8 (or its ASCII subset). Parameters that on-chain contracts add
// without a value (";utf8") are ignored. Base64 is accepted padded or not,
// in the standard or URL-safe alphabet; plain data is percent-decoded when
// it is valid percent-encoding and taken as is otherwise (many contracts
// emit raw JSON after the comma). The decoded size is capped at maxBody.
func decodeDataURL(rest string, maxBody int64) ([]byte, error) {
	header, data, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("%w: data: URL without a comma", ErrBadURL)
	}
	params := strings.Split(header, ";")
	mediaType := strings.TrimSpace(params[0])
	isBase64 := false
	for _, p := range params[1:] {
		p = strings.TrimSpace(p)
		name, value, hasValue := strings.Cut(p, "=")
		switch {
		case strings.EqualFold(p, "base64"):
			isBase64 = true
		case hasValue && strings.EqualFold(strings.TrimSpace(name), "charset"):
			cs := strings.ToLower(strings.Trim(strings.TrimSpace(value), `"`))
			if cs != "utf-8" && cs != "utf8" && cs != "us-ascii" {
				return nil, &contentError{fmt.Sprintf("data: URL charset %q is not UTF-8", cs)}
			}
		}
	}
	if mediaType == "" {
		mediaType = "text/plain" // RFC 2397's default
	}
	if mt, _, err := mime.ParseMediaType(mediaType); err != nil || !jsonMediaType(mt) {
		return nil, &contentError{fmt.Sprintf("data: URL media type %q is not JSON", clip.Text(mediaType, 60))}
	}
	if isBase64 {
		// Base64 grows data by 4/3: refuse before decoding what cannot fit.
		if int64(len(data)) > maxBody/3*4+4 {
			return nil, &contentError{fmt.Sprintf("data: URL document exceeds %d bytes", maxBody)}
		}
		clean := strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return -1
			}
			return r
		}, data)
		if u, err := url.PathUnescape(clean); err == nil {
			clean = u // "%3D" padding from URL-escaping contracts
		}
		clean = strings.TrimRight(clean, "=")
		enc := base64.RawStdEncoding
		if strings.ContainsAny(clean, "-_") {
			enc = base64.RawURLEncoding
		}
		body, err := enc.DecodeString(clean)
		if err != nil {
			return nil, &contentError{fmt.Sprintf("data: URL base64: %v", err)}
		}
		return body, nil
	}
	if strings.Contains(data, "%") {
		if u, err := url.PathUnescape(data); err == nil {
			data = u
		}
	}
	if int64(len(data)) > maxBody {
		return nil, &contentError{fmt.Sprintf("data: URL document exceeds %d bytes", maxBody)}
	}
	return []byte(data), nil
}

// contentError says the document is there but is not a usable JSON
// metadata document (wrong media type, oversize, undecodable). It is
// classified as malformed.
type contentError struct{ msg string }

func (e *contentError) Error() string { return e.msg }
