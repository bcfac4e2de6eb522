-- name: MetadataUpsert :exec
INSERT INTO collection_metadata (collection_id, source, name, description, image_url, banner_image_url,
    external_url, category, safelist_status, total_supply, unique_item_count, currency, currency_decimals,
    created_date, raw, fetched_at, source_as_of)
VALUES (@collection_id, @source, @name, @description, @image_url, @banner_image_url,
    @external_url, @category, @safelist_status, @total_supply, @unique_item_count, @currency, @currency_decimals,
    @created_date, @raw, @fetched_at, @source_as_of)
ON CONFLICT (collection_id) DO UPDATE
SET source = EXCLUDED.source, name = EXCLUDED.name, description = EXCLUDED.description,
    image_url = EXCLUDED.image_url, banner_image_url = EXCLUDED.banner_image_url,
    external_url = EXCLUDED.external_url, category = EXCLUDED.category,
    safelist_status = EXCLUDED.safelist_status, total_supply = EXCLUDED.total_supply,
    unique_item_count = EXCLUDED.unique_item_count, currency = EXCLUDED.currency,
    currency_decimals = EXCLUDED.currency_decimals, created_date = EXCLUDED.created_date,
    raw = EXCLUDED.raw, fetched_at = EXCLUDED.fetched_at, source_as_of = EXCLUDED.source_as_of;

-- name: MetadataGet :one
SELECT * FROM collection_metadata WHERE collection_id = @collection_id;
