package indexer

import (
	"errors"
	"fmt"
	"time"
)

// Class says how a worker should react to a failed upstream call.
type Class int

const (
	// ClassTransient failures (5xx, timeouts, connection resets) are retried
	// with backoff.
	ClassTransient Class = iota
	// ClassPermanent failures (404 unknown collection, 401/403 bad key) will
	// not succeed on retry; the job is cancelled and the collection marked.
	ClassPermanent
	// ClassMalformed means the upstream answered but the payload is invalid
	// (bad JSON, wrong types, negative/NaN prices, oversize body). Nothing is
	// stored; a data-quality event is recorded.
	ClassMalformed
	// ClassRateLimited means the source asked us to slow down (429, OpenSea's
	// 599). RetryAfter says for how long when the source told us.
	ClassRateLimited
)

func (c Class) String() string {
	switch c {
	case ClassTransient:
		return "transient"
	case ClassPermanent:
		return "permanent"
	case ClassMalformed:
		return "malformed"
	case ClassRateLimited:
		return "rate_limited"
	}
	return fmt.Sprintf("class(%d)", int(c))
}

// Error is the error every client returns for a failed call. Op names the
// operation ("stats example-apes"), Status the HTTP status (0 when none).
type Error struct {
	Class      Class
	Op         string
	Status     int
	RetryAfter time.Duration // for ClassRateLimited; 0 when unknown
	Err        error
}

func (e *Error) Error() string {
	s := e.Op + ": " + e.Class.String()
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// ClassOf returns the class of err. Errors that are not *Error (including
// context cancellation) are transient.
func ClassOf(err error) Class {
	var ie *Error
	if errors.As(err, &ie) {
		return ie.Class
	}
	return ClassTransient
}

// RetryAfter returns the wait a rate-limited error asked for, and whether err
// is a rate limit at all.
func RetryAfter(err error) (time.Duration, bool) {
	var ie *Error
	if errors.As(err, &ie) && ie.Class == ClassRateLimited {
		return ie.RetryAfter, true
	}
	return 0, false
}
