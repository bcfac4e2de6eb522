package api

import (
	"compress/gzip"
	"embed"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
)

// graphiqlFiles are GraphiQL's page and its assets (gzip-compressed, see
// graphiql/NOTICE), embedded so the page works with no internet.
//
//go:embed graphiql/index.html graphiql/*.gz
var graphiqlFiles embed.FS

func graphiqlPage(w http.ResponseWriter, _ *http.Request) {
	page, err := graphiqlFiles.ReadFile("graphiql/index.html")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(page)
}

// graphiqlAssets serves /assets/NAME from graphiql/NAME.gz: as is to
// clients that accept gzip, decompressed to the others.
func graphiqlAssets() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Base(r.URL.Path)
		f, err := graphiqlFiles.Open("graphiql/" + name + ".gz")
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Add("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = io.Copy(w, f)
			return
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		_, _ = io.Copy(w, zr) //nolint:gosec // our own embedded asset, not a client upload
	})
}
