package jobs

// SetAfterSyncForTest installs the production AfterSync hook (enqueue
// fetch_traits) on a worker built in a test.
func SetAfterSyncForTest(w *SyncTokensWorker) { w.AfterSync = enqueueFetchTraits }

// SetAfterTraitsForTest installs the production AfterTraits hook (enqueue
// compute_rarity) on a worker built in a test.
func SetAfterTraitsForTest(w *FetchTraitsWorker) { w.AfterTraits = enqueueRarity }

// MaxListPages exposes the listing's page bound.
func MaxListPages(n int64, pageSize int) int64 { return maxListPages(n, pageSize) }
