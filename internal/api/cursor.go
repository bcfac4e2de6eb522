package api

import (
	"encoding/base64"
	"encoding/json"
)

// cursor is the opaque position of a Relay connection: base64url of this
// JSON. Kind, Order and Scope tie it to its listing, so a cursor of another
// listing (another collection, order or filter) is refused rather than
// silently paging something else.
type cursor struct {
	Kind  string `json:"k"`
	Order string `json:"o"`
	Scope string `json:"s,omitempty"`
	// Offset pages collections (a bounded, small list).
	Offset int `json:"x,omitempty"`
	// Tokens page by keyset: the last row's rank (Ranked phase) or token
	// id, and its primary key.
	Ranked  bool   `json:"r,omitempty"`
	Rank    int32  `json:"n,omitempty"`
	TokenID string `json:"t,omitempty"`
	PK      int64  `json:"i,omitempty"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) //nolint:errchkjson // plain fields always encode
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor parses after for the listing (kind, order, scope); nil after
// means the first page.
func decodeCursor(after *string, kind, order, scope string) (*cursor, error) {
	if after == nil || *after == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(*after)
	if err != nil {
		return nil, badInput("after: not a cursor of this API")
	}
	var c cursor
	if err := json.Unmarshal(raw, &c); err != nil || c.Kind == "" {
		return nil, badInput("after: not a cursor of this API")
	}
	if c.Kind != kind || c.Order != order || c.Scope != scope {
		return nil, badInput("after: the cursor belongs to another listing (other field, order, collection or filter); start again without after")
	}
	if c.Offset < 0 || c.PK < 0 || c.Rank < 0 {
		return nil, badInput("after: not a cursor of this API")
	}
	return &c, nil
}
