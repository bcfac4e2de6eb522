package api

import (
	"container/list"
	"sync"
)

// traitStat is a trait value's count and frequency in a rarity run.
type traitStat struct {
	count     int
	frequency float64
}

// runStats are the trait statistics of one rarity run, by normalised type
// and value.
type runStats struct {
	runID int64
	stats map[traitKey]traitStat
}

type traitKey struct{ typ, value string }

// statsCache keeps the trait statistics of recent rarity runs in memory, by
// run id. That is sound because a run's statistics never change: the
// rarity job writes a new run (a fresh id from a sequence, never reused)
// together with its statistics in one transaction, and deletes the old
// run's. An id no longer current is simply not asked for again and ages
// out. The cache is bounded by the number of trait values it holds (least
// recently used runs go first); it is safe for concurrent use, and each
// replica keeps its own.
type statsCache struct {
	mu      sync.Mutex
	max     int // trait values held at most
	held    int
	order   *list.List // of *runStats, most recently used first
	entries map[int64]*list.Element
}

// defaultStatsCacheValues bounds the cache to about 20 MB (a value is about
// 100 bytes with its map overhead).
const defaultStatsCacheValues = 200_000

func newStatsCache(maxValues int) *statsCache {
	return &statsCache{max: maxValues, order: list.New(), entries: map[int64]*list.Element{}}
}

// get returns the statistics of run id, if cached.
func (c *statsCache) get(runID int64) (*runStats, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[runID]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*runStats), true
}

// put stores a run's statistics, evicting the least recently used runs
// beyond the bound. A run larger than the whole bound is not kept.
func (c *statsCache) put(r *runStats) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[r.runID]; ok || len(r.stats) > c.max {
		return
	}
	c.entries[r.runID] = c.order.PushFront(r)
	c.held += len(r.stats)
	for c.held > c.max {
		last := c.order.Back()
		old := last.Value.(*runStats)
		c.order.Remove(last)
		delete(c.entries, old.runID)
		c.held -= len(old.stats)
	}
}
