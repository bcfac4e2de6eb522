package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/nftsync/nftsync/internal/admin"
)

// bodyError is a request refused before GraphQL runs, with the HTTP status
// and a message that says what was wrong.
type bodyError struct {
	status int
	code   string
	msg    string
}

// readPostBody checks a POST /graphql request's content type and body, and
// returns the body (already read, at most limit bytes) for the GraphQL
// transport to decode. It refuses, with a message a client can act on:
//   - a content type other than application/json (415);
//   - a body over the limit (413), also when it came without a length;
//   - an empty body, invalid JSON (with the byte offset of the error), a
//     batch (a JSON array: batching is not supported) or any JSON value that
//     is not an object (400).
//
// Wrong field types inside a valid object (e.g. "query": 5) are left to the
// transport's decoder, whose message presentError turns into BAD_INPUT.
func readPostBody(r *http.Request, limit int64) ([]byte, *bodyError) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		if ct == "" {
			ct = "none"
		}
		return nil, &bodyError{http.StatusUnsupportedMediaType, admin.CodeBadInput,
			fmt.Sprintf("send the request as Content-Type: application/json (the request's content type: %s)", ct)}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &bodyError{http.StatusRequestEntityTooLarge, codeTooLarge,
				fmt.Sprintf("the request body is over the limit of %d bytes", limit)}
		}
		return nil, &bodyError{http.StatusBadRequest, admin.CodeBadInput, "the request body could not be read: " + err.Error()}
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	switch {
	case len(trimmed) == 0:
		return nil, &bodyError{http.StatusBadRequest, admin.CodeBadInput,
			`the request body is empty: send a JSON object such as {"query": "{ __typename }"}`}
	case !json.Valid(trimmed):
		return nil, &bodyError{http.StatusBadRequest, admin.CodeBadInput, "the request body is not valid JSON: " + jsonSyntaxError(body)}
	case trimmed[0] == '[':
		return nil, &bodyError{http.StatusBadRequest, admin.CodeBadInput,
			"batched requests (a JSON array of operations) are not supported: send one operation per request"}
	case trimmed[0] != '{':
		return nil, &bodyError{http.StatusBadRequest, admin.CodeBadInput,
			`the request body must be a JSON object with a "query" field`}
	}
	return body, nil
}

// jsonSyntaxError describes why body is not valid JSON, with the byte
// offset where decoding failed when the decoder says.
func jsonSyntaxError(body []byte) string {
	var v any
	err := json.Unmarshal(body, &v)
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("%s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	case err != nil:
		return strings.TrimPrefix(err.Error(), "json: ")
	default:
		return "unexpected content"
	}
}

// decodeErrorPrefix starts the message of gqlgen's POST transport when a
// valid JSON body does not decode into a GraphQL request (e.g. a number as
// the query); the message ends with " body:" and the whole body.
const decodeErrorPrefix = "json request body could not be decoded: "

// decodeErrorMessage turns that message into one for the client, without the
// echoed body, and reports whether msg was one.
func decodeErrorMessage(msg string) (string, bool) {
	rest, ok := strings.CutPrefix(msg, decodeErrorPrefix)
	if !ok {
		return "", false
	}
	if i := strings.LastIndex(rest, " body:"); i >= 0 {
		rest = rest[:i]
	}
	rest = strings.TrimPrefix(rest, "json: ")
	return "the request body is not a GraphQL request: " + rest, true
}
