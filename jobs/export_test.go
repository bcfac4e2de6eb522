package jobs

// SetAfterSyncForTest installs the production AfterSync hook (enqueue
// compute_rarity) on w, as Register does.
func SetAfterSyncForTest(w *SyncTokensWorker) { w.AfterSync = enqueueRarity }
