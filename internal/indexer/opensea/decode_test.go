package opensea

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecodeEdgeCases pins validation messages for shapes too small to
// deserve a fixture file each.
func TestDecodeEdgeCases(t *testing.T) {
	t.Parallel()

	const contract = `"contract":"0xabc"`
	tokens := func(body string) error {
		_, _, err := decodeTokenPage([]byte(body), "")
		return err
	}
	stats := func(body string) error {
		_, _, err := decodeStats([]byte(body))
		return err
	}
	collection := func(body string) error {
		_, err := decodeCollection([]byte(body))
		return err
	}
	const total = `"total":{"volume":1,"sales":1,"num_owners":1}`

	for _, tc := range []struct {
		name    string
		decode  func(string) error
		body    string
		wantErr string
	}{
		{"EmptyBody", stats, "", "empty body"},
		{"WhitespaceBody", stats, " \n", "empty body"},
		{"NullBody", stats, "null", "field total: required"},
		{"SalesMissing", stats, `{"total":{"volume":1,"num_owners":1}}`, "field total.sales: required"},
		{"SalesNegative", stats, `{"total":{"volume":1,"sales":-1,"num_owners":1}}`, "field total.sales: negative (-1)"},
		{"SalesFloat", stats, `{"total":{"volume":1,"sales":1.5,"num_owners":1}}`, "field total.sales: want integer, got JSON number 1.5"},
		{"OwnersMissing", stats, `{"total":{"volume":1,"sales":1}}`, "field total.num_owners: required"},
		{"OwnersNegative", stats, `{"total":{"volume":1,"sales":1,"num_owners":-2}}`, "field total.num_owners: negative (-2)"},
		{"VolumeMissing", stats, `{"total":{"sales":1,"num_owners":1}}`, "field total.volume: required"},
		{"VolumeNull", stats, `{"total":{"volume":null,"sales":1,"num_owners":1}}`, "field total.volume: required"},
		{"IntervalNameMissing", stats, `{` + total + `,"intervals":[{"volume":1,"sales":1}]}`, "field intervals[0].interval: required"},
		{"IntervalNull", stats, `{` + total + `,"intervals":[null]}`, "field intervals[0].interval: required"},
		{"IntervalSalesMissing", stats, `{` + total + `,"intervals":[{"interval":"one_day","volume":1}]}`, "field intervals[0] (one_day).sales: required"},
		{"IntervalSalesNegative", stats, `{` + total + `,"intervals":[{"interval":"one_day","volume":1,"sales":-1}]}`, "field intervals[0] (one_day).sales: negative"},
		{"IntervalsNotArray", stats, `{` + total + `,"intervals":{}}`, "field intervals: want array, got JSON object"},

		{"NameMissing", collection, `{"collection":"x","contracts":[]}`, "field name: required"},
		{"SlugEmpty", collection, `{"collection":"","name":"x","contracts":[]}`, "field collection: empty"},
		{"ContractsMissing", collection, `{"collection":"x","name":"x"}`, "field contracts: required"},
		{"ContractChainMissing", collection, `{"collection":"x","name":"x","contracts":[{"address":"0x1"}]}`, "field contracts[0].chain: required"},
		{"SupplyNegative", collection, `{"collection":"x","name":"x","contracts":[],"total_supply":-1}`, "field total_supply: negative"},
		{"DecimalsOutOfRange", collection, `{"collection":"x","name":"x","contracts":[],"pricing_currencies":{"listing_currency":{"symbol":"X","decimals":99}}}`, "listing_currency.decimals: out of range (99)"},

		{"NFTsNull", tokens, `{"nfts":null}`, "field nfts: required"},
		{"NFTsNotArray", tokens, `{"nfts":"x"}`, "field nfts: want array, got JSON string"},
		{"NFTNotObject", tokens, `{"nfts":[null]}`, "nfts[0]: want object, got JSON null"},
		{"IdentifierMissing", tokens, `{"nfts":[{` + contract + `}]}`, "nfts[0]: field identifier: required"},
		{"IdentifierEmpty", tokens, `{"nfts":[{"identifier":"",` + contract + `}]}`, "nfts[0]: field identifier: empty"},
		{"ContractEmpty", tokens, `{"nfts":[{"identifier":"9","contract":""}]}`, `nfts[0] (identifier "9"): field contract: empty`},
		{"NameWrongType", tokens, `{"nfts":[{"identifier":"9",` + contract + `,"name":7}]}`, `nfts[0] (identifier "9"): field name: want string, got JSON number`},
		{"NextWrongType", tokens, `{"nfts":[],"next":5}`, "field next: want string, got JSON number"},
		{"TraitTypeMissing", tokens, `{"nfts":[{"identifier":"9",` + contract + `,"traits":[{"value":"x"}]}]}`, "field traits[0]: field trait_type: required"},
		{"TraitNull", tokens, `{"nfts":[{"identifier":"9",` + contract + `,"traits":[null]}]}`, "field traits[0]: want object, got JSON null"},
		{"DisplayTypeWrongType", tokens, `{"nfts":[{"identifier":"9",` + contract + `,"traits":[{"trait_type":"a","value":1,"display_type":1}]}]}`, "field traits[0]: field display_type: want string, got JSON number"},
		{"MaxValueWrongType", tokens, `{"nfts":[{"identifier":"9",` + contract + `,"traits":[{"trait_type":"a","value":1,"max_value":[1]}]}]}`, "field traits[0]: field max_value: want string or number, got JSON array"},
	} {
		err := tc.decode(tc.body)
		require.ErrorContains(t, err, tc.wantErr, tc.name)
	}
}
