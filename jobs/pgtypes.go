package jobs

import (
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

func pgInt8(v int64) pgtype.Int8 { return pgtype.Int8{Int64: v, Valid: true} }

func pgInt2(v int32) pgtype.Int2 { return pgtype.Int2{Int16: int16(v), Valid: true} }

func pgTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// pgNumeric converts a decimal string (as the indexer package guarantees) to
// a NUMERIC parameter; "" is NULL.
func pgNumeric(s string) (pgtype.Numeric, error) {
	var n pgtype.Numeric
	if s == "" {
		return n, nil
	}
	if err := n.Scan(s); err != nil {
		return n, fmt.Errorf("decimal %q: %w", s, err)
	}
	if n.NaN || n.InfinityModifier != pgtype.Finite {
		return n, fmt.Errorf("decimal %q is not finite", s)
	}
	if n.Int != nil && n.Int.Sign() < 0 {
		return n, fmt.Errorf("decimal %q is negative", s)
	}
	return n, nil
}
