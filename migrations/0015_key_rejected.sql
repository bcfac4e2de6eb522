-- A key upstream rejected (401/403) is taken out of the pool until
-- key_rejected_until (its bucket is paused at least as long); NULL or past
-- means the key is usable. It tells "no usable key" (every key of a source
-- rejected) apart from a rate-limit pause.
ALTER TABLE rate_limit_buckets ADD COLUMN key_rejected_until timestamptz;
