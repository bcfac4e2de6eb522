package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/nftsync/nftsync/internal/admin"
)

// Error codes in extensions.code besides the admin package's.
const (
	codeUnauthenticated = "UNAUTHENTICATED"
	codeForbidden       = "FORBIDDEN"
	codeInternal        = "INTERNAL_SERVER_ERROR"
	codeTooComplex      = "QUERY_TOO_COMPLEX"
	codeTooDeep         = "QUERY_TOO_DEEP"
	codeTooLarge        = "REQUEST_TOO_LARGE"
	codeTimeout         = "TIMEOUT"
)

// publicError is an error whose message is meant for the client.
func publicError(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

func badInput(msg string) *gqlerror.Error { return publicError(admin.CodeBadInput, msg) }

// presentError shows clients only errors meant for them: our public errors,
// the admin service's refusals, and gqlgen's own validation and parsing
// errors (which carry a code). Anything else (SQL, network, bugs) is logged
// with the path and answered as "internal error", so no internal message,
// SQL or stack trace reaches a client.
func presentError(logger *slog.Logger) graphql.ErrorPresenterFunc {
	present := func(ctx context.Context, err error) *gqlerror.Error {
		var gerr *gqlerror.Error
		var aerr *admin.Error
		switch {
		case errors.As(err, &aerr):
			ext := map[string]any{"code": aerr.Code}
			if !aerr.RetryAt.IsZero() {
				ext["retryAt"] = aerr.RetryAt.UTC().Format(time.RFC3339)
				ext["retryAfterSeconds"] = max(1, int(time.Until(aerr.RetryAt).Seconds()+0.999))
			}
			return &gqlerror.Error{Message: aerr.Message, Path: graphql.GetPath(ctx), Extensions: ext}
		case errors.Is(err, context.DeadlineExceeded):
			return &gqlerror.Error{Message: "the request took too long and was stopped", Path: graphql.GetPath(ctx),
				Extensions: map[string]any{"code": codeTimeout}}
		case errors.As(err, &gerr) && gerr.Extensions["code"] == nil && gerr.Err == nil && strings.HasPrefix(gerr.Message, decodeErrorPrefix):
			msg, _ := decodeErrorMessage(gerr.Message)
			return badInput(msg)
		case errors.As(err, &gerr) && gerr.Extensions["code"] != nil && gerr.Err == nil:
			if gerr.Path == nil {
				gerr.Path = graphql.GetPath(ctx)
			}
			return gerr
		}
		logger.ErrorContext(ctx, "graphql resolver failed", slog.String("path", graphql.GetPath(ctx).String()), slog.Any("error", err))
		return &gqlerror.Error{Message: "internal error", Path: graphql.GetPath(ctx), Extensions: map[string]any{"code": codeInternal}}
	}
	return func(ctx context.Context, err error) *gqlerror.Error {
		e := present(ctx, err)
		requestInfoFrom(ctx).setError(errorCode(e))
		return e
	}
}

// recoverPanic logs a resolver panic and answers "internal error".
func recoverPanic(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, v any) error {
		logger.ErrorContext(ctx, "graphql resolver panicked", slog.Any("panic", v))
		return publicError(codeInternal, "internal error")
	}
}

// statusHolder lets resolvers choose the HTTP status of the response: an
// auth refusal answers 401/403 even though GraphQL writes its errors in the
// body. gqlgen executes the whole operation before writing, so the status is
// known when the header goes out.
type statusHolder struct{ code atomic.Int32 }

type statusKey struct{}

func setStatus(ctx context.Context, code int) {
	if h, ok := ctx.Value(statusKey{}).(*statusHolder); ok {
		h.code.CompareAndSwap(0, int32(code))
	}
}

// statusWriter applies the holder's status on the first WriteHeader/Write.
type statusWriter struct {
	http.ResponseWriter
	h     *statusHolder
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if c := int(w.h.code.Load()); c != 0 && code == http.StatusOK {
		code = c
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// writeGraphQLError answers a request refused before GraphQL ran (auth, body
// size, method) with a GraphQL-shaped error body.
func writeGraphQLError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{ //nolint:errchkjson // only a write error can happen: the client is gone
		"errors": []any{map[string]any{"message": msg, "extensions": map[string]any{"code": code}}},
	})
}
