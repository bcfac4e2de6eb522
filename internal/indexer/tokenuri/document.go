package tokenuri

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/nftsync/nftsync/internal/clip"
	"github.com/nftsync/nftsync/internal/indexer"
)

// Skip describes a trait the parser dropped instead of failing the
// document. See Options.ObserveSkip.
type Skip struct {
	Ref indexer.TokenRef
	// Field is the JSON path of the dropped value, e.g. "attributes[2]".
	Field string
	// Reason says what was wrong, e.g. "value is null".
	Reason string
}

// utf8BOM is tolerated in front of a document (some editors write it).
var utf8BOM = []byte{0xEF, 0xBB, 0xBF} //nolint:gochecknoglobals // read-only

// traitKeys are the keys a document's traits may be under, by preference:
// the OpenSea metadata standard's "attributes", then the common "traits".
var traitKeys = []string{"attributes", "traits"} //nolint:gochecknoglobals // read-only table

// parseDocument parses a metadata document in the OpenSea metadata standard
// (https://docs.opensea.io/docs/metadata-standards): a JSON object with
// name, description, image and attributes [{trait_type, value,
// display_type, max_value}]. It is lenient where a document's author could
// have meant something sensible and strict where the document is not one:
//
//   - the body must be exactly one JSON object (a UTF-8 BOM and surrounding
//     whitespace are allowed); anything else is malformed, as is a
//     document with an escaped NUL, which PostgreSQL text cannot hold;
//   - traits come from "attributes", else from "traits"; either may be an
//     array of trait objects or an object mapping trait type to value
//     ({"Fur": "Brown"}); present but null, or absent in both, means the
//     document says nothing about traits (Traits nil, unknown); an empty
//     array or object means none; any other type is malformed;
//   - a trait object's type is "trait_type", else "traitType"; a trait
//     without either keeps Type "" (OpenSea shows such values as generic
//     properties); a value that is null, absent, an object or an array, and
//     an array item that is not an object, are skipped and reported;
//   - name and description are taken when they are strings; image is
//     "image", else "image_url".
//
// Trait values are built by indexer.NewTrait, exactly as the OpenSea client
// builds them.
func parseDocument(body []byte) (*indexer.TokenMetadata, []Skip, error) {
	body = bytes.TrimPrefix(body, utf8BOM)
	if k := indexer.JSONKind(body); k != "object" {
		if !json.Valid(body) {
			return nil, nil, fmt.Errorf("not JSON (starts with %q)", clip.Text(string(bytes.TrimSpace(body)), 24))
		}
		return nil, nil, fmt.Errorf("want a JSON object, got JSON %s", k)
	}
	var doc map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("trailing data after the JSON object at byte %d", dec.InputOffset())
	}
	if bytes.Contains(body, []byte(`\u0000`)) {
		return nil, nil, fmt.Errorf(`document contains an escaped NUL (\u0000), which cannot be stored`)
	}
	md := &indexer.TokenMetadata{
		Name:        stringField(doc, "name"),
		Description: stringField(doc, "description"),
		ImageURL:    stringField(doc, "image"),
		Raw:         json.RawMessage(bytes.TrimSpace(body)),
	}
	if md.ImageURL == "" {
		md.ImageURL = stringField(doc, "image_url")
	}
	for _, key := range traitKeys {
		raw, ok := doc[key]
		if !ok {
			continue
		}
		traits, skips, err := parseTraits(key, raw)
		if err != nil {
			return nil, nil, err
		}
		md.Traits = traits
		return md, skips, nil
	}
	return md, nil, nil
}

// stringField returns doc[key] when it is a JSON string, else "".
func stringField(doc map[string]json.RawMessage, key string) string {
	raw := doc[key]
	if indexer.JSONKind(raw) != "string" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// parseTraits parses the traits under key: nil for null, else a non-nil
// slice of the usable traits.
func parseTraits(key string, raw json.RawMessage) ([]indexer.Trait, []Skip, error) {
	switch kind := indexer.JSONKind(raw); kind {
	case "null":
		return nil, nil, nil
	case "array":
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, nil, fmt.Errorf("field %s: %w", key, err)
		}
		traits := make([]indexer.Trait, 0, len(items))
		var skips []Skip
		for i, item := range items {
			field := fmt.Sprintf("%s[%d]", key, i)
			tr, reason, err := parseTraitObject(item)
			switch {
			case err != nil:
				return nil, nil, fmt.Errorf("field %s: %w", field, err)
			case reason != "":
				skips = append(skips, Skip{Field: field, Reason: reason})
			default:
				traits = append(traits, tr)
			}
		}
		return traits, skips, nil
	case "object":
		return parseTraitMap(key, raw)
	default:
		return nil, nil, fmt.Errorf("field %s: want array or object, got JSON %s", key, kind)
	}
}

// traitObject is one element of attributes. Fields are raw so that a
// wrongly typed one is skipped rather than failing the document.
type traitObject struct {
	TraitType      json.RawMessage `json:"trait_type"`
	TraitTypeCamel json.RawMessage `json:"traitType"`
	DisplayType    json.RawMessage `json:"display_type"`
	MaxValue       json.RawMessage `json:"max_value"`
	Value          json.RawMessage `json:"value"`
}

// parseTraitObject builds one trait from an attributes element. A
// non-empty reason means the trait is skipped.
func parseTraitObject(raw json.RawMessage) (indexer.Trait, string, error) {
	if kind := indexer.JSONKind(raw); kind != "object" {
		return indexer.Trait{}, "item is JSON " + kind + ", not an object", nil
	}
	var obj traitObject
	if err := json.Unmarshal(raw, &obj); err != nil {
		return indexer.Trait{}, "", err
	}
	typeRaw := obj.TraitType
	if k := indexer.JSONKind(typeRaw); k == "absent" || k == "null" {
		typeRaw = obj.TraitTypeCamel
	}
	var traitType string
	switch k := indexer.JSONKind(typeRaw); k {
	case "absent", "null":
	case "string":
		if err := json.Unmarshal(typeRaw, &traitType); err != nil {
			return indexer.Trait{}, "", fmt.Errorf("field trait_type: %w", err)
		}
	case "number":
		traitType = string(bytes.TrimSpace(typeRaw))
	default:
		return indexer.Trait{}, "trait_type is JSON " + k, nil
	}
	var display *string
	switch k := indexer.JSONKind(obj.DisplayType); k {
	case "absent", "null":
	case "string":
		var s string
		if err := json.Unmarshal(obj.DisplayType, &s); err != nil {
			return indexer.Trait{}, "", fmt.Errorf("field display_type: %w", err)
		}
		display = &s
	default:
		return indexer.Trait{}, "display_type is JSON " + k, nil
	}
	maxValue := obj.MaxValue
	if k := indexer.JSONKind(maxValue); k != "absent" && k != "null" && k != "string" && k != "number" {
		maxValue = nil // a max_value of the wrong type is dropped, the trait kept
	}
	return indexer.NewTrait(traitType, display, maxValue, obj.Value, raw)
}

// parseTraitMap parses {"Fur": "Brown", "Level": 3}: one trait per key, in
// key order (JSON objects are unordered).
func parseTraitMap(key string, raw json.RawMessage) ([]indexer.Trait, []Skip, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, fmt.Errorf("field %s: %w", key, err)
	}
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)
	traits := make([]indexer.Trait, 0, len(m))
	var skips []Skip
	for _, name := range names {
		v := m[name]
		item, err := json.Marshal(map[string]json.RawMessage{"trait_type": mustJSON(name), "value": v})
		if err != nil {
			return nil, nil, fmt.Errorf("field %s.%s: %w", key, name, err)
		}
		tr, reason, err := indexer.NewTrait(name, nil, nil, v, item)
		switch {
		case err != nil:
			return nil, nil, fmt.Errorf("field %s.%s: %w", key, name, err)
		case reason != "":
			skips = append(skips, Skip{Field: key + "." + name, Reason: reason})
		default:
			traits = append(traits, tr)
		}
	}
	return traits, skips, nil
}

// mustJSON encodes a string as JSON.
func mustJSON(s string) json.RawMessage {
	b, _ := json.Marshal(s) //nolint:errchkjson // a string always encodes
	return b
}
