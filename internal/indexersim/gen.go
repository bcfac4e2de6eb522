package indexersim

import (
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// firstTokenID is the identifier of a collection's first token; tokens are
// numbered firstTokenID .. firstTokenID+TokenCount-1.
const firstTokenID = 1

// Purpose tags keep the hash streams for different properties independent.
const (
	tagCollection uint64 = iota + 1
	tagMissing
	tagValue
	tagUpdated
	tagFloor
	tagSales
	tagSalePrice
	tagSaleMinute
	tagActivity
	tagOwners
	tagHolder
	tagUnknown
)

// CollectionInfo is the generator's truth about a collection, for tests and
// tools ("were all tokens stored?").
type CollectionInfo struct {
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Chain    string `json:"chain"`
	Contract string `json:"contract"` // lower-case 0x + 40 hex
	// TokenCount is the number of tokens; their identifiers are the decimal
	// integers FirstTokenID .. FirstTokenID+TokenCount-1.
	TokenCount   int `json:"token_count"`
	FirstTokenID int `json:"first_token_id"`
	// TraitTypes are the collection's trait types in generation order;
	// NumericTraitTypes is the subset sent with a display_type and an
	// integer value.
	TraitTypes        []string `json:"trait_types"`
	NumericTraitTypes []string `json:"numeric_trait_types"`
}

// Trait is one generated trait of a token, as the simulator sends it.
type Trait struct {
	Type        string // trait_type
	DisplayType string // "" (sent as null) for string traits, else "number" or "date"
	MaxValue    string // "" when sent as null
	Value       string // the value as text; integers in decimal
	Numeric     bool   // the value is sent as a JSON number, not a string
}

// traitSpec is one trait type of a collection.
type traitSpec struct {
	name    string
	missing float64 // probability that a token lacks this trait
	values  []string
	cum     []float64 // cumulative Zipf weights of values, last == 1
	numeric *numericTrait
}

// collection is everything generated for one slug except per-token data,
// which is derived on demand from (seed, slug, index).
type collection struct {
	info        CollectionInfo
	seed        uint64
	owner       string
	cid         string // IPFS CID of the token metadata folder
	description string
	category    string
	safelist    string
	createdAt   time.Time
	feeBps      int // creator fee in basis points; 0 means none
	royaltyAddr string
	traits      []traitSpec
	bare        map[int]bool   // token indices with traits: []
	unknown     map[int]bool   // token indices with traits: null (unrevealed, broken metadata)
	allKnown    bool           // Config.AllTraitsKnown: unknown is ignored
	oneOfOne    map[int]string // token index -> unique value of traits[0]
	market      *market
	book        *book        // the order book; set by New
	cur         *simCurrency // the chain's currency, the market's unit; set by newCollection

	// touched holds the tokens Server.Touch changed: a revision that
	// redraws their traits and the time that became their updated_at.
	mu      sync.RWMutex
	touched map[int]touch
}

// touch is one token's change history: rev > 0 redraws its traits.
type touch struct {
	rev uint64
	at  time.Time
}

// mix64 is the splitmix64 finaliser.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash combines its parts into a well-mixed 64-bit value. It is a pure
// function, stable across Go versions and platforms.
func hash(parts ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, p := range parts {
		h = mix64((h ^ p) + 0x9e3779b97f4a7c15)
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) * 0x1p-53 }

// rng is a splitmix64 sequence: small, fast and deterministic.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

func (r *rng) float() float64 { return unit(r.next()) }

// between returns an integer in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + int(r.next()%uint64(hi-lo+1)) }

// logUniform returns a float in [lo, hi) with a uniform logarithm.
func (r *rng) logUniform(lo, hi float64) float64 {
	return math.Exp(math.Log(lo) + r.float()*(math.Log(hi)-math.Log(lo)))
}

func pick[T any](r *rng, xs []T) T { return xs[r.next()%uint64(len(xs))] }

func fnv64(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s)) // hash writes never fail
	return h.Sum64()
}

// address derives a lower-case 0x address from a collection seed and a tag.
func address(seed, tag uint64) string {
	var b [24]byte
	for i := range 3 {
		v := hash(seed, tag, uint64(i))
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	return "0x" + hex.EncodeToString(b[:20])
}

// cidFor derives a CIDv1-looking string ("bafybei" + base32).
func cidFor(seed uint64) string {
	var b [32]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(b[i*8:], hash(seed, 4, uint64(i)))
	}
	return "bafybei" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))[:52]
}

// slugFor names collection i.
func slugFor(i int) string { return fmt.Sprintf("sim-collection-%03d", i) }

// newCollection generates collection idx for the given seed and size bounds,
// on Polygon (quoted in pol) when drawn so, else on Ethereum (eth).
func newCollection(seed int64, idx, minTokens, maxTokens int, polygonFraction float64, eth, pol *simCurrency) *collection {
	slug := slugFor(idx)
	cs := hash(uint64(seed), fnv64(slug))
	r := &rng{s: hash(cs, tagCollection)}

	c := &collection{seed: cs, cur: eth}
	if onPolygon(cs, polygonFraction) {
		c.cur = pol
	}
	n := int(math.Round(r.logUniform(float64(minTokens), float64(maxTokens)+1)))
	n = min(max(n, minTokens), maxTokens)
	noun := pick(r, nameNouns)
	c.info = CollectionInfo{
		Slug:         slug,
		Name:         pick(r, nameAdjectives) + " " + noun,
		Chain:        c.cur.chain,
		Contract:     address(cs, 1),
		TokenCount:   n,
		FirstTokenID: firstTokenID,
	}
	c.owner = address(cs, 2)
	c.cid = cidFor(cs)
	c.royaltyAddr = address(cs, 3)
	c.category = pick(r, categories)
	c.safelist = pick(r, safelist)
	c.createdAt = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, r.between(0, 4*365-1))
	c.description = fmt.Sprintf("%d synthetic %s generated by the nftsync simulator.", n, noun)
	if r.float() < 0.8 {
		c.feeBps = 250 * r.between(1, 4)
	}

	c.traits = genTraitSpecs(r, idx)
	for _, t := range c.traits {
		c.info.TraitTypes = append(c.info.TraitTypes, t.name)
		if t.numeric != nil {
			c.info.NumericTraitTypes = append(c.info.NumericTraitTypes, t.name)
		}
	}
	c.bare, c.oneOfOne = genSpecialTokens(r, n)
	c.market = newMarket(r, c)
	c.unknown = genUnknownTokens(cs, n, c.bare, c.oneOfOne)
	return c
}

// genUnknownTokens picks the tokens whose traits the API does not know (it
// answers "traits": null, their metadata documents have no attributes), as
// on real collections: unrevealed tokens, broken metadata. About half the
// collections of ten tokens or more have one to three. They come from their
// own hash stream, so the rest of the collection is what it was without
// them.
func genUnknownTokens(cs uint64, n int, bare map[int]bool, oneOfOne map[int]string) map[int]bool {
	r := &rng{s: hash(cs, tagUnknown)}
	out := map[int]bool{}
	if n < 10 || r.float() < 0.5 {
		return out
	}
	want := r.between(1, 3)
	for tries := 0; len(out) < want && tries < 100; tries++ {
		i := int(r.next() % uint64(n))
		if _, special := oneOfOne[i]; !special && !bare[i] {
			out[i] = true
		}
	}
	return out
}

// genTraitSpecs draws 4..9 trait types: string types with Zipf-distributed
// values and, for some collections (always collection 0), one or two numeric
// types. Each type lacks on 0-60% of tokens, at least one type on more than 0.
func genTraitSpecs(r *rng, idx int) []traitSpec {
	total := r.between(4, 9)
	numeric := 0
	if idx == 0 || r.float() < 0.6 {
		numeric = r.between(1, 2)
	}
	names := slices.Clone(stringTraitTypes)
	shuffle(r, names)
	nums := slices.Clone(numericTraitTypes)
	shuffle(r, nums)

	specs := make([]traitSpec, 0, total)
	for i := range total - numeric {
		specs = append(specs, genStringTrait(r, names[i]))
	}
	for i := range numeric {
		nt := nums[i]
		specs = append(specs, traitSpec{name: nt.name, missing: missingRate(r), numeric: &nt})
	}
	// Every collection has some tokens missing some trait.
	if !slices.ContainsFunc(specs, func(t traitSpec) bool { return t.missing > 0 }) {
		specs[len(specs)-1].missing = 0.05 + 0.55*r.float()
	}
	return specs
}

// missingRate is 0 for about 40% of trait types and uniform in [0, 0.6)
// otherwise.
func missingRate(r *rng) float64 {
	if r.float() < 0.4 {
		return 0
	}
	return 0.6 * r.float()
}

// genStringTrait draws 3..60 distinct values with Zipf weights 1/k^s,
// s in [0.7, 1.5): a few common values and a long tail.
func genStringTrait(r *rng, name string) traitSpec {
	nv := int(math.Round(r.logUniform(3, 61)))
	s := 0.7 + 0.8*r.float()
	seen := make(map[string]bool, nv)
	values := make([]string, 0, nv)
	for len(values) < nv {
		v := pick(r, valueModifiers) + " " + pick(r, valueBases)
		if !seen[v] {
			seen[v] = true
			values = append(values, v)
		}
	}
	cum := make([]float64, nv)
	total := 0.0
	for k := range nv {
		total += 1 / math.Pow(float64(k+1), s)
		cum[k] = total
	}
	for k := range cum {
		cum[k] /= total
	}
	cum[nv-1] = 1
	return traitSpec{name: name, missing: missingRate(r), values: values, cum: cum}
}

// genSpecialTokens picks a few tokens with no traits at all and a few 1-of-1
// tokens (a unique value in the first trait type). Collections under ten
// tokens have none.
func genSpecialTokens(r *rng, n int) (bare map[int]bool, oneOfOne map[int]string) {
	bare, oneOfOne = map[int]bool{}, map[int]string{}
	nb := min(r.between(1, 3), n/10)
	no := min(r.between(1, 4), n/10)
	for len(bare) < nb {
		bare[int(r.next()%uint64(n))] = true
	}
	legend := slices.Clone(legendaryValues)
	shuffle(r, legend)
	for len(oneOfOne) < no {
		i := int(r.next() % uint64(n))
		if _, dup := oneOfOne[i]; !dup && !bare[i] {
			oneOfOne[i] = legend[len(oneOfOne)]
		}
	}
	return bare, oneOfOne
}

func shuffle[T any](r *rng, xs []T) {
	for i := len(xs) - 1; i > 0; i-- {
		j := int(r.next() % uint64(i+1))
		xs[i], xs[j] = xs[j], xs[i]
	}
}

// tokenTraits returns the traits of token index i (0-based): a pure function
// of (seed, slug, i) until Server.Touch changes the token, then of its
// revision too. Bare tokens return an empty, non-nil slice; tokens whose
// traits are unknown return nil until touched (a touch reveals them).
func (c *collection) tokenTraits(i int) []Trait {
	return c.traitsAt(i, c.touchOf(i).rev)
}

// touchOf returns token i's change record (zero when never touched).
func (c *collection) touchOf(i int) touch {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.touched[i]
}

// traitsAt returns token i's traits at revision rev. Revision 0 is the
// generated token (bare and 1-of-1 tokens included); later revisions redraw
// every trait from the collection's distributions.
func (c *collection) traitsAt(i int, rev uint64) []Trait {
	if rev == 0 && c.unknown[i] && !c.allKnown {
		return nil
	}
	out := make([]Trait, 0, len(c.traits))
	if rev == 0 && c.bare[i] {
		return out
	}
	draw := func(tag uint64, k int) float64 {
		if rev == 0 {
			return unit(hash(c.seed, tag, uint64(i), uint64(k)))
		}
		return unit(hash(c.seed, tag, uint64(i), uint64(k), rev))
	}
	for k, t := range c.traits {
		if v, ok := c.oneOfOne[i]; ok && k == 0 && rev == 0 {
			out = append(out, Trait{Type: t.name, Value: v})
			continue
		}
		if t.missing > 0 && draw(tagMissing, k) < t.missing {
			continue
		}
		u := draw(tagValue, k)
		if nt := t.numeric; nt != nil {
			steps := (nt.hi - nt.lo) / nt.step
			v := nt.lo + nt.step*int64(u*float64(steps+1))
			out = append(out, Trait{Type: t.name, DisplayType: nt.display, MaxValue: nt.maxValue,
				Value: strconv.FormatInt(v, 10), Numeric: true})
			continue
		}
		j := sort.SearchFloat64s(t.cum, u) // first cum >= u; value j covers [cum[j-1], cum[j])
		if t.cum[j] == u {
			j++ // cum[len-1] == 1 > u, so j stays in range
		}
		out = append(out, Trait{Type: t.name, Value: t.values[j]})
	}
	return out
}

// touchToken moves token i to a new revision whose traits differ from the
// current ones, with updated_at = at (at least a second after the previous
// updated_at, so a client comparing timestamps always sees the move).
func (c *collection) touchToken(i int, at time.Time) {
	prev := c.tokenTraits(i)
	before := c.updatedAt(i)
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.touched[i]
	for range 64 { // a redraw equal to the old traits is rare; try the next
		t.rev++
		if !slices.Equal(c.traitsAt(i, t.rev), prev) {
			break
		}
	}
	t.at = at.UTC().Truncate(time.Microsecond)
	if !t.at.After(before) {
		t.at = before.Add(time.Second)
	}
	if c.touched == nil {
		c.touched = map[int]touch{}
	}
	c.touched[i] = t
}

// updatedAt is the token's last-update time: a fixed function of the seed
// within the year before 2026-06-01, or the time of its last Touch.
func (c *collection) updatedAt(i int) time.Time {
	if t := c.touchOf(i); t.rev > 0 {
		return t.at
	}
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	return base.Add(-time.Duration(hash(c.seed, tagUpdated, uint64(i))%(365*86400)) * time.Second)
}
