package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

// browser starts Debian's headless Chromium for the test, limited to this
// closed network (no background traffic, no QUIC). Screenshots go to
// NFTSYNC_TEST_ARTIFACTS (default: testdata/artifacts, git-ignored).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run make deps (as root it installs it; else it prints the command)")
	}
	// An empty profile of its own; removed after the browser exits (it
	// may still be writing when the context is cancelled).
	profile, err := os.MkdirTemp("", "nftsync-chromium-")
	require.NoError(t, err)
	t.Cleanup(func() {
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		// Loopback only: every other host name fails to resolve, so the
		// pages must work with no internet.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 800),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	return ctx
}

func artifact(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("NFTSYNC_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, png, 0o644))
	t.Logf("screenshot: %s", p)
}

// TestBrowserGraphiQL loads GraphiQL from the running server with every
// request outside loopback blocked, runs a query and reads its result on
// the page.
func TestBrowserGraphiQL(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1.5", "100", alphaTokens)
	ctx := browser(t)
	var offsite []string
	chromedp.ListenTarget(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && !strings.HasPrefix(e.Request.URL, b.url) && !strings.HasPrefix(e.Request.URL, "data:") {
			offsite = append(offsite, e.Request.URL)
		}
	})
	query := `{ collection(slug: "alpha") { slug metadata { name } floor { amount currency } } }`
	var result string
	var png []byte
	err := chromedp.Run(ctx,
		network.Enable(),
		chromedp.Navigate(b.url+"/"),
		chromedp.WaitVisible(`.graphiql-container`, chromedp.ByQuery),
		chromedp.WaitVisible(`.graphiql-query-editor .CodeMirror`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(`+jsString(query)+`)`, nil),
		// GraphiQL takes the operation name from the editor after a debounce:
		// a click right after setValue can still send the default query's
		// name ("operation Collections not found"). Until the result shows,
		// press the run button again once a second.
		chromedp.Poll(`(() => {
			const r = document.querySelector('.graphiql-response');
			if (r && r.innerText.includes('currency')) return true;
			document.querySelector('.graphiql-execute-button').click();
			return false;
		})()`, nil, chromedp.WithPollingInterval(time.Second), chromedp.WithPollingTimeout(30*time.Second)),
		chromedp.Text(`.graphiql-response`, &result, chromedp.ByQuery),
	)
	// The screenshot is taken whatever happened, to look at.
	if serr := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); serr == nil {
		artifact(t, "graphiql.png", png)
	}
	require.NoError(t, err)
	require.Contains(t, result, `"slug": "alpha"`)
	require.Contains(t, result, `"name": "The alpha"`)
	require.Contains(t, result, `"amount": "1.500000000000000000"`)
	require.Empty(t, offsite, "the page fetched something outside the server")
}

// TestBrowserRiverUI opens River UI with the admin token and sees the job
// list with the jobs a refresh enqueued.
func TestBrowserRiverUI(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	b.seedCollection(t, "alpha", "1", "1", nil)
	b.data(t, adminToken, refreshMutation, map[string]any{"slug": "alpha"}, &refreshOut{})
	ctx := browser(t)
	var body string
	var png []byte
	err := chromedp.Run(ctx,
		network.Enable(),
		network.SetExtraHTTPHeaders(network.Headers{"Authorization": "Bearer " + adminToken}),
		chromedp.Navigate(b.url+"/riverui/jobs?state=available"),
		chromedp.Poll(`document.body.innerText.includes('fetch_floor_price') && document.body.innerText.includes('sync_tokens')`, nil,
			chromedp.WithPollingTimeout(45*time.Second)),
		chromedp.Sleep(500*time.Millisecond),
		chromedp.Text(`body`, &body, chromedp.ByQuery),
		chromedp.FullScreenshot(&png, 100),
	)
	if len(png) > 0 {
		artifact(t, "riverui.png", png)
	}
	require.NoError(t, err)
	for _, kind := range []string{"fetch_floor_price", "fetch_volume", "fetch_collection_metadata", "sync_tokens"} {
		require.Contains(t, body, kind)
	}
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "`", "\\`", "$", `\$`)
	return "`" + r.Replace(s) + "`"
}
