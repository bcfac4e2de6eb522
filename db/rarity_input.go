package db

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// RarityTokenRaw is one row of RarityTokens as the server sent it; the
// byte slices alias the connection's read buffer and are valid only during
// the callback of RarityTokensEach.
type RarityTokenRaw struct {
	ID                               int64
	Contract, TokenID, TokenStandard []byte
	TraitsKnown                      bool
}

// RarityTraitRaw is one row of RarityTraits as the server sent it; the
// byte slices are valid only during the callback of RarityTraitsEach.
type RarityTraitRaw struct {
	Contract, TokenID                 []byte
	TraitType, ValueText, DisplayType []byte
	IsNumeric                         bool
}

// RarityTokensEach runs RarityTokens (SQL in queries/tokens.sql) and calls
// fn for every row as it arrives, without decoding into strings or keeping
// rows. An error from fn stops the query and is returned.
func (q *Queries) RarityTokensEach(ctx context.Context, collectionID int64, fn func(*RarityTokenRaw) error) error {
	var r RarityTokenRaw
	return eachRaw(ctx, q.db, rarityTokens, collectionID, 5, func(fds []pgconn.FieldDescription, v [][]byte) error {
		var err error
		if r.ID, err = rawInt8(fds[0], v[0]); err != nil {
			return fmt.Errorf("rarity tokens: id: %w", err)
		}
		r.Contract, r.TokenID, r.TokenStandard = v[1], v[2], v[3]
		r.TraitsKnown = rawBool(fds[4], v[4])
		return fn(&r)
	})
}

// RarityTraitsEach runs RarityTraits (SQL in queries/tokens.sql) and calls
// fn for every row as it arrives, like RarityTokensEach.
func (q *Queries) RarityTraitsEach(ctx context.Context, collectionID int64, fn func(*RarityTraitRaw) error) error {
	var r RarityTraitRaw
	return eachRaw(ctx, q.db, rarityTraits, collectionID, 6, func(fds []pgconn.FieldDescription, v [][]byte) error {
		r.Contract, r.TokenID = v[0], v[1]
		r.TraitType, r.ValueText, r.DisplayType = v[2], v[3], v[4]
		r.IsNumeric = rawBool(fds[5], v[5])
		return fn(&r)
	})
}

// eachRaw runs a one-parameter query and hands every row's raw values to fn.
func eachRaw(ctx context.Context, d DBTX, sql string, arg int64, cols int, fn func([]pgconn.FieldDescription, [][]byte) error) error {
	rows, err := d.Query(ctx, sql, arg)
	if err != nil {
		return err
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	if len(fds) != cols {
		return fmt.Errorf("%d columns, want %d", len(fds), cols)
	}
	for rows.Next() {
		if err := fn(fds, rows.RawValues()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// rawInt8 decodes a bigint in text or binary format.
func rawInt8(fd pgconn.FieldDescription, b []byte) (int64, error) {
	if fd.Format == pgx.BinaryFormatCode {
		if len(b) != 8 {
			return 0, fmt.Errorf("binary int8 of %d bytes", len(b))
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	return strconv.ParseInt(string(b), 10, 64)
}

// rawBool decodes a boolean in text or binary format; NULL is false.
func rawBool(fd pgconn.FieldDescription, b []byte) bool {
	if len(b) == 0 {
		return false
	}
	if fd.Format == pgx.BinaryFormatCode {
		return b[0] != 0
	}
	return b[0] == 't'
}
