package rarity

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// orderIDs validates token ids and returns the permutation that puts the
// tokens in ascending id order: perm[position] = input index. Decimal ids
// compare numerically, whatever their length, and come before all other
// ids, which compare by bytes. Input that is already in order (the usual
// case for a DB query) costs one scan.
func orderIDs(ids []string) ([]int32, error) {
	n := len(ids)
	if int64(n) > 1<<31-1 {
		return nil, fmt.Errorf("too many tokens: %d", n)
	}
	sorted, small := true, true // small: decimal with at most 19 digits
	var prev string
	var prevDec bool
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("token at index %d: empty token id", i)
		}
		c, dec := canonID(id)
		if !dec || len(c) > 19 {
			small = false
		}
		if i > 0 && sorted && cmpID(prevDec, prev, dec, c) >= 0 {
			sorted = false
		}
		prev, prevDec = c, dec
	}
	perm := make([]int32, n)
	for i := range perm {
		perm[i] = int32(i)
	}
	if sorted {
		return perm, nil
	}
	dup := func(a, b int32) error {
		return &DuplicateIDError{ID: ids[b], Other: ids[a], First: int(a), Second: int(b)}
	}
	if small {
		type kv struct {
			k uint64
			i int32
		}
		keys := make([]kv, n)
		for i := range ids {
			s, _ := canonID(ids[i])
			var k uint64
			for j := 0; j < len(s); j++ {
				k = k*10 + uint64(s[j]-'0')
			}
			keys[i] = kv{k, int32(i)}
		}
		slices.SortFunc(keys, func(a, b kv) int {
			if c := cmp.Compare(a.k, b.k); c != 0 {
				return c
			}
			return cmp.Compare(a.i, b.i)
		})
		for pos, k := range keys {
			perm[pos] = k.i
			if pos > 0 && k.k == keys[pos-1].k {
				return nil, dup(keys[pos-1].i, k.i)
			}
		}
		return perm, nil
	}
	canon := make([]string, n)
	dec := make([]bool, n)
	for i := range ids {
		canon[i], dec[i] = canonID(ids[i])
	}
	slices.SortFunc(perm, func(a, b int32) int {
		if c := cmpID(dec[a], canon[a], dec[b], canon[b]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	for pos := 1; pos < n; pos++ {
		a, b := perm[pos-1], perm[pos]
		if cmpID(dec[a], canon[a], dec[b], canon[b]) == 0 {
			return nil, dup(a, b)
		}
	}
	return perm, nil
}

// DuplicateIDError reports two tokens with the same id ("7" and "007" are
// the same); First < Second are their input indexes.
type DuplicateIDError struct {
	ID, Other     string // the ids as given, at Second and at First
	First, Second int
}

func (e *DuplicateIDError) Error() string {
	return fmt.Sprintf("duplicate token id %q (also %q)", e.ID, e.Other)
}

// isDecimal reports whether id is made of ASCII digits only.
func isDecimal(id string) bool {
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// canonID returns the canonical form of id (a decimal id without leading
// zeros, any other id as is) and whether it is decimal.
func canonID(id string) (string, bool) {
	if !isDecimal(id) {
		return id, false
	}
	if len(id) > 1 && id[0] == '0' {
		id = strings.TrimLeft(id, "0")
		if id == "" {
			id = "0"
		}
	}
	return id, true
}

// cmpID orders ids: decimal ones first, numerically; then the others by bytes.
func cmpID(adec bool, a string, bdec bool, b string) int {
	if adec != bdec {
		if adec {
			return -1
		}
		return 1
	}
	if adec && len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}

// CompareIDs orders two token ids the way Compute does: decimal ids
// (digits only, any length) numerically and before all other ids, which
// order by bytes. It returns -1, 0 or +1; "7" and "007" compare equal.
func CompareIDs(a, b string) int {
	ca, da := canonID(a)
	cb, db := canonID(b)
	return cmpID(da, ca, db, cb)
}
