package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/db"
	"github.com/nftsync/nftsync/internal/api"
)

// consoleOffsite records requests the page sends outside the server, other
// than token images (collections host those elsewhere; the page shows a
// placeholder when they fail).
func consoleOffsite(ctx context.Context, base string) *[]string {
	var offsite []string
	chromedp.ListenTarget(ctx, func(ev any) {
		e, ok := ev.(*network.EventRequestWillBeSent)
		if !ok || e.Type == network.ResourceTypeImage || strings.HasPrefix(e.Request.URL, "data:") {
			return
		}
		u := strings.Replace(e.Request.URL, "ws://", "http://", 1)
		if !strings.HasPrefix(u, base) {
			offsite = append(offsite, e.Request.URL)
		}
	})
	return &offsite
}

// shoot takes a full-page screenshot into the test's artifacts, whatever
// happened before.
func shoot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err == nil {
		artifact(t, name, png)
	}
}

// run runs actions with a time limit of their own (the browser's context
// keeps its own), and on failure adds what the page's error box says.
func run(ctx context.Context, d time.Duration, actions ...chromedp.Action) error {
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := chromedp.Run(sctx, actions...)
	if err != nil {
		var msg string
		ectx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_ = chromedp.Run(ectx, chromedp.Evaluate(`document.querySelector('#error').innerText`, &msg))
		return fmt.Errorf("%w (page error: %q)", err, msg)
	}
	return nil
}

// waitJS polls a JavaScript condition until it holds.
func waitJS(cond string, timeout time.Duration) chromedp.Action {
	return chromedp.Poll(cond, nil, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(timeout))
}

// TestConsoleAssets: the console's files are served from the binary, without
// a token even when reads need one (only the data is guarded); /console
// redirects to /console/.
func TestConsoleAssets(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{ReadTokens: []string{readToken}}})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(b.url + "/console")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	require.Equal(t, "/console/", resp.Header.Get("Location"))
	for path, want := range map[string]string{
		"/console/":                         "text/html",
		"/console/app.js":                   "javascript",
		"/console/app.css":                  "text/css",
		"/console/vendor/uPlot.iife.min.js": "javascript",
		"/console/vendor/uPlot.min.css":     "text/css",
	} {
		resp, err := http.Get(b.url + path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		require.Contains(t, resp.Header.Get("Content-Type"), want, path)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'", path)
		require.NotEmpty(t, body, path)
	}
	resp, err = http.Get(b.url + "/console/nope.js")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
	// The data is guarded.
	require.Equal(t, http.StatusUnauthorized, b.query(t, "", `{ collections { totalCount } }`, nil).status)
}

// TestConsoleBrowser drives the console in headless Chromium with read
// tokens configured: it asks for the token, lists the collections with their
// floors (sortable, filterable), opens a collection (charts, tokens with
// placeholders for unreachable images, traits), filters by a trait, sees a
// committed floor change arrive without a reload, on the collection page and
// on the list; then, with the admin token, refreshes now and reads the API's
// answer, and the cooldown's refusal, on the page.
func TestConsoleBrowser(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{ReadTokens: []string{readToken}}, cooldown: time.Hour})
	alpha := b.seedCollection(t, "alpha", "1.5", "100", alphaTokens)
	beta := b.seedCollection(t, "beta", "20.25", "5", nil)
	q := db.New(b.pool)

	ctx := browser(t)
	// Start the browser on its own context (run's contexts end with their
	// step).
	require.NoError(t, chromedp.Run(ctx))
	offsite := consoleOffsite(ctx, b.url)
	var text string
	err := run(ctx, 30*time.Second,
		network.Enable(),
		chromedp.Navigate(b.url+"/console/"),
		// No token yet: the API refuses and the page asks for one.
		waitJS(`document.querySelector('#token-input').classList.contains('needed') && !document.querySelector('#error').hidden`, 20*time.Second),
		chromedp.Text(`#error`, &text, chromedp.ByQuery),
	)
	shoot(t, ctx, "console-token.png")
	require.NoError(t, err)
	require.Contains(t, text, "UNAUTHENTICATED")

	// The read token: the list with floors and volumes.
	var rows []string
	err = run(ctx, 30*time.Second,
		chromedp.SendKeys(`#token-input`, readToken, chromedp.ByQuery),
		chromedp.Click(`#token-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#collections tr[data-slug="beta"]`, chromedp.ByQuery),
		waitJS(`document.querySelector('#live').textContent === 'live'`, 20*time.Second),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#collections tbody tr')).map(r => r.innerText.replace(/\s+/g, ' '))`, &rows),
	)
	shoot(t, ctx, "console-list.png")
	require.NoError(t, err)
	require.Len(t, rows, 2)
	// Highest 1-day volume first by default.
	require.Contains(t, rows[0], "alpha The alpha 1.5 ETH 100 ETH")
	require.Contains(t, rows[1], "beta The beta 20.25 ETH 5 ETH")
	require.Contains(t, rows[0], "active")

	// Sort by floor (highest first), then filter.
	var order []string
	var visible int
	err = run(ctx, 30*time.Second,
		chromedp.Click(`#collections th[data-key="floor"]`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#collections tbody tr')).map(r => r.dataset.slug)`, &order),
		chromedp.SendKeys(`#filter`, "alp", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll('#collections tbody tr').length`, &visible),
	)
	require.NoError(t, err)
	require.Equal(t, []string{"beta", "alpha"}, order)
	require.Equal(t, 1, visible)

	// A floor committed now reaches the list without a reload.
	b.observeFloor(t, q, beta, "19.5")
	require.NoError(t, run(ctx, 30*time.Second,
		chromedp.Evaluate(`document.querySelector('#filter').value = ''; document.querySelector('#filter').dispatchEvent(new Event('input'))`, nil),
		waitJS(`(document.querySelector('tr[data-slug="beta"] td.floor') || {}).innerText === '19.5 ETH'`, 10*time.Second)))

	// The collection page.
	var tokenRows, placeholders, canvases int
	var summary string
	err = run(ctx, 30*time.Second,
		chromedp.Click(`#collections tr[data-slug="alpha"] a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#tokens tr.token`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#floor-chart canvas, #volume-chart canvas, #rarity-chart canvas').length === 3`, 10*time.Second),
		waitJS(`document.querySelectorAll('#tokens .tok-img.placeholder').length === 6`, 20*time.Second),
		chromedp.Evaluate(`document.querySelectorAll('#tokens tr.token').length`, &tokenRows),
		chromedp.Evaluate(`document.querySelectorAll('#tokens .tok-img.placeholder').length`, &placeholders),
		chromedp.Evaluate(`document.querySelectorAll('canvas').length`, &canvases),
		chromedp.Text(`#summary`, &summary, chromedp.ByQuery),
		chromedp.Sleep(300*time.Millisecond),
	)
	shoot(t, ctx, "console-collection.png")
	require.NoError(t, err)
	require.Equal(t, 6, tokenRows)
	require.Equal(t, 6, placeholders, "unreachable images become placeholders")
	require.GreaterOrEqual(t, canvases, 3)
	require.Contains(t, summary, "1.5 ETH")
	require.Contains(t, summary, "1d 100 ETH · 7 sales")
	var first []string
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`Array.from(document.querySelectorAll('#tokens tr.token')).slice(0, 2).map(r => r.dataset.token)`, &first)))
	require.Equal(t, []string{"2", "1"}, first, "rarest first")
	var legend string
	require.NoError(t, chromedp.Run(ctx, chromedp.Text(`#floor-chart`, &legend, chromedp.ByQuery)))
	require.Contains(t, legend, "close")
	require.NotContains(t, legend, "no floor history")

	// Trait filter: Color gold or blue, then also Hat yes.
	var ids []string
	err = run(ctx, 30*time.Second,
		chromedp.Click(`#traits input[data-type="color"][data-value="gold"]`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#tokens tr.token').length === 1`, 10*time.Second),
		chromedp.Click(`#traits input[data-type="color"][data-value="blue"]`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#tokens tr.token').length === 3`, 10*time.Second),
		chromedp.Click(`#traits input[data-type="hat"][data-value="yes"]`, chromedp.ByQuery),
		waitJS(`document.querySelectorAll('#tokens tr.token').length === 1`, 10*time.Second),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#tokens tr.token')).map(r => r.dataset.token)`, &ids),
	)
	shoot(t, ctx, "console-filter.png")
	require.NoError(t, err)
	require.Equal(t, []string{maxUint256}, ids)

	// A floor committed now shows without a reload.
	var reloaded bool
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`window.__noReload = true`, nil)))
	b.observeFloor(t, q, alpha, "1.75")
	err = run(ctx, 30*time.Second,
		waitJS(`document.querySelector('#floor').innerText === '1.75 ETH'`, 10*time.Second),
		waitJS(`document.querySelector('#updated').innerText.includes('floor')`, 10*time.Second),
		chromedp.Evaluate(`window.__noReload === true`, &reloaded),
	)
	shoot(t, ctx, "console-live.png")
	require.NoError(t, err)
	require.True(t, reloaded, "the page was reloaded")

	// The websocket drops (an API restart): the page reconnects, subscribes
	// again and keeps following.
	err = run(ctx, 30*time.Second,
		chromedp.Evaluate(`live.ws.close(); true`, nil),
		waitJS(`document.querySelector('#live').textContent.startsWith('offline')`, 5*time.Second),
		waitJS(`document.querySelector('#live').textContent === 'live'`, 10*time.Second),
	)
	require.NoError(t, err)
	b.observeFloor(t, q, alpha, "1.8")
	require.NoError(t, run(ctx, 30*time.Second, waitJS(`document.querySelector('#floor').innerText === '1.8 ETH'`, 10*time.Second)))
	var adminButtons int
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`document.querySelectorAll('#refresh, #pause').length`, &adminButtons)))
	require.Zero(t, adminButtons, "a read token gets no operator actions")

	// The admin token: refresh now, then again within the cooldown.
	var result, refused string
	err = run(ctx, 30*time.Second,
		chromedp.SendKeys(`#token-input`, adminToken, chromedp.ByQuery),
		chromedp.Click(`#token-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#refresh`, chromedp.ByQuery),
		chromedp.Click(`#refresh`, chromedp.ByQuery),
		waitJS(`document.querySelector('#action-result').classList.contains('ok')`, 10*time.Second),
		chromedp.Text(`#action-result`, &result, chromedp.ByQuery),
	)
	shoot(t, ctx, "console-refresh.png")
	require.NoError(t, err)
	require.Contains(t, result, "refresh requested: floor from opensea job ")
	require.Contains(t, result, "tokens from opensea job ")
	err = run(ctx, 30*time.Second,
		chromedp.Click(`#refresh`, chromedp.ByQuery),
		waitJS(`document.querySelector('#action-result').classList.contains('bad')`, 10*time.Second),
		chromedp.Text(`#action-result`, &refused, chromedp.ByQuery),
	)
	shoot(t, ctx, "console-cooldown.png")
	require.NoError(t, err)
	require.Contains(t, refused, "refresh refused: ")
	require.Contains(t, refused, "[REFRESH_COOLDOWN]")
	require.Contains(t, refused, "the next refresh is allowed at ")

	// Pause and resume through the page.
	var status string
	err = run(ctx, 30*time.Second,
		chromedp.SendKeys(`#pause-reason`, "checking the console", chromedp.ByQuery),
		chromedp.Click(`#pause`, chromedp.ByQuery),
		chromedp.WaitVisible(`#resume`, chromedp.ByQuery),
		chromedp.Text(`#summary h1 .status`, &status, chromedp.ByQuery),
	)
	require.NoError(t, err)
	require.Equal(t, "paused", status)
	c, err := q.CollectionGetBySlug(t.Context(), db.CollectionGetBySlugParams{Source: "opensea", Slug: "alpha"})
	require.NoError(t, err)
	require.Equal(t, "paused", c.Status)
	require.NoError(t, run(ctx, 30*time.Second,
		chromedp.Click(`#resume`, chromedp.ByQuery),
		chromedp.WaitVisible(`#pause`, chromedp.ByQuery),
		chromedp.Text(`#summary h1 .status`, &status, chromedp.ByQuery)))
	require.Equal(t, "active", status)

	// Track a slug from the list.
	var tracked string
	err = run(ctx, 30*time.Second,
		chromedp.Navigate(b.url+"/console/#/"),
		chromedp.WaitVisible(`#track-slug`, chromedp.ByQuery),
		chromedp.SendKeys(`#track-slug`, "gamma", chromedp.ByQuery),
		chromedp.Click(`#track-form button[type=submit]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#collections tr[data-slug="gamma"]`, chromedp.ByQuery),
		chromedp.Text(`#track-result`, &tracked, chromedp.ByQuery),
	)
	shoot(t, ctx, "console-track.png")
	require.NoError(t, err)
	require.Equal(t, "tracking gamma (active)", tracked)
	require.Empty(t, *offsite, "the page fetched something outside the server")
}

// TestConsoleBrowserPublic: without read tokens the console shows the data
// at once, with no token asked for and no operator actions.
func TestConsoleBrowserPublic(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1.5", "100", alphaTokens)
	ctx := browser(t)
	require.NoError(t, chromedp.Run(ctx))
	var role string
	var needed, track bool
	err := run(ctx, 30*time.Second,
		chromedp.Navigate(b.url+"/console/#/c/alpha"),
		chromedp.WaitVisible(`#tokens tr.token`, chromedp.ByQuery),
		chromedp.Text(`#role`, &role, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('#token-input').classList.contains('needed')`, &needed),
		chromedp.Evaluate(`document.querySelector('#refresh') !== null`, &track),
	)
	shoot(t, ctx, "console-public.png")
	require.NoError(t, err)
	require.Equal(t, "no token", role)
	require.False(t, needed)
	require.False(t, track)
}

// TestConsoleBrowserResubscribe: when the server completes a subscription
// (it lost the database's notifications), the page subscribes again on the
// same connection, and floors committed afterwards reach the list without a
// reload (the list itself is read again only every minute).
func TestConsoleBrowserResubscribe(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	alpha := b.seedCollection(t, "alpha", "1.5", "100", alphaTokens)
	q := db.New(b.pool)
	ctx := browser(t)
	require.NoError(t, chromedp.Run(ctx))
	err := run(ctx, 30*time.Second,
		chromedp.Navigate(b.url+"/console/"),
		chromedp.WaitVisible(`#collections tr[data-slug="alpha"]`, chromedp.ByQuery),
		waitJS(`document.querySelector('#live').textContent === 'live'`, 20*time.Second),
		chromedp.Evaluate(`window.__ws = live.ws; true`, nil),
	)
	require.NoError(t, err)

	// The server loses its LISTEN connection and completes every
	// subscription.
	var killed int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN nftsync_data_changed%'`).Scan(&killed))
	require.Equal(t, 1, killed)

	// Until the server listens again and the page has subscribed again,
	// floors are not pushed; commit a new one every few seconds until one
	// arrives.
	var got bool
	for i := range 8 {
		amount := fmt.Sprintf("2.%d", i+1)
		b.observeFloor(t, q, alpha, amount)
		if run(ctx, 3*time.Second, waitJS(fmt.Sprintf(`(document.querySelector('tr[data-slug="alpha"] td.floor') || {}).innerText === '%s ETH'`, amount), 3*time.Second)) == nil {
			got = true
			break
		}
	}
	shoot(t, ctx, "console-resubscribed.png")
	require.True(t, got, "no floor reached the list after the server completed the subscription")
	var same bool
	require.NoError(t, chromedp.Run(ctx, chromedp.Evaluate(`live.ws === window.__ws`, &same)))
	require.True(t, same, "subscribed again on the same connection, not by reconnecting")
}
