package indexer

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// JSONKind reports the JSON kind of a syntactically valid raw value:
// "absent" for a nil or empty RawMessage, else "null", "string", "number",
// "bool", "object" or "array".
func JSONKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "absent"
	}
	switch raw[0] {
	case 'n':
		return "null"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "number"
}

// NewTrait builds a Trait the same way for every source from the parts of
// an OpenSea-style trait object: {trait_type, display_type, max_value,
// value}. displayType nil, "" or "None" (the old SDK spelling of "no
// display type") all mean none. maxValue may be absent, null, a string (as
// OpenSea's spec has it) or a number (kept in its JSON spelling). The value
// is read by SetTraitValue; its reason, when not empty, says why the trait
// must be skipped (and the returned Trait is zero). err reports a wrongly
// typed max_value or invalid JSON. raw is kept as Trait.Raw.
func NewTrait(traitType string, displayType *string, maxValue, value, raw json.RawMessage) (t Trait, reason string, err error) {
	t = Trait{Type: traitType, Raw: raw}
	if displayType != nil && *displayType != "None" {
		t.DisplayType = *displayType
	}
	switch kind := JSONKind(maxValue); kind {
	case "absent", "null":
	case "string":
		if err := json.Unmarshal(maxValue, &t.MaxValue); err != nil {
			return Trait{}, "", fmt.Errorf("field max_value: decode string: %w", err)
		}
	case "number":
		t.MaxValue = string(bytes.TrimSpace(maxValue))
	default:
		return Trait{}, "", fmt.Errorf("field max_value: want string or number, got JSON %s", kind)
	}
	if reason, err := SetTraitValue(&t, value); err != nil || reason != "" {
		return Trait{}, reason, err
	}
	return t, "", nil
}

// SetTraitValue fills t.ValueText, t.ValueKind and t.ValueNumeric from an
// untyped trait value, the same way for every source: a string is kept
// verbatim (and gets ValueNumeric when it is a valid JSON number such as
// "42"), a number keeps its JSON spelling in ValueText and gets a canonical
// ValueNumeric, a bool becomes "true"/"false" of kind ValueBoolean.
//
// A value that is absent, null, an object or an array cannot be a trait
// value: SetTraitValue leaves t alone and returns a reason ("value is
// null") for the caller to skip the trait and report it. err is set only
// for a raw value that is not valid JSON.
func SetTraitValue(t *Trait, raw json.RawMessage) (reason string, err error) {
	switch kind := JSONKind(raw); kind {
	case "string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("field value: decode string: %w", err)
		}
		t.ValueKind, t.ValueText = ValueString, s
		if n, err := CanonicalDecimal(s, true); err == nil {
			t.ValueNumeric = &n
		}
	case "number":
		t.ValueKind, t.ValueText = ValueNumber, string(bytes.TrimSpace(raw))
		if n, err := CanonicalDecimal(t.ValueText, true); err == nil {
			t.ValueNumeric = &n
		}
	case "bool":
		t.ValueKind, t.ValueText = ValueBoolean, string(bytes.TrimSpace(raw)) // "true" or "false"
	default:
		return "value is " + kind, nil
	}
	return "", nil
}
