// Package rarityfile reads and writes the file formats of the rarity
// engine, and implements the "nftsync rarity" command on top of them.
//
// Input is JSON Lines, one token per line, optionally gzip-compressed:
//
//	{"token_id": 17, "attributes": {"Background": "Blue", "Level": 5}}
//
// token_id is a non-negative JSON integer (any size) or a non-empty string.
// attributes is an object of name -> value, or an OpenSea-style array of
// {"trait_type": ..., "value": ..., "display_type": ...} objects. A string
// value is a string trait; a number or boolean value is marked
// rarity.Attribute.Numeric (OpenRarity types those as numeric); null,
// arrays and objects are errors. Attribute order and repeated names are
// kept. An optional "standard" string sets rarity.Token.Standard. Blank
// lines are skipped; anything else that does not fit is an error naming
// the line.
//
// Output is CSV (token_id,score,rank, sorted by token id, scores formatted
// like Python's repr) or JSON; see WriteCSV and WriteJSON.
package rarityfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nftsync/nftsync/internal/rarity"
)

// ReadFile reads the tokens of a JSON Lines file. The file is gunzipped
// when its name ends in ".gz" or it starts with the gzip magic bytes.
func ReadFile(path string) ([]rarity.Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("read tokens: %s: %w", path, err)
		}
		defer z.Close()
		r = z
	}
	toks, err := Read(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return toks, nil
}

// Read reads the tokens of a JSON Lines stream, gunzipping it when it
// starts with the gzip magic bytes. Errors name the line (counted from 1).
func Read(r io.Reader) ([]rarity.Token, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read tokens: %w", err)
		}
		defer z.Close()
		br = bufio.NewReaderSize(z, 1<<16)
	}
	var toks []rarity.Token
	seen := map[string]int{} // canonical id -> line
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read line %d: %w", line, err)
		}
		if len(bytes.TrimSpace(b)) > 0 {
			t, perr := parseLine(b)
			if perr != nil {
				return nil, fmt.Errorf("parse line %d: %w", line, perr)
			}
			k := canonical(t.ID)
			if first, dup := seen[k]; dup {
				return nil, fmt.Errorf("parse line %d: duplicate token_id %q (first on line %d)", line, t.ID, first)
			}
			seen[k] = line
			toks = append(toks, t)
		}
		if err != nil { // io.EOF
			return toks, nil
		}
	}
}

// canonical mirrors rarity's id identity: decimal ids without leading zeros.
func canonical(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return "s:" + id
		}
	}
	s := strings.TrimLeft(id, "0")
	if s == "" {
		s = "0"
	}
	return "d:" + s
}

func parseLine(b []byte) (rarity.Token, error) {
	var t rarity.Token
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := expectDelim(d, '{', "line"); err != nil {
		return t, err
	}
	var hasID, hasAttrs bool
	for d.More() {
		key, err := objectKey(d)
		if err != nil {
			return t, err
		}
		switch key {
		case "token_id":
			if hasID {
				return t, errors.New("token_id given twice")
			}
			hasID = true
			if t.ID, err = tokenID(d); err != nil {
				return t, err
			}
		case "attributes":
			if hasAttrs {
				return t, errors.New("attributes given twice")
			}
			hasAttrs = true
			if t.Attributes, err = attributes(d); err != nil {
				return t, err
			}
		case "standard":
			v, err := d.Token()
			if err != nil {
				return t, fmt.Errorf("standard: %w", err)
			}
			s, ok := v.(string)
			if !ok {
				return t, fmt.Errorf("standard: want a string, got %s", describe(v))
			}
			t.Standard = s
		default:
			return t, fmt.Errorf("unknown field %q", key)
		}
	}
	if _, err := d.Token(); err != nil { // closing '}'
		return t, err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return t, errors.New("unexpected data after the JSON object")
	}
	if !hasID {
		return t, errors.New("missing token_id")
	}
	if !hasAttrs {
		return t, errors.New("missing attributes")
	}
	return t, nil
}

func tokenID(d *json.Decoder) (string, error) {
	v, err := d.Token()
	if err != nil {
		return "", fmt.Errorf("token_id: %w", err)
	}
	switch x := v.(type) {
	case json.Number:
		s := x.String()
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return "", fmt.Errorf("token_id: want a non-negative integer, got %s", s)
			}
		}
		return s, nil
	case string:
		if x == "" {
			return "", errors.New("token_id: empty string")
		}
		return x, nil
	}
	return "", fmt.Errorf("token_id: want an integer or a string, got %s", describe(v))
}

func attributes(d *json.Decoder) ([]rarity.Attribute, error) {
	v, err := d.Token()
	if err != nil {
		return nil, fmt.Errorf("attributes: %w", err)
	}
	switch v {
	case json.Delim('{'):
		attrs := []rarity.Attribute{}
		for d.More() {
			name, err := objectKey(d)
			if err != nil {
				return nil, fmt.Errorf("attributes: %w", err)
			}
			a, err := attrValue(d, name)
			if err != nil {
				return nil, err
			}
			attrs = append(attrs, a)
		}
		_, err := d.Token()
		return attrs, err
	case json.Delim('['):
		attrs := []rarity.Attribute{}
		for i := 0; d.More(); i++ {
			a, err := attrObject(d)
			if err != nil {
				return nil, fmt.Errorf("attributes[%d]: %w", i, err)
			}
			attrs = append(attrs, a)
		}
		_, err := d.Token()
		return attrs, err
	}
	return nil, fmt.Errorf("attributes: want an object or an array, got %s", describe(v))
}

// attrObject reads {"trait_type": name, "value": v, "display_type": dt}.
func attrObject(d *json.Decoder) (rarity.Attribute, error) {
	var a rarity.Attribute
	if err := expectDelim(d, '{', "attribute"); err != nil {
		return a, err
	}
	var hasName, hasValue bool
	for d.More() {
		key, err := objectKey(d)
		if err != nil {
			return a, err
		}
		switch key {
		case "trait_type":
			v, err := d.Token()
			if err != nil {
				return a, err
			}
			s, ok := v.(string)
			if !ok {
				return a, fmt.Errorf("trait_type: want a string, got %s", describe(v))
			}
			a.Name, hasName = s, true
		case "value":
			b, err := attrValue(d, "")
			if err != nil {
				return a, err
			}
			a.Value, a.Numeric, hasValue = b.Value, b.Numeric, true
		case "display_type":
			v, err := d.Token()
			if err != nil {
				return a, err
			}
			switch s := v.(type) {
			case string:
				a.DisplayType = s
			case nil:
			default:
				return a, fmt.Errorf("display_type: want a string or null, got %s", describe(v))
			}
		default:
			return a, fmt.Errorf("unknown field %q", key)
		}
	}
	if _, err := d.Token(); err != nil {
		return a, err
	}
	if !hasName {
		return a, errors.New("missing trait_type")
	}
	if !hasValue {
		return a, fmt.Errorf("trait %q: missing value", a.Name)
	}
	return a, nil
}

// attrValue reads one attribute value: a string, or a number or boolean
// (marked Numeric).
func attrValue(d *json.Decoder, name string) (rarity.Attribute, error) {
	a := rarity.Attribute{Name: name}
	v, err := d.Token()
	if err != nil {
		return a, fmt.Errorf("attribute %q: %w", name, err)
	}
	switch x := v.(type) {
	case string:
		a.Value = x
	case json.Number:
		a.Value, a.Numeric = x.String(), true
	case bool:
		a.Value, a.Numeric = fmt.Sprint(x), true
	default:
		return a, fmt.Errorf("attribute %q: want a string, number or boolean, got %s", name, describe(v))
	}
	return a, nil
}

func objectKey(d *json.Decoder) (string, error) {
	k, err := d.Token()
	if err != nil {
		return "", err
	}
	s, ok := k.(string)
	if !ok {
		return "", fmt.Errorf("want an object key, got %s", describe(k))
	}
	return s, nil
}

func expectDelim(d *json.Decoder, want json.Delim, what string) error {
	v, err := d.Token()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if v != want {
		return fmt.Errorf("%s: want a JSON object, got %s", what, describe(v))
	}
	return nil
}

func describe(v json.Token) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case json.Delim:
		if x == '{' {
			return "an object"
		}
		if x == '[' {
			return "an array"
		}
		return string(x)
	case string:
		return fmt.Sprintf("string %q", x)
	case json.Number:
		return "number " + x.String()
	case bool:
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("%v", v)
}
