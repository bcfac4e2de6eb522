package tokenuri_test

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/indexer"
	"github.com/nftsync/nftsync/internal/indexer/tokenuri"
)

// The guard refuses at dial time, so no packet ever leaves for these
// addresses: the tests need no network.
func TestAddressGuard(t *testing.T) {
	t.Parallel()
	srv := newServer(t, serveFixture(t, "standard.json", "application/json"))
	port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]

	t.Run("private address", func(t *testing.T) {
		t.Parallel()
		src := setup(t, tokenuri.Options{AllowHTTP: true}) // loopback allowed, nothing else
		for _, u := range []string{
			"http://10.0.0.1" + port + "/1",
			"http://192.168.1.1/1",
			"https://172.16.5.4/1",
			"http://169.254.169.254/latest/meta-data/",
			"http://[fd00::1]/1",
			"http://100.64.1.1/1",
			"http://0.0.0.0" + port + "/1",
		} {
			_, err := fetch(t, src, u)
			ie := requireClass(t, err, indexer.ClassPermanent, "address guard")
			var ge *tokenuri.GuardError
			require.ErrorAs(t, ie, &ge, u)
		}
	})

	t.Run("loopback when not allowed", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, serveFixture(t, "standard.json", "application/json"))
		port := srv.URL[strings.LastIndexByte(srv.URL, ':'):]
		src := setup(t, tokenuri.Options{AllowHTTP: true, AllowNets: []netip.Prefix{}})
		for _, u := range []string{srv.URL + "/1", "http://localhost" + port + "/1", "http://[::ffff:127.0.0.1]" + port + "/1"} {
			_, err := fetch(t, src, u)
			ie := requireClass(t, err, indexer.ClassPermanent, "address guard")
			var ge *tokenuri.GuardError
			require.ErrorAs(t, ie, &ge, u)
			require.True(t, ge.Addr.IsLoopback(), ge.Addr)
		}
		require.Zero(t, srv.total(), "nothing reached the server")

		// Through a gateway too: the guard does not trust configuration.
		gw := setup(t, tokenuri.Options{AllowNets: []netip.Prefix{}, IPFSGateways: []string{srv.URL + "/ipfs/"}})
		_, err := fetch(t, gw, "ipfs://QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG/1")
		requireClass(t, err, indexer.ClassPermanent, "address guard")
		require.Zero(t, srv.total())
	})

	t.Run("loopback when allowed", func(t *testing.T) {
		t.Parallel()
		src := setup(t, tokenuri.Options{AllowHTTP: true, AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
		_, err := fetch(t, src, srv.URL+"/1")
		require.NoError(t, err)
	})

	t.Run("redirect to a private address", func(t *testing.T) {
		t.Parallel()
		redirector := newServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://192.168.0.10"+port+"/internal", http.StatusFound)
		})
		src := setup(t, tokenuri.Options{AllowHTTP: true})
		_, err := fetch(t, src, redirector.URL+"/1")
		ie := requireClass(t, err, indexer.ClassPermanent, "address guard")
		var ge *tokenuri.GuardError
		require.ErrorAs(t, ie, &ge)
		require.Equal(t, "192.168.0.10", ge.Addr.String())
		require.Equal(t, 1, redirector.count("/1"))
	})

	t.Run("redirect from https to http", func(t *testing.T) {
		t.Parallel()
		tlsSrv := newTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, srv.URL+"/1", http.StatusFound)
		})
		src := setupTLS(t, tlsSrv, tokenuri.Options{})
		_, err := fetch(t, src, tlsSrv.URL+"/1")
		requireClass(t, err, indexer.ClassPermanent, "https to http")
	})
}
