-- A view for PostGraphile (BenchmarkTypicalQuery's baseline): every trait of
-- every token with the value's frequency in its collection's current
-- OpenRarity run, joined as the API looks it up (trait_value_stats holds
-- normalised names and values). lower(btrim()) is OpenRarity's
-- str.lower().strip() for the ASCII values the benchmark stores; the API's
-- rarity.Normalize also handles Unicode case and whitespace as Python does.
-- A view rather than a computed column function: PostGraphile inlines it
-- into its one statement as a join, where a function (which PostgreSQL
-- cannot inline, it has a subquery) costs a call per trait, about 40% more
-- time per request when we tried both.
CREATE VIEW token_trait_frequencies AS
SELECT tt.collection_id, tt.contract, tt.token_id, tt.ordinal, tt.trait_type, tt.value_text, s.frequency
FROM token_traits tt
LEFT JOIN trait_value_stats s ON s.collection_id = tt.collection_id AND s.method = 'openrarity' AND NOT s.is_null
  AND s.trait_type = lower(btrim(tt.trait_type)) AND s.value = lower(btrim(tt.value_text));
