package indexer

import (
	"errors"
	"slices"
)

// Kind names a kind of data a source may serve. The values are the schedule
// kinds stored in collection_schedules.kind.
type Kind string

// The data kinds.
const (
	KindFloorPrice Kind = "floor_price"
	KindVolume     Kind = "volume"
	KindMetadata   Kind = "metadata"
	KindTokens     Kind = "tokens"
)

// Kinds lists every data kind in a stable order.
func Kinds() []Kind { return []Kind{KindFloorPrice, KindVolume, KindMetadata, KindTokens} }

// ErrNotSupported is wrapped by the *Error (ClassPermanent) a source returns
// when asked for a kind of data it does not have, e.g. a floor price from an
// on-chain trade index. Workers never ask for such data (see Supports); the
// error exists so that a wrong call fails loudly instead of inventing data.
var ErrNotSupported = errors.New("not supported by this source")

// ErrUnknownCollection is wrapped by the *Error (ClassPermanent, Status 404)
// a source returns for a collection it does not know.
var ErrUnknownCollection = errors.New("unknown collection")

// Capabilities is implemented by sources that serve only some kinds.
type Capabilities interface {
	// Supported lists the kinds the source serves.
	Supported() []Kind
}

// Supports reports whether ix serves kind k. A source that does not
// implement Capabilities serves every kind.
func Supports(ix Indexer, k Kind) bool {
	c, ok := ix.(Capabilities)
	if !ok {
		return true
	}
	return slices.Contains(c.Supported(), k)
}

// NotSupported returns the error for a call to a kind the source lacks.
func NotSupported(op string) error {
	return &Error{Class: ClassPermanent, Op: op, Err: ErrNotSupported}
}
