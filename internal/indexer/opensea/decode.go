package opensea

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"

	"github.com/nftsync/nftsync/internal/indexer"
)

// decodeStrict decodes exactly one JSON value from data into v and rejects
// anything but whitespace after it. Unknown object fields are ignored on
// purpose (the API grows); type mismatches are reported with the field path
// and the expected and actual JSON kinds. UseNumber keeps any number that
// lands in an interface value exact.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return describeJSONError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after JSON value at byte %d", dec.InputOffset())
	}
	return nil
}

// describeJSONError turns encoding/json errors into messages that name the
// field and the JSON kinds instead of Go types.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("truncated JSON")
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at byte %d: %w", syn.Offset, err)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return fmt.Errorf("field %s: want %s, got JSON %s", field, jsonKind(typ.Type), typ.Value)
	}
	return err
}

// jsonKind names the JSON kind a Go type decodes from.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return t.String()
}

// rawKind reports the JSON kind of a syntactically valid raw value; see
// indexer.JSONKind.
func rawKind(raw json.RawMessage) string { return indexer.JSONKind(raw) }

// rawString decodes a raw JSON string. raw must be of kind "string".
func rawString(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("decode string: %w", err)
	}
	return s, nil
}
