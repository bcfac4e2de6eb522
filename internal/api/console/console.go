// Package console serves the API's web console at /console/: a page to
// look at the tracked collections (floor, volume, freshness, source health),
// a collection's history charts, rarity distribution, tokens and traits, with
// live updates over the API's GraphQL subscriptions and, with an admin
// token, the operator's actions (refresh now, pause, resume, track).
//
// The page is static HTML, CSS and plain JavaScript embedded in the binary
// (no build step, no CDN); the charts use uPlot, vendored at a pinned
// version in vendor/ (see vendor/VERSION). The assets are public: the data
// comes from /graphql, which asks the browser for the token (kept in the
// tab's sessionStorage) when read tokens are configured.
package console

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed index.html app.js app.css vendor/uPlot.iife.min.js vendor/uPlot.min.css vendor/LICENSE vendor/VERSION
var files embed.FS

// contentSecurityPolicy lets the page load scripts, styles and data only
// from this server (websockets included); token images may come from
// anywhere, as collections host them.
const contentSecurityPolicy = "default-src 'self'; img-src * data:; connect-src 'self' ws: wss:; " +
	"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Handler serves the console's files; mount it with the /console/ prefix
// stripped. The page and scripts are revalidated on every load (no-cache)
// so an upgraded binary is picked up at once.
func Handler() http.Handler {
	sub, err := fs.Sub(files, ".")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	fsrv := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-cache")
		fsrv.ServeHTTP(w, r)
	})
}
