package ratelimit

import (
	"context"
	"fmt"
)

// Class is the kind of request, which decides how much of a bucket it may
// use. The zero value is ClassLive.
type Class uint8

const (
	// ClassLive is a periodic refresh (floor price, volume): it may take any
	// token and any in-flight slot.
	ClassLive Class = iota
	// ClassPriority is a manual "refresh now": it may take any token and
	// slot and goes first while it waits (see the package doc).
	ClassPriority
	// ClassBulk is a backfill (token sync): it leaves the bucket's bulk
	// reserve to live and priority requests.
	ClassBulk
	// ClassSpare is optional work (an audit of a streamed book): it takes
	// only tokens no live or bulk request is waiting for, and never waits
	// (see the package doc).
	ClassSpare
)

// String returns the name stored in rate_limit_slots.class.
func (c Class) String() string {
	switch c {
	case ClassLive:
		return "live"
	case ClassPriority:
		return "priority"
	case ClassBulk:
		return "bulk"
	case ClassSpare:
		return "spare"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

func (c Class) valid() bool { return c <= ClassSpare }

type classKey struct{}

// WithClass returns a copy of ctx whose requests are of class c. Workers set
// it once per job; Indexer reads it for every call.
func WithClass(ctx context.Context, c Class) context.Context {
	return context.WithValue(ctx, classKey{}, c)
}

// ClassFrom returns the class set by WithClass, or ClassLive when none is.
func ClassFrom(ctx context.Context) Class {
	if c, ok := ctx.Value(classKey{}).(Class); ok {
		return c
	}
	return ClassLive
}
