package api

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/riverqueue/river/rivertype"

	"github.com/nftsync/nftsync/db"
)

// JSON is raw JSON passed through to clients as is.
type JSON json.RawMessage

// MarshalGQL writes the JSON value.
func (j JSON) MarshalGQL(w io.Writer) {
	if len(j) == 0 {
		_, _ = io.WriteString(w, "null")
		return
	}
	_, _ = w.Write(j)
}

// UnmarshalGQL accepts any input value.
func (j *JSON) UnmarshalGQL(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("JSON: %w", err)
	}
	*j = b
	return nil
}

// Collection is a tracked collection; its other fields are resolved through
// per-request loaders (one statement per field for a whole page).
type Collection struct {
	db.Collection
	// ld, when set, are the loaders the collection's fields read through
	// instead of the request's: a subscription resolves each event with
	// loaders of its own, since a request's loaders cache what they read.
	ld *loaders
}

// Token is a token row with its rarity in the current run (nil when it has
// no rank) and its traits. The query that returns tokens fills Traits for
// all of them in one batch when the selection asks for traits (a plain
// field, not a per-token resolver: no goroutine and loader call per token).
type Token struct {
	PK            int64
	CollectionID  int64
	TokenID       string
	Contract      string
	TokenStandard string
	Name          string
	ImageURL      string
	MetadataURL   string
	TraitsKnown   bool
	TraitsState   TraitsState
	FetchedAt     time.Time
	Rarity        *TokenRarity
	Traits        []*Trait
}

// Job is a River job row.
type Job struct {
	*rivertype.JobRow
}

// CollectionConnection is a page of collections; totalCount is counted only
// when asked for.
type CollectionConnection struct {
	Edges    []*CollectionEdge
	PageInfo *PageInfo
	filter   collectionFilter
}

// TokenConnection is a page of tokens; totalCount is counted only when asked
// for.
type TokenConnection struct {
	Edges        []*TokenEdge
	PageInfo     *PageInfo
	collectionID int64
	traits       traitFilter
}

// MarshalInt64ID writes an int64 ID as a GraphQL ID (a JSON string, so
// JavaScript clients never round it through a float).
func MarshalInt64ID(i int64) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(strconv.FormatInt(i, 10)))
	})
}

// UnmarshalInt64ID reads an ID given as a string or a number.
func UnmarshalInt64ID(v any) (int64, error) {
	switch v := v.(type) {
	case string:
		return strconv.ParseInt(v, 10, 64)
	case json.Number:
		return v.Int64()
	case int64:
		return v, nil
	case int:
		return int64(v), nil
	}
	return 0, fmt.Errorf("%T is not an ID", v)
}
