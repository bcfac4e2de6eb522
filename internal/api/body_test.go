package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/api"
)

// TestBadRequestBodies: a request GraphQL cannot run is refused with the
// right status and a message that says what was wrong, never "internal
// error".
func TestBadRequestBodies(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{opts: api.Options{MaxBodyBytes: 4096}})

	send := func(t *testing.T, contentType, body string, chunked bool) gqlResponse {
		t.Helper()
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // hides the length: sent chunked
		}
		req, err := http.NewRequest(http.MethodPost, b.url+"/graphql", rd)
		require.NoError(t, err)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var out gqlResponse
		require.NoError(t, json.Unmarshal(raw, &out), "body: %s", raw)
		out.status = resp.StatusCode
		require.NotEmpty(t, out.Errors, "body: %s", raw)
		require.NotEqual(t, "internal error", out.Errors[0].Message)
		return out
	}

	cases := []struct {
		name, contentType, body string
		chunked                 bool
		status                  int
		code, message           string
	}{
		{"Batch", "application/json", `[{"query":"{ collections { totalCount } }"},{"query":"{ collections { totalCount } }"}]`, false,
			http.StatusBadRequest, "BAD_USER_INPUT", "batched requests"},
		{"InvalidJSON", "application/json", `{"query": "{ collections { totalCount } }"`, false,
			http.StatusBadRequest, "BAD_USER_INPUT", "not valid JSON"},
		{"InvalidJSONOffset", "application/json", `{"query": x}`, false,
			http.StatusBadRequest, "BAD_USER_INPUT", "at byte 11"},
		{"Empty", "application/json", "  ", false, http.StatusBadRequest, "BAD_USER_INPUT", "body is empty"},
		{"NotAnObject", "application/json", `"{ collections { totalCount } }"`, false,
			http.StatusBadRequest, "BAD_USER_INPUT", "must be a JSON object"},
		{"WrongFieldType", "application/json", `{"query": 5}`, false,
			http.StatusBadRequest, "BAD_USER_INPUT", "not a GraphQL request: cannot unmarshal number"},
		{"WrongContentType", "text/plain", `{"query":"{ collections { totalCount } }"}`, false,
			http.StatusUnsupportedMediaType, "BAD_USER_INPUT", "Content-Type: application/json (the request's content type: text/plain)"},
		{"NoContentType", "", `{"query":"{ collections { totalCount } }"}`, false,
			http.StatusUnsupportedMediaType, "BAD_USER_INPUT", "content type: none"},
		{"FormPost", "application/x-www-form-urlencoded", `query=%7B%7D`, false,
			http.StatusUnsupportedMediaType, "BAD_USER_INPUT", "application/json"},
		{"TooLargeChunked", "application/json", `{"query": "{ collections { totalCount } }", "variables": {"pad": "` + strings.Repeat("x", 5000) + `"}}`, true,
			http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE", "4096 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := send(t, c.contentType, c.body, c.chunked)
			require.Equal(t, c.status, r.status)
			require.Equal(t, c.code, r.code())
			require.Contains(t, r.Errors[0].Message, c.message)
			require.NotContains(t, r.Errors[0].Message, "collections { totalCount }", "the body is not echoed")
		})
	}

	t.Run("StillServesGoodRequests", func(t *testing.T) {
		t.Parallel()
		r := send2xx(t, b, "application/json; charset=utf-8", `{"query":"{ collections { totalCount } }"}`)
		require.Equal(t, http.StatusOK, r)
	})
}

func send2xx(t *testing.T, b *testBundle, contentType, body string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.url+"/graphql", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NotContains(t, string(raw), `"errors"`)
	return resp.StatusCode
}
