package indexer

import (
	"errors"
	"slices"
)

// DataKind names a kind of data a source may serve: one per method group of
// Indexer. Each value is the refresh kind (jobs' catalogue, stored in
// collection_schedules.kind) that asks for it.
type DataKind string

// The data kinds.
const (
	DataFloorPrice DataKind = "floor_price"
	DataVolume     DataKind = "volume"
	DataMetadata   DataKind = "metadata"
	DataTokens     DataKind = "tokens"
)

// DataKinds lists every data kind in a stable order.
func DataKinds() []DataKind { return []DataKind{DataFloorPrice, DataVolume, DataMetadata, DataTokens} }

// ErrNotSupported is wrapped by the *Error (ClassPermanent) a source returns
// when asked for a kind of data it does not have, e.g. a floor price from an
// on-chain trade index. Workers never ask for such data (see Supports); the
// error exists so that a wrong call fails loudly instead of inventing data.
var ErrNotSupported = errors.New("not supported by this source")

// ErrUnknownCollection is wrapped by the *Error (ClassPermanent, Status 404)
// a source returns for a collection it does not know.
var ErrUnknownCollection = errors.New("unknown collection")

// Capabilities is implemented by sources that serve only some data kinds.
type Capabilities interface {
	// Supported lists the data kinds the source serves.
	Supported() []DataKind
}

// Supports reports whether ix serves data kind k. A source that does not
// implement Capabilities serves every data kind.
func Supports(ix Indexer, k DataKind) bool {
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
