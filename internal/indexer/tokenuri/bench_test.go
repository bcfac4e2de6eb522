package tokenuri_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
)

// BenchmarkTokenTraits measures one token's document from a data: URL (no
// I/O: decoding and parsing) and over loopback HTTP (a local metadata host).
func BenchmarkTokenTraits(b *testing.B) {
	doc, err := os.ReadFile(filepath.Join("testdata", "standard.json"))
	if err != nil {
		b.Fatal(err)
	}
	dataURL, err := os.ReadFile(filepath.Join("testdata", "data_base64.txt"))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	}))
	defer srv.Close()
	src, err := tokenuri.New(tokenuri.Options{AllowHTTP: true, AllowNets: loopback})
	if err != nil {
		b.Fatal(err)
	}
	for name, u := range map[string]string{"data": strings.TrimSpace(string(dataURL)), "http": srv.URL + "/1"} {
		b.Run(name, func(b *testing.B) {
			ref := indexer.TokenRef{Contract: "0xabc", TokenID: "1", MetadataURL: u}
			b.ReportAllocs()
			for b.Loop() {
				md, err := src.TokenTraits(b.Context(), ref)
				if err != nil || len(md.Traits) == 0 {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "docs/s")
		})
	}
}
