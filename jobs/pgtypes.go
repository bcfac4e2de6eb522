package jobs

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/nftsync/nftsync/internal/clip"
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

// Range of the numeric(78, 18) money columns: 60 digits before the point,
// 18 after.
const (
	amountIntDigits  = 78 - 18
	amountFracDigits = 18
)

// errAmountRange marks an amount the money columns cannot hold exactly.
var errAmountRange = errors.New("outside numeric(78,18)")

// pgAmount is pgNumeric for the numeric(78, 18) money columns. An amount
// with more than 60 integer digits (PostgreSQL would fail the statement
// with a numeric overflow, inside the transaction) or more than 18
// significant fractional digits (it would silently round: below 1e-18 to
// 0) is refused with an error wrapping errAmountRange before the database
// sees it.
func pgAmount(s string) (pgtype.Numeric, error) {
	n, err := pgNumeric(s)
	if err != nil || !n.Valid {
		return n, err
	}
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	if len(intPart) > amountIntDigits || len(frac) > amountFracDigits {
		return pgtype.Numeric{}, fmt.Errorf("amount %s: %w (at most %d integer and %d fractional digits)",
			clip.Text(s, 120), errAmountRange, amountIntDigits, amountFracDigits)
	}
	return n, nil
}
