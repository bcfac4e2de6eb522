-- Which data a rarity run was computed from, so that a computation that
-- read older data can never replace a newer run (two compute_rarity jobs
-- may overlap: one per token sync run).
--   sync_run:      the last completed token sync run (token_sync_state.run)
--                  visible in the snapshot the run was computed from; 0 when
--                  the collection had never completed a sync.
--   snapshot_xmax: the xmax of that REPEATABLE READ snapshot (the first
--                  transaction id not yet assigned when it was taken);
--                  orders two runs computed from the same sync run.
-- A run replaces the stored one only if (sync_run, snapshot_xmax) is not
-- older.
ALTER TABLE rarity_runs
    ADD COLUMN sync_run      bigint NOT NULL DEFAULT 0,
    ADD COLUMN snapshot_xmax bigint NOT NULL DEFAULT 0;
