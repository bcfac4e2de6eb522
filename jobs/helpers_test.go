package jobs_test

import (
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgtype"
)

func itoa(i int) string { return strconv.Itoa(i) }

func pgtypeInt8(v int64) pgtype.Int8 { return pgtype.Int8{Int64: v, Valid: true} }

// normDecimal drops trailing fractional zeros so "11.2500" equals "11.25".
func normDecimal(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func pgtypeInt4(v int32) pgtype.Int4 { return pgtype.Int4{Int32: v, Valid: true} }
