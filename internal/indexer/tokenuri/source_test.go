package tokenuri_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
)

// traitRow is a Trait without Raw, for comparisons.
type traitRow struct {
	Type, Text string
	Kind       indexer.ValueKind
	Numeric    string
	Display    string
	Max        string
}

func rows(traits []indexer.Trait) []traitRow {
	out := make([]traitRow, 0, len(traits))
	for _, tr := range traits {
		r := traitRow{Type: tr.Type, Text: tr.ValueText, Kind: tr.ValueKind, Display: tr.DisplayType, Max: tr.MaxValue}
		if tr.ValueNumeric != nil {
			r.Numeric = *tr.ValueNumeric
		}
		out = append(out, r)
	}
	return out
}

var standardRows = []traitRow{
	{Type: "Base", Text: "Starfish", Kind: indexer.ValueString},
	{Type: "Eyes", Text: "Big", Kind: indexer.ValueString},
	{Type: "Mouth", Text: "Surprised", Kind: indexer.ValueString},
	{Type: "Level", Text: "5", Kind: indexer.ValueNumber, Numeric: "5"},
	{Type: "Stamina", Text: "1.4", Kind: indexer.ValueNumber, Numeric: "1.4"},
	{Type: "Personality", Text: "Sad", Kind: indexer.ValueString},
	{Type: "Aqua Power", Text: "40", Kind: indexer.ValueNumber, Numeric: "40", Display: "boost_number"},
	{Type: "Stamina Increase", Text: "10", Kind: indexer.ValueNumber, Numeric: "10", Display: "boost_percentage"},
	{Type: "Generation", Text: "2", Kind: indexer.ValueNumber, Numeric: "2", Display: "number", Max: "10"},
	{Type: "birthday", Text: "1546360800", Kind: indexer.ValueNumber, Numeric: "1546360800", Display: "date"},
}

func TestHTTPDocument(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serveFixture(t, "standard.json", "application/json; charset=utf-8"))
	src := setup(t, tokenuri.Options{AllowHTTP: true})

	md, err := fetch(t, src, srv.URL+"/token/3")
	require.NoError(t, err)
	require.Equal(t, "Dave Starbelly", md.Name)
	require.Equal(t, "Friendly OpenSea Creature that enjoys long swims in the ocean.", md.Description)
	require.Equal(t, "https://storage.googleapis.com/opensea-prod.appspot.com/puffs/3.png", md.ImageURL)
	require.Equal(t, standardRows, rows(md.Traits))
	require.True(t, md.UpdatedAt.IsZero())
	require.JSONEq(t, string(fixture(t, "standard.json")), string(md.Raw))
	require.JSONEq(t, `{"trait_type": "Base", "value": "Starfish"}`, string(md.Traits[0].Raw))
	require.Equal(t, "token_uri", src.Source())
}

func TestHTTPNotAllowed(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serveFixture(t, "standard.json", "application/json"))
	src := setup(t, tokenuri.Options{})

	_, err := fetch(t, src, srv.URL+"/token/3")
	ie := requireClass(t, err, indexer.ClassPermanent, "plain http")
	require.ErrorIs(t, ie, tokenuri.ErrHTTPNotAllowed)
	require.Zero(t, srv.total())
}

func TestIPFSGatewayFallback(t *testing.T) {
	t.Parallel()
	const cid = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
	failing := newServer(t, serveFixtureStatus(t, "gateway_error.html", "text/html", http.StatusGatewayTimeout))
	good := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ipfs/"+cid+"/3" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8") // what path gateways send for a .json without extension
		_, _ = w.Write(fixture(t, "standard.json"))
	})
	src := setup(t, tokenuri.Options{IPFSGateways: []string{failing.URL + "/ipfs", good.URL + "/ipfs/"}})

	md, err := fetch(t, src, "ipfs://"+cid+"/3")
	require.NoError(t, err)
	require.Equal(t, standardRows, rows(md.Traits))
	require.Equal(t, 1, failing.count("/ipfs/"+cid+"/3"))
	require.Equal(t, 1, good.count("/ipfs/"+cid+"/3"))

	// The legacy ipfs://ipfs/<cid> spelling resolves the same way.
	_, err = fetch(t, src, "ipfs://ipfs/"+cid+"/3")
	require.NoError(t, err)
	require.Equal(t, 2, good.count("/ipfs/"+cid+"/3"))

	// An https URL on some public gateway falls back to ours.
	_, err = fetch(t, src, failing.URL+"/ipfs/"+cid+"/3")
	require.Error(t, err, "http is not allowed for token URLs")
	srcHTTP := setup(t, tokenuri.Options{AllowHTTP: true, IPFSGateways: []string{good.URL + "/ipfs/"}})
	_, err = fetch(t, srcHTTP, failing.URL+"/ipfs/"+cid+"/3")
	require.NoError(t, err)
	require.Equal(t, 3, good.count("/ipfs/"+cid+"/3"))
}

func TestAllGatewaysFail(t *testing.T) {
	t.Parallel()
	const cid = "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"
	notFound := newServer(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	broken := newServer(t, serveFixtureStatus(t, "gateway_error.html", "text/html", http.StatusBadGateway))
	src := setup(t, tokenuri.Options{IPFSGateways: []string{notFound.URL + "/ipfs/", broken.URL + "/ipfs/"}})

	// A 404 at one gateway and a 502 at the other: worth retrying later.
	_, err := fetch(t, src, "ipfs://"+cid+"/readme")
	ie := requireClass(t, err, indexer.ClassTransient, "all 2 URLs failed")
	require.Contains(t, ie.Error(), "metadata not found")
	require.Contains(t, ie.Error(), "server error")

	// 404 everywhere: permanent for this token.
	src = setup(t, tokenuri.Options{IPFSGateways: []string{notFound.URL + "/ipfs/", notFound.URL + "/other/"}})
	_, err = fetch(t, src, "ipfs://"+cid+"/readme")
	ie = requireClass(t, err, indexer.ClassPermanent, "metadata not found")
	require.Equal(t, http.StatusNotFound, ie.Status)
}

func TestArweave(t *testing.T) {
	t.Parallel()
	const tx = "bNbA3TEQVL60xlgCcqdz4ZPHFZ711cZ3hmkpGttDt_U"
	gw := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/"+tx+"/7.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(fixture(t, "traits_key.json"))
	})
	src := setup(t, tokenuri.Options{ArweaveGateways: []string{gw.URL}})

	md, err := fetch(t, src, "ar://"+tx+"/7.json")
	require.NoError(t, err)
	require.Equal(t, "Traits Key #1", md.Name)
	require.Equal(t, []traitRow{{Type: "Fur", Text: "Brown", Kind: indexer.ValueString}, {Type: "Eyes", Text: "Laser", Kind: indexer.ValueString}}, rows(md.Traits))
}

func TestDataURL(t *testing.T) {
	t.Parallel()
	src := setup(t, tokenuri.Options{AllowNets: loopback})
	want := []traitRow{
		{Type: "Weapon", Text: "Grave Wand", Kind: indexer.ValueString},
		{Type: "Chest", Text: "Hard Leather Armor", Kind: indexer.ValueString},
		{Type: "Greatness", Text: "15", Kind: indexer.ValueNumber, Numeric: "15", Display: "number"},
	}
	for _, name := range []string{"data_base64.txt", "data_base64_charset.txt", "data_plain_utf8.txt", "data_plain_escaped.txt"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			md, err := fetch(t, src, string(fixture(t, name)))
			require.NoError(t, err)
			require.Equal(t, "Bag #1", md.Name)
			require.Equal(t, want, rows(md.Traits))
		})
	}

	for _, tc := range []struct {
		url   string
		class indexer.Class
		part  string
	}{
		{`data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=`, indexer.ClassMalformed, "is not JSON"},
		{`data:,{"name":"x"}`, indexer.ClassMalformed, `"text/plain" is not JSON`},
		{`data:application/json;charset=iso-8859-1,{"name":"x"}`, indexer.ClassMalformed, "not UTF-8"},
		{`data:application/json;base64,!!!`, indexer.ClassMalformed, "base64"},
		{`data:application/json`, indexer.ClassPermanent, "without a comma"},
		{`data:application/json,{"name":`, indexer.ClassMalformed, "metadata document"},
		{`data:application/json;base64,` + strings.Repeat("QUFB", 1<<20), indexer.ClassMalformed, "exceeds"},
	} {
		_, err := fetch(t, src, tc.url)
		requireClass(t, err, tc.class, tc.part)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusNotFound) })
	src := setup(t, tokenuri.Options{AllowHTTP: true})
	_, err := fetch(t, src, srv.URL+"/missing")
	ie := requireClass(t, err, indexer.ClassPermanent, "metadata not found")
	require.Equal(t, http.StatusNotFound, ie.Status)
}

func TestSlowIsTransient(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	src := setup(t, tokenuri.Options{AllowHTTP: true, Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := fetch(t, src, srv.URL+"/slow")
	requireClass(t, err, indexer.ClassTransient, "no complete answer within 300ms")
	require.Less(t, time.Since(start), 20*time.Second) // bounded by the timeout, not the server
}

func TestSlowBodyIsTransient(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"name": "trick`))
		w.(http.Flusher).Flush()
		select { // headers and a first chunk come quickly, the rest never
		case <-release:
		case <-r.Context().Done():
		}
	})
	src := setup(t, tokenuri.Options{AllowHTTP: true, Timeout: 300 * time.Millisecond})
	_, err := fetch(t, src, srv.URL+"/trickle")
	requireClass(t, err, indexer.ClassTransient, "no complete answer")
}

func TestOversize(t *testing.T) {
	t.Parallel()
	big := `{"name": "` + strings.Repeat("x", 5000) + `"}`
	withLength := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		_, _ = w.Write([]byte(big))
	})
	chunked := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := 0; i < len(big); i += 1000 {
			_, _ = w.Write([]byte(big[i:min(i+1000, len(big))]))
			w.(http.Flusher).Flush()
		}
	})
	src := setup(t, tokenuri.Options{AllowHTTP: true, MaxBodyBytes: 4096})
	_, err := fetch(t, src, withLength.URL+"/big")
	requireClass(t, err, indexer.ClassMalformed, "exceeds 4096")
	_, err = fetch(t, src, chunked.URL+"/big")
	requireClass(t, err, indexer.ClassMalformed, "exceeds 4096")

	// Exactly at the cap is fine.
	exact := `{"name": "` + strings.Repeat("y", 4096-12) + `"}`
	require.Len(t, exact, 4096)
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(exact)) })
	_, err = fetch(t, src, srv.URL+"/exact")
	require.NoError(t, err)
}

func TestNotJSON(t *testing.T) {
	t.Parallel()
	html := newServer(t, serveFixture(t, "gateway_error.html", "text/html"))
	htmlAsText := newServer(t, serveFixture(t, "gateway_error.html", "text/plain"))
	image := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte("\x89PNG\r\n"))
	})
	array := newServer(t, serveFixture(t, "array.json", "application/json"))
	src := setup(t, tokenuri.Options{AllowHTTP: true})

	_, err := fetch(t, src, html.URL+"/1")
	requireClass(t, err, indexer.ClassMalformed, `content type "text/html" is not JSON`)
	_, err = fetch(t, src, htmlAsText.URL+"/1")
	requireClass(t, err, indexer.ClassMalformed, `not JSON (starts with "<html>`)
	_, err = fetch(t, src, image.URL+"/1")
	requireClass(t, err, indexer.ClassMalformed, `content type "image/png" is not JSON`)
	_, err = fetch(t, src, array.URL+"/1")
	requireClass(t, err, indexer.ClassMalformed, "want a JSON object, got JSON array")
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/hop/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
			if n == 0 {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(fixture(t, "traits_key.json"))
				return
			}
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusMovedPermanently)
		default:
			http.NotFound(w, r)
		}
	})
	src := setup(t, tokenuri.Options{AllowHTTP: true, MaxRedirects: 3})

	_, err := fetch(t, src, srv.URL+"/loop")
	ie := requireClass(t, err, indexer.ClassPermanent, "too many redirects")
	require.ErrorIs(t, ie, tokenuri.ErrTooManyRedirects)
	require.Equal(t, 4, srv.count("/loop"), "the first request and three redirects")

	_, err = fetch(t, src, srv.URL+"/hop/3")
	require.NoError(t, err, "three redirects are allowed")
	_, err = fetch(t, src, srv.URL+"/hop/4")
	requireClass(t, err, indexer.ClassPermanent, "too many redirects")

	none := setup(t, tokenuri.Options{AllowHTTP: true, MaxRedirects: -1})
	_, err = fetch(t, none, srv.URL+"/hop/1")
	requireClass(t, err, indexer.ClassPermanent, "too many redirects")
}

func TestRateLimited(t *testing.T) {
	t.Parallel()
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
	})
	src := setup(t, tokenuri.Options{AllowHTTP: true})
	_, err := fetch(t, src, srv.URL+"/1")
	ie := requireClass(t, err, indexer.ClassRateLimited, "rate limited")
	require.Equal(t, 7*time.Second, ie.RetryAfter)
	wait, ok := indexer.RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, 7*time.Second, wait)
}

func TestRateLimitedEverywhereTakesTheShortestWait(t *testing.T) {
	t.Parallel()
	limited := func(secs string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", secs)
			w.WriteHeader(http.StatusTooManyRequests)
		}
	}
	slow, soon := newServer(t, limited("40")), newServer(t, limited("3"))
	src := setup(t, tokenuri.Options{IPFSGateways: []string{slow.URL + "/ipfs/", soon.URL + "/ipfs/"}})
	_, err := fetch(t, src, "ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG/1")
	ie := requireClass(t, err, indexer.ClassRateLimited, "all 2 URLs failed")
	require.Equal(t, 3*time.Second, ie.RetryAfter)
}

func TestBadURLs(t *testing.T) {
	t.Parallel()
	src := setup(t, tokenuri.Options{IPFSGateways: []string{}})
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"", tokenuri.ErrNoURL},
		{"   ", tokenuri.ErrNoURL},
		{"ftp://example.org/1.json", tokenuri.ErrUnsupportedScheme},
		{"file:///etc/passwd", tokenuri.ErrUnsupportedScheme},
		{"gopher://x", tokenuri.ErrUnsupportedScheme},
		{"no scheme here", tokenuri.ErrBadURL},
		{"ipfs://not a cid/1", tokenuri.ErrBadURL},
		{"ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG/../secret", tokenuri.ErrBadURL},
		{"ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG/1", tokenuri.ErrNoGateway},
		{"ar://bad id!/1", tokenuri.ErrBadURL},
		{"https://", tokenuri.ErrBadURL},
	} {
		_, err := fetch(t, src, tc.url)
		ie := requireClass(t, err, indexer.ClassPermanent, "")
		require.ErrorIs(t, ie, tc.want, "url %q", tc.url)
	}
}

func TestDocumentVariants(t *testing.T) {
	t.Parallel()
	var skips []tokenuri.Skip
	for _, tc := range []struct { //nolint:paralleltest // the cases share one skips slice, reset per case
		file  string
		name  string
		image string
		want  []traitRow // nil: Traits must be nil
		class indexer.Class
		part  string
		skips []string
	}{
		{file: "variants.json", name: "Variant #7", image: "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi/7.png",
			want: []traitRow{
				{Type: "", Text: "Generic property without a trait_type", Kind: indexer.ValueString},
				{Type: "Background", Text: "Blue", Kind: indexer.ValueString},
				{Type: "Legendary", Text: "true", Kind: indexer.ValueBoolean},
				{Type: "Power", Text: "42", Kind: indexer.ValueString, Numeric: "42"},
				{Type: "Rank", Text: "3", Kind: indexer.ValueNumber, Numeric: "3"},
			},
			skips: []string{"attributes[2]: value is null", "attributes[3]: value is object", "attributes[4]: item is JSON string, not an object"}},
		{file: "traits_map.json", name: "Map #2", want: []traitRow{
			{Type: "Fur", Text: "Golden", Kind: indexer.ValueString},
			{Type: "Level", Text: "7", Kind: indexer.ValueNumber, Numeric: "7"},
			{Type: "Rare", Text: "false", Kind: indexer.ValueBoolean},
		}, skips: []string{"attributes.Empty: value is null"}},
		{file: "no_traits.json", name: "Unrevealed #9", image: "https://example.org/placeholder.gif"},
		{file: "empty_traits.json", name: "Plain #3", image: "https://example.org/3.png", want: []traitRow{}},
		{file: "bom.json", name: "BOM #5", want: []traitRow{{Type: "Fur", Text: "Grey", Kind: indexer.ValueString}}},
		{file: "traits_wrong_type.json", class: indexer.ClassMalformed, part: "field attributes: want array or object, got JSON string"},
		{file: "nul.json", class: indexer.ClassMalformed, part: "escaped NUL"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			skips = skips[:0]
			srv := newServer(t, serveFixture(t, tc.file, "application/json"))
			src := setup(t, tokenuri.Options{AllowHTTP: true, ObserveSkip: func(s tokenuri.Skip) { skips = append(skips, s) }})
			md, err := fetch(t, src, srv.URL+"/"+tc.file)
			if tc.part != "" {
				requireClass(t, err, tc.class, tc.part)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.name, md.Name)
			require.Equal(t, tc.image, md.ImageURL)
			if tc.want == nil {
				require.Nil(t, md.Traits, "absent attributes mean unknown traits")
			} else {
				require.NotNil(t, md.Traits)
				require.Equal(t, tc.want, rows(md.Traits))
			}
			var got []string
			for _, s := range skips {
				require.Equal(t, "1", s.Ref.TokenID)
				got = append(got, s.Field+": "+s.Reason)
			}
			require.Equal(t, tc.skips, got)
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	for _, opts := range []tokenuri.Options{
		{IPFSGateways: []string{"ipfs.io"}},
		{ArweaveGateways: []string{"ftp://arweave.net/"}},
		{IPFSGateways: []string{"https://ipfs.io/ipfs/?x=1"}},
		{MaxBodyBytes: -1},
		{Timeout: -time.Second},
	} {
		_, err := tokenuri.New(opts)
		require.Error(t, err, "%+v", opts)
	}
}

// serveFixtureStatus answers with a testdata file, a content type and a
// status.
func serveFixtureStatus(t *testing.T, name, contentType string, status int) http.HandlerFunc {
	body := fixture(t, name)
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
}
