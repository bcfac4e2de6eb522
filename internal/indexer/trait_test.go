package indexer

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNewTrait(t *testing.T) {
	t.Parallel()
	ptr := func(s string) *string { return &s }
	for _, tc := range []struct {
		name        string
		display     *string
		maxValue    string
		value       string
		want        Trait
		wantReason  string
		wantErrPart string
	}{
		{name: "string", value: `"Gold"`, want: Trait{Type: "T", ValueText: "Gold", ValueKind: ValueString}},
		{name: "numeric string", value: `"42"`, want: Trait{Type: "T", ValueText: "42", ValueKind: ValueString, ValueNumeric: ptr("42")}},
		{name: "number", display: ptr("number"), maxValue: `"100"`, value: `4.50`,
			want: Trait{Type: "T", ValueText: "4.50", ValueKind: ValueNumber, ValueNumeric: ptr("4.5"), DisplayType: "number", MaxValue: "100"}},
		{name: "numeric max_value", maxValue: `100`, value: `1e2`,
			want: Trait{Type: "T", ValueText: "1e2", ValueKind: ValueNumber, ValueNumeric: ptr("100"), MaxValue: "100"}},
		{name: "bool", value: `true`, want: Trait{Type: "T", ValueText: "true", ValueKind: ValueBoolean}},
		{name: "display None", display: ptr("None"), value: `"x"`, want: Trait{Type: "T", ValueText: "x", ValueKind: ValueString}},
		{name: "null value", value: `null`, wantReason: "value is null"},
		{name: "absent value", value: ``, wantReason: "value is absent"},
		{name: "object value", value: `{"a":1}`, wantReason: "value is object"},
		{name: "array max_value", maxValue: `[1]`, value: `"x"`, wantErrPart: "field max_value: want string or number, got JSON array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw := json.RawMessage(`{}`)
			got, reason, err := NewTrait("T", tc.display, json.RawMessage(tc.maxValue), json.RawMessage(tc.value), raw)
			if tc.wantErrPart != "" {
				require.ErrorContains(t, err, tc.wantErrPart)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantReason, reason)
			if tc.wantReason != "" {
				require.Zero(t, got)
				return
			}
			tc.want.Raw = raw
			require.Equal(t, tc.want, got)
		})
	}
}
