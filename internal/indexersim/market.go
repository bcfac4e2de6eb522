package indexersim

import (
	"math"
	"sync"
	"time"
)

// simEpochHour is the first simulated trading hour (2026-01-01T00:00:00Z, in
// hours since the Unix epoch). Volume and sales before it are a constant
// per collection; a clock before it sees no recent trading.
const simEpochHour = 1767225600 / 3600

// floorOctaves make the floor a bounded, multi-scale random walk: value
// noise with these periods (minutes) and amplitudes (in log space). The
// one-minute octave makes the floor move every minute.
var floorOctaves = [...]struct { //nolint:gochecknoglobals // read-only table
	period int64
	amp    float64
}{{1, 0.004}, {15, 0.01}, {240, 0.04}, {2880, 0.12}, {20160, 0.3}}

// market simulates a collection's floor price and sales. Everything is a
// pure function of the collection seed and the time; the mutex only guards
// memos (cumulative totals since simEpochHour, recent full-hour totals).
type market struct {
	seed         uint64
	tokens       int
	floorBase    float64 // in the collection's currency (ETH, POL)
	salesPerHour float64
	ownersFrac   float64
	preVolume    float64 // all-time volume before simEpochHour
	preSales     int64

	mu       sync.Mutex
	cumHour  int64 // the memo covers hours [simEpochHour, cumHour)
	cumVol   float64
	cumSales int64
	// hours memoises full-hour totals by hour modulo hourRing; allocated
	// on the first snapshot.
	hours []hourTotal
}

// hourRing is the size of the full-hour memo: more than the 30-day window.
const hourRing = 768

type hourTotal struct {
	hour  int64 // absolute hour + 1; 0 means empty
	vol   float64
	sales int64
}

// marketSnapshot is a collection's market at one moment. Index 0..3 of vol
// and sales are one day, seven days, thirty days and all time.
type marketSnapshot struct {
	floor  float64
	vol    [4]float64
	sales  [4]int64
	owners int64
}

func newMarket(r *rng, c *collection) *market {
	m := &market{
		seed:         c.seed,
		tokens:       c.info.TokenCount,
		floorBase:    r.logUniform(0.01, 25),
		salesPerHour: r.logUniform(0.5, 300) / 24,
		ownersFrac:   0.3 + 0.45*r.float(),
		cumHour:      simEpochHour,
	}
	preHours := float64(simEpochHour*3600-c.createdAt.Unix()) / 3600
	m.floorBase *= c.cur.scale
	m.preSales = int64(m.salesPerHour * preHours * (0.5 + r.float()))
	m.preVolume = float64(m.preSales) * m.floorBase * (0.8 + 0.8*r.float())
	return m
}

// floorAt returns the floor price (in the collection's currency) at an
// absolute minute (minutes since the Unix epoch).
func (m *market) floorAt(minute int64) float64 {
	x := 0.0
	for _, o := range floorOctaves {
		k := floorDiv(minute, o.period)
		frac := float64(minute-k*o.period) / float64(o.period)
		a := 2*unit(hash(m.seed, tagFloor, uint64(o.period), uint64(k))) - 1
		b := 2*unit(hash(m.seed, tagFloor, uint64(o.period), uint64(k+1))) - 1
		f := frac * frac * (3 - 2*frac)
		x += o.amp * (a + (b-a)*f)
	}
	return m.floorBase * math.Exp(x)
}

// floorBound returns an upper bound of floorAt over the minutes [from, to]:
// each octave's smooth interpolation stays between the knots around the
// interval; the short octaves are bounded by their amplitude.
func (m *market) floorBound(from, to int64) float64 {
	x := 0.0
	for _, o := range floorOctaves {
		k0, k1 := floorDiv(from, o.period), floorDiv(to, o.period)+1
		if k1-k0 > 8 {
			x += o.amp
			continue
		}
		hi := -1.0
		for k := k0; k <= k1; k++ {
			hi = max(hi, 2*unit(hash(m.seed, tagFloor, uint64(o.period), uint64(k)))-1)
		}
		x += o.amp * hi
	}
	return m.floorBase * math.Exp(x)
}

// hourSales returns the number of sales in an absolute hour. There are none
// before simEpochHour.
func (m *market) hourSales(h int64) int {
	if h < simEpochHour {
		return 0
	}
	day := floorDiv(h, 24)
	lambda := m.salesPerHour * math.Exp(0.8*(2*unit(hash(m.seed, tagActivity, uint64(day)))-1))
	return poisson(lambda, unit(hash(m.seed, tagSales, uint64(h))))
}

// sale returns the minute within its hour and the price (in the
// collection's currency, a whole number of micro-units) of sale k of hour
// h, given the hour's opening floor.
// Most sales fill listings near the floor; about one in seven is a listing
// just under it (posted below the floor and bought within minutes, book.go).
func (m *market) sale(h int64, k int, floor float64) (int64, float64) {
	minute := int64(hash(m.seed, tagSaleMinute, uint64(h), uint64(k)) % 60)
	u := unit(hash(m.seed, tagSalePrice, uint64(h), uint64(k)))
	return minute, max(1, math.Round(floor*(0.99+0.6*u*u*u)*1e6)) / 1e6
}

// hourTotals sums the sales of hour h whose minute is in (after, upTo].
func (m *market) hourTotals(h, after, upTo int64) (float64, int64) {
	n := m.hourSales(h)
	if n == 0 {
		return 0, 0
	}
	floor := m.floorAt(h * 60) // sales of an hour are priced off its opening floor
	vol, cnt := 0.0, int64(0)
	for k := range n {
		minute, price := m.sale(h, k, floor)
		if minute > after && minute <= upTo {
			vol += price
			cnt++
		}
	}
	return vol, cnt
}

// fullHour returns the totals of hour h, memoised. m.mu must be held.
func (m *market) fullHour(h int64) (float64, int64) {
	if m.hours == nil {
		m.hours = make([]hourTotal, hourRing)
	}
	e := &m.hours[uint64(h)%hourRing]
	if e.hour != h+1 {
		e.vol, e.sales = m.hourTotals(h, -1, 59)
		e.hour = h + 1
	}
	return e.vol, e.sales
}

// cumulative returns the volume and sales of the full hours
// [simEpochHour, h). m.mu must be held.
func (m *market) cumulative(h int64) (float64, int64) {
	if h < m.cumHour {
		m.cumHour, m.cumVol, m.cumSales = simEpochHour, 0, 0
	}
	for ; m.cumHour < h; m.cumHour++ {
		v, n := m.hourTotals(m.cumHour, -1, 59)
		m.cumVol += v
		m.cumSales += n
	}
	return m.cumVol, m.cumSales
}

// snapshot returns the market at t. The windows are sliding with minute
// resolution, and nested: each sale in the one-day window is also in the
// seven-day, thirty-day and all-time figures, so 1d <= 7d <= 30d <= all.
func (m *market) snapshot(t time.Time) marketSnapshot {
	minute := floorDiv(t.Unix(), 60)
	h := floorDiv(minute, 60)
	mm := minute - h*60

	m.mu.Lock()
	defer m.mu.Unlock()
	var s marketSnapshot
	s.floor = m.floorAt(minute)
	windows := [3]int64{24, 7 * 24, 30 * 24}
	curVol, curSales := m.hourTotals(h, -1, mm)
	vol, cnt := curVol, curSales
	w := 0
	for back := int64(1); w < len(windows); back++ {
		if back == windows[w] {
			// The oldest hour of the window counts only after minute mm.
			v, n := m.hourTotals(h-back, mm, 59)
			s.vol[w], s.sales[w] = vol+v, cnt+n
			w++
		}
		v, n := m.fullHour(h - back)
		vol += v
		cnt += n
	}
	cumVol, cumSales := m.cumulative(h)
	s.vol[3] = m.preVolume + cumVol + curVol
	s.sales[3] = m.preSales + cumSales + curSales

	day := floorDiv(minute, 24*60)
	drift := 1 + 0.03*(2*unit(hash(m.seed, tagOwners, uint64(day)))-1)
	s.owners = min(max(int64(float64(m.tokens)*m.ownersFrac*drift), 1), int64(m.tokens))
	return s
}

// poisson draws from a Poisson distribution by inverting its CDF at u.
func poisson(lambda, u float64) int {
	p := math.Exp(-lambda)
	cdf := p
	k := 0
	for u > cdf && k < 1000 {
		k++
		p *= lambda / float64(k)
		cdf += p
	}
	return k
}

// floorDiv divides rounding towards negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// round4 rounds to four decimal places, as the API's floats look.
func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
