package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
)

// ErrorHandler cancels jobs that can never succeed because of what was
// enqueued, not because of how they ran: a kind no worker knows (a typo from
// another service, or a job left behind by a removed kind) and arguments that
// do not decode into the kind's struct. Retrying those would only loop until
// max attempts, so they end cancelled at once with the reason in the job's
// errors. The same goes for deterministic database errors (db.Deterministic:
// numeric overflow, invalid text, check violations...): the same data fails
// the same way on every attempt, so they are permanent, not transient. Every
// other error keeps the normal retry policy.
type ErrorHandler struct {
	Logger *slog.Logger
}

// IsEnqueueError reports whether err means the job itself is malformed: an
// unknown kind, or args River could not decode (River returns the decoding
// error unwrapped, before the worker runs, so errors from inside a worker
// never match).
func IsEnqueueError(err error) bool {
	var unknown *rivertype.UnknownJobKindError
	if errors.As(err, &unknown) {
		return true
	}
	switch err.(type) { //nolint:errorlint // only River's own, unwrapped decode error counts
	case *json.SyntaxError, *json.UnmarshalTypeError, *json.InvalidUnmarshalError:
		return true
	}
	return false
}

// HandleError cancels malformed jobs (see IsEnqueueError) and jobs that
// failed on a deterministic database error.
func (h *ErrorHandler) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if db.Deterministic(err) {
		h.Logger.ErrorContext(ctx, "job cancelled: the database refuses its data the same way on every attempt",
			slog.Int64("job_id", job.ID), slog.String("kind", job.Kind), slog.String("queue", job.Queue), slog.String("error", err.Error()))
		return &river.ErrorHandlerResult{SetCancelled: true}
	}
	if !IsEnqueueError(err) {
		return nil
	}
	h.Logger.WarnContext(ctx, "malformed job cancelled", slog.Int64("job_id", job.ID), slog.String("kind", job.Kind),
		slog.String("queue", job.Queue), slog.String("error", err.Error()))
	return &river.ErrorHandlerResult{SetCancelled: true}
}

// HandlePanic keeps River's default: the panic is recorded and the job
// retried with backoff until its attempts run out.
func (h *ErrorHandler) HandlePanic(context.Context, *rivertype.JobRow, any, string) *river.ErrorHandlerResult {
	return nil
}
