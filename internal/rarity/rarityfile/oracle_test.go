package rarityfile

// The line parser of encoding/json's token API that the hand-written one
// replaced, kept as the oracle of FuzzLineParser.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nftsync/nftsync/internal/rarity"
)

func oracleParseLine(b []byte) (rarity.Token, error) {
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

// FuzzLineParser: the hand-written parser accepts exactly the lines the
// encoding/json one accepts, with the same token.
func FuzzLineParser(f *testing.F) {
	for _, s := range []string{
		`{"token_id": 1, "attributes": {"Hat": "Cap", "Level": 5, "Shiny": true, "hat": "x"}}`,
		`{"token_id": "0xabc", "standard": "erc721", "attributes": [{"trait_type": "Level", "value": 3, "display_type": "number"}, {"trait_type": "Eyes", "value": "Blue", "display_type": null}]}`,
		`{"attributes": {}, "token_id": 123456789012345678901234567890}`,
		`{"token_id":7,"attributes":{"a\"b\\c\/d\b\f\n\r\t":"\u00e9\ud83d\ude00\ud800x\u0041", "\u212aind":"Ω"}}`,
		"{\"token_id\":8,\"attributes\":{\"bad\xff\":\"\xc3\x28\",\"k\":-1.5e+10}}",
		`{"token_id": 2, "attributes": {"a": null}}`,
		`{"token_id": -2, "attributes": {}}`,
		`{"token_id": 2, "attributes": {}} {}`,
		`{"token_id": 2, "attributes": [{"trait_type": "x", "value": false, "display_type": "date"}]}`,
		`[1]`, `not json`, `{"token_id": 01, "attributes": {}}`, `{"token_id": 1, "attributes": {"a": "\u00"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		if len(bytes.TrimSpace(line)) == 0 || bytes.IndexByte(line, '\n') >= 0 {
			return
		}
		want, werr := oracleParseLine(line)
		var p lineParser
		gerr := p.parse(line)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("line %q: oracle error %v, parser error %v", line, werr, gerr)
		}
		if werr != nil {
			return
		}
		got := rarity.Token{ID: p.str(p.id), Standard: p.str(p.standard), Attributes: []rarity.Attribute{}}
		for _, a := range p.attrs {
			got.Attributes = append(got.Attributes, rarity.Attribute{Name: p.str(a.name), Value: p.str(a.value), DisplayType: p.str(a.displayType), Numeric: a.numeric})
		}
		require.Equal(t, want, got, "line %q", line)
	})
}
