// Package rarity computes NFT rarity scores and ranks for a whole collection.
//
// It is a pure engine: no I/O, no context, no global mutable state, only
// the standard library, and deterministic (the result depends on the set of
// tokens, not on the order they are passed in). Callers either pass a
// []Token to [Compute] or stream tokens into a [Builder] (the DB job and the
// CLI do), and store or print the returned Result.
//
// # Methods
//
//   - [OpenRarity] (default) reproduces OpenRarity 0.7.5 (commit f2bc4d8)
//     exactly on the collections that library accepts: Python-compatible
//     normalisation ([Normalize]), the meta_trait:trait_count trait, a "Null"
//     bucket per trait for tokens that lack it, information content summed
//     over every trait type in the collection, division by the collection
//     entropy, the unique-attribute-first sort and the math.isclose
//     neighbour-chain competition rank.
//   - [RarityTools]: the rarity.tools "Rarity Score", the sum over trait
//     types of N/c, a missing trait counted as its own "None" value, and an
//     optional trait-count trait (Options.TraitCount).
//   - [Statistical]: the sum over trait types of -log2(c/N), a missing trait
//     counted as its own value; no trait-count trait, no entropy divisor.
//
// Every Result names its method and a version string; the version changes
// whenever the numbers a method produces can change.
//
// # Policies beyond the reference
//
// OpenRarity refuses some collections outright. This package instead:
//   - excludes numeric, boolean and date trait types from frequency scoring
//     (see [Attribute]) and lists them in Result.Excluded; they still count
//     towards a token's trait count, as in the reference;
//   - refuses ERC-1155 tokens with [ErrERC1155], like the reference;
//   - collapses a trait name that occurs more than once on one token as the
//     reference does, in every method: OpenRarity keeps each token's
//     attributes in a mapping keyed first by the raw name (a repeated raw
//     name keeps its first position and takes the last value) and then by
//     the normalised name (the later position replaces the earlier), so
//     one value survives and the trait counts once. String, numeric and
//     date attributes are collapsed separately, as the reference keeps
//     three mappings. Such tokens are listed in Result.Duplicates;
//   - with Options.AllValues instead keeps every value of a repeated name
//     (nftsync's multi-valued policy; the reference loses them, its issue
//     #73): each distinct (name, value) pair is counted, scored (one term
//     per pair) and counted in the trait count. A trait's bucket counts
//     then add up to more than N; the entropy still sums -p·log2(p) over
//     the buckets, which keeps the OpenRarity mean score at exactly 1;
//   - treats TraitCountName as reserved (see there);
//   - returns an empty Result for an empty collection, and score 0 (never
//     -0 or NaN) and rank 1 for a one-token collection.
//
// Literal "none", "null" and "" values are ordinary values in every method:
// they are never merged with the bucket of tokens that lack the trait.
package rarity

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Method selects a scoring method.
type Method string

// The supported methods. The zero value "" means OpenRarity.
const (
	OpenRarity  Method = "openrarity"
	RarityTools Method = "rarity_tools"
	Statistical Method = "statistical"
)

// Version strings, recorded in every Result next to the method. Bump one
// whenever the scores or ranks that method produces for some input change.
const (
	OpenRarityVersion  = "0.7.5-compat.2"
	RarityToolsVersion = "nftsync.2"
	StatisticalVersion = "nftsync.2"
)

// TraitCountName is the name of the synthetic trait that holds a token's
// trait count. Attributes with this (normalised) name in the input are
// reserved: they are not scored, and with OpenRarity they feed the
// reference's off-by-one quirk (see [TokenResult].TraitCount).
const TraitCountName = "meta_trait:trait_count"

// Reasons for excluding a trait type from scoring, in ExcludedTrait.Reason.
const (
	ReasonNumeric  = "numeric"  // display_type number/boost_number/boost_percentage, or Attribute.Numeric
	ReasonDate     = "date"     // display_type date (and nothing numeric)
	ReasonReserved = "reserved" // the name is TraitCountName
)

// ErrERC1155 is returned (wrapped) when a token has an ERC-1155 standard.
// Semi-fungible tokens would need per-token supply weights (OpenRarity
// issue #87); like the reference, the whole collection is refused.
var ErrERC1155 = errors.New("erc1155 tokens are not supported")

// Version returns the version string of m ("" for an unknown method).
func (m Method) Version() string {
	switch m {
	case OpenRarity, "":
		return OpenRarityVersion
	case RarityTools:
		return RarityToolsVersion
	case Statistical:
		return StatisticalVersion
	}
	return ""
}

// ParseMethod returns the Method named s ("" gives OpenRarity).
func ParseMethod(s string) (Method, error) {
	switch m := Method(s); m {
	case "":
		return OpenRarity, nil
	case OpenRarity, RarityTools, Statistical:
		return m, nil
	}
	return "", fmt.Errorf("unknown rarity method %q (want openrarity, rarity_tools or statistical)", s)
}

// Attribute is one raw trait of a token, as the source delivered it; names
// and values are normalised by Compute with [Normalize].
//
// A trait type is numeric, and excluded from scoring unless
// Options.ScoreNumeric is set, when any of its attributes in the collection
// has DisplayType "number", "boost_number", "boost_percentage" or "date"
// (compared after normalisation), or has Numeric set. Set Numeric for values
// that were JSON numbers or booleans: OpenRarity types those as numeric.
// The whole trait type is excluded, on every token, even where its value
// was a plain string.
type Attribute struct {
	Name, Value, DisplayType string
	Numeric                  bool
}

// Token is one token of the collection.
//
// ID is the token id. Decimal ids (digits only, any length, leading zeros
// ignored) order numerically; any other non-empty id (for example a Solana
// mint address) orders after all decimal ids, by bytes. Ids must be unique
// in that sense ("7" and "007" are the same token). Ascending id order is
// the "input order" that decides exact ties.
//
// Standard is "" or an ERC-721 / Metaplex non-fungible name ("erc721",
// "ERC-721", "metaplex", "metaplex_non_fungible"); "erc1155" fails with
// [ErrERC1155]; anything else is an error.
type Token struct {
	ID         string
	Standard   string
	Attributes []Attribute
}

// Options selects the method and its switches. The zero value computes
// OpenRarity.
type Options struct {
	Method Method
	// TraitCount adds the TraitCountName trait to RarityTools scoring. It is
	// an error with other methods (OpenRarity always has it, Statistical
	// never).
	TraitCount bool
	// ScoreNumeric scores numeric, boolean and date trait types as ordinary
	// string values instead of excluding them. OpenRarity itself refuses
	// such collections, so with this set OpenRarity results have no
	// reference to agree with.
	ScoreNumeric bool
	// AllValues keeps every value of a trait name that occurs more than once
	// on a token (after normalisation) instead of the last one, which is
	// what OpenRarity does. With it set, OpenRarity results have no
	// reference to agree with on such tokens.
	AllValues bool
}

// Result is the outcome of Compute.
type Result struct {
	Method  Method
	Version string
	// Entropy is the collection entropy in bits: the sum over the scored
	// trait types of the Shannon entropy of their value distribution, the
	// Null bucket included. OpenRarity divides by it (by 1 when it is 0).
	Entropy float64
	// InputHash is the hex SHA-256 of the method, version, options and the
	// normalised (token id, name, value) assignment, including excluded
	// traits. Equal input in any order gives the same hash; changing one
	// trait of one token changes it. See Compute.
	InputHash string
	// Tokens holds one entry per input token, in ascending token id order.
	Tokens []TokenResult
	// Traits lists every scored (trait type, value) bucket, sorted by name
	// and value (byte order), each name's Null bucket last.
	Traits []ValueCount
	// Excluded lists the trait types left out of scoring, by name.
	Excluded []ExcludedTrait
	// Duplicates lists, in token id order, every (token, name) where the
	// name occurred more than once on the token after normalisation.
	Duplicates []DuplicateTrait
}

// TokenResult is the score of one token.
type TokenResult struct {
	ID    string  // as given in the input
	Input int     // index of the token in the input (order of Add)
	Score float64 // higher is rarer; never NaN or -0
	// Rank is the competition rank (1, 2, 2, 4). OpenRarity sorts by
	// Unique descending, then Score descending; the other methods by Score
	// only. Exact ties keep ascending id order. A token shares the rank of
	// its predecessor in that order when math.isclose(score, previous)
	// holds (relative tolerance 1e-9), so ties can chain, and with
	// OpenRarity a token can share a rank with a neighbour of different
	// Unique (the reference's behaviour).
	Rank int
	// Unique is the number of the token's scored attributes (the trait
	// count trait included where scored) whose value no other token has.
	Unique int
	// TraitCount is the number of the token's distinct (name, value)
	// attributes whose normalised value is neither "none" nor "", excluded
	// trait types included, reserved ones not. With OpenRarity it follows
	// the reference quirk: a token that carries a reserved TraitCountName
	// attribute gets one less, plus one if any such value is neither
	// "none" nor "" (so it may be 0 where 1 is right, or even -1).
	TraitCount int
}

// ValueCount is one bucket of a scored trait type's value distribution.
type ValueCount struct {
	Name  string // normalised trait name
	Value string // normalised value; "" for the Null bucket
	// Null marks the bucket of tokens that lack the trait.
	Null      bool
	Count     int     // tokens in the bucket
	Frequency float64 // Count / number of tokens
}

// ExcludedTrait is a trait type that was not scored.
type ExcludedTrait struct {
	Name   string // normalised
	Reason string // ReasonNumeric, ReasonDate or ReasonReserved
	Tokens int    // tokens that carry it
}

// DuplicateTrait reports a name that occurred more than once on a token.
type DuplicateTrait struct {
	TokenID string
	Name    string // normalised
	// Values are the distinct normalised values the token carried under
	// the name, sorted.
	Values []string
	// Kept is the value scored; "" with Options.AllValues, when every
	// value in Values is kept.
	Kept string `json:",omitempty"`
}

// posDup is a DuplicateTrait with the position of its token.
type posDup struct {
	pos int32
	d   DuplicateTrait
}

// Compute scores and ranks a whole collection. It is [NewBuilder], [Builder.Add]
// for every token and [Builder.Compute].
//
// It returns an error, and no result, when a token is ERC-1155 (wrapping
// [ErrERC1155]) or has an unknown standard, when an id is empty or repeated,
// or when the options are invalid. Everything else is scored: see the
// package documentation for the policies.
//
// Cost is linear in the number of attributes (plus an id sort when the
// input is not in id order, and a rank sort that is linear in practice).
func Compute(tokens []Token, opts Options) (*Result, error) {
	b, err := NewBuilder(opts)
	if err != nil {
		return nil, err
	}
	b.Grow(len(tokens))
	for i := range tokens {
		if err := b.Add(tokens[i]); err != nil {
			return nil, err
		}
	}
	return b.Compute()
}

// standardOK checks a token standard: nil for "" and the ERC-721 and
// Metaplex non-fungible names, ErrERC1155 for ERC-1155, an error otherwise.
func standardOK(s string) error {
	if s == "" {
		return nil
	}
	k := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == '_' || r == ' ':
			return -1
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return r
	}, s)
	switch k {
	case "erc721", "metaplex", "metaplexnonfungible":
		return nil
	case "erc1155":
		return ErrERC1155
	}
	return fmt.Errorf("unsupported token standard %q", s)
}

// trait is one interned trait name.
type trait struct {
	name     string    // normalised
	raw      *strTable // raw value -> local value id
	byNorm   *strTable // normalised value -> local value id
	values   []string  // local value id -> normalised value
	numeric  int       // attributes marked numeric
	dates    int       // attributes with display_type date
	reserved bool      // name == TraitCountName
	rank     int32     // position among names sorted by name
	vrank    []int32   // local value id -> rank among the values
	base     int32     // global index of its first value
	excluded string    // reason, "" when scored
}

// calc holds the working state of one Compute call. Tokens are addressed
// by position: their index in ascending id order.
type calc struct {
	opts    Options
	n       int
	ids     []string // input index -> token id
	perm    []int32  // position -> input index
	inOrder bool     // perm is the identity

	traits []*trait // by first-seen id
	byRank []*trait // by name rank

	// CSR attribute lists: by input index and as first-seen value ids
	// until remap, then global value indexes g; by position, sorted and
	// without repeats after perToken.
	off []int32
	ga  []int32

	// first-seen value id -> trait (first-seen id) and local value id
	seenTrait []int32
	seenLocal []int32

	gTrait []int32  // g -> name rank
	gValue []string // g -> normalised value
	cnt    []int32  // g -> tokens holding the value
	has    []int32  // name rank -> tokens holding the name

	kcount []int32 // position -> trait count
	dups   []posDup

	// scoring
	slots   []slot
	metaMin int32
	metaCnt []int32 // trait count - metaMin -> tokens
	entropy float64
	scores  []float64
	unique  []int32
	ranks   []int32
}

// slot is one scored trait type, in name order.
type slot struct {
	lo, hi int32 // global value range; hi == lo == -1 for the meta trait
	miss   int32 // tokens without the trait
	meta   bool
}

// displayKind classifies a display_type: 1 numeric, 2 date, 0 string.
func displayKind(dt string) int {
	switch Normalize(dt) {
	case "number", "boost_number", "boost_percentage":
		return 1
	case "date":
		return 2
	}
	return 0
}

// remap sorts names and values (byte order, which is Python's code point
// order for valid UTF-8) and gives every (name, value) a global index g in
// that order, so that everything downstream is independent of input order.
func (c *calc) remap() {
	c.byRank = slices.Clone(c.traits)
	slices.SortFunc(c.byRank, func(a, b *trait) int { return strings.Compare(a.name, b.name) })
	g := int32(0)
	for r, t := range c.byRank {
		t.rank = int32(r)
		t.base = g
		order := make([]int32, len(t.values))
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortFunc(order, func(a, b int32) int { return strings.Compare(t.values[a], t.values[b]) })
		t.vrank = make([]int32, len(t.values))
		for rk, id := range order {
			t.vrank[id] = int32(rk)
		}
		g += int32(len(t.values))
		switch {
		case t.reserved:
			t.excluded = ReasonReserved
		case c.opts.ScoreNumeric:
		case t.numeric > 0:
			t.excluded = ReasonNumeric
		case t.dates > 0:
			t.excluded = ReasonDate
		}
		t.raw, t.byNorm = nil, nil
	}
	c.gTrait = make([]int32, g)
	c.gValue = make([]string, g)
	for _, t := range c.byRank {
		for id, v := range t.values {
			k := t.base + t.vrank[id]
			c.gTrait[k] = t.rank
			c.gValue[k] = v
		}
	}
	toG := make([]int32, len(c.seenTrait))
	for sid, nid := range c.seenTrait {
		t := c.traits[nid]
		toG[sid] = t.base + t.vrank[c.seenLocal[sid]]
	}
	for i, sid := range c.ga {
		c.ga[i] = toG[sid]
	}
	c.seenTrait, c.seenLocal = nil, nil
}

// perToken sorts and de-duplicates each token's attributes, reports
// duplicate names, counts values and presence, and computes trait counts.
func (c *calc) perToken() {
	c.cnt = make([]int32, len(c.gTrait))
	c.has = make([]int32, len(c.byRank))
	c.kcount = make([]int32, c.n)
	quirk := c.opts.Method == OpenRarity
	// Input in id order is compacted in place; otherwise the lists move
	// to position order in a new array.
	src, srcOff := c.ga, c.off
	dst, dstOff := c.ga, c.off
	if !c.inOrder {
		dst, dstOff = make([]int32, len(src)), make([]int32, c.n+1)
	}
	w := int32(0)
	for pos := 0; pos < c.n; pos++ {
		in := int32(pos)
		if !c.inOrder {
			in = c.perm[pos]
		}
		a := src[srcOff[in]:srcOff[in+1]]
		for i := 1; i < len(a); i++ { // insertion sort: lists are short
			v := a[i]
			j := i
			for j > 0 && a[j-1] > v {
				a[j] = a[j-1]
				j--
			}
			a[j] = v
		}
		dstOff[pos] = w
		k, reserved, reservedSet := int32(0), false, false
		for i := 0; i < len(a); {
			name := c.gTrait[a[i]]
			j := i
			for j < len(a) && c.gTrait[a[j]] == name {
				j++
			}
			t := c.byRank[name]
			c.has[name]++
			first := w
			for p := i; p < j; p++ {
				if p > i && a[p] == a[p-1] {
					continue
				}
				g := a[p]
				dst[w] = g
				w++
				c.cnt[g]++
				set := c.gValue[g] != "none" && c.gValue[g] != ""
				if t.reserved {
					reserved = true
					reservedSet = reservedSet || set
				} else if set {
					k++
				}
			}
			if j-i > 1 {
				vals := make([]string, 0, w-first)
				for _, g := range dst[first:w] {
					vals = append(vals, c.gValue[g])
				}
				c.dups = append(c.dups, posDup{pos: int32(pos), d: DuplicateTrait{
					TokenID: c.ids[in], Name: t.name, Values: vals,
				}})
			}
			i = j
		}
		if quirk && reserved {
			k--
			if reservedSet {
				k++
			}
		}
		c.kcount[pos] = k
	}
	dstOff[c.n] = w
	c.ga, c.off = dst[:w], dstOff
}

// term returns the per-trait quantity of a bucket holding cnt of n tokens.
type termFunc func(cnt, n int) float64

// infoTerm is -log2(cnt/n), computed as the reference does:
// -log2(1 / (n/cnt)). A full bucket gives +0, never -0.
func infoTerm(cnt, n int) float64 {
	if cnt == n {
		return 0
	}
	return -math.Log2(1 / (float64(n) / float64(cnt)))
}

// toolsTerm is rarity.tools' trait score n/cnt.
func toolsTerm(cnt, n int) float64 { return float64(n) / float64(cnt) }

// score computes entropy, scores, unique counts and ranks.
func (c *calc) score() {
	n := c.n
	c.scores = make([]float64, n)
	c.unique = make([]int32, n)
	c.ranks = make([]int32, n)
	if n == 0 {
		return
	}
	useMeta := c.opts.Method == OpenRarity || c.opts.TraitCount
	// Slots in name order; the meta trait takes the place of a reserved
	// user trait of the same name, or is inserted where its name sorts.
	metaDone := !useMeta
	for _, t := range c.byRank {
		if !metaDone && t.name >= TraitCountName {
			c.slots = append(c.slots, slot{lo: -1, hi: -1, meta: true})
			metaDone = true
		}
		if t.excluded != "" {
			continue
		}
		hi := t.base + int32(len(t.values))
		c.slots = append(c.slots, slot{lo: t.base, hi: hi, miss: int32(n) - c.has[t.rank]})
	}
	if !metaDone {
		c.slots = append(c.slots, slot{lo: -1, hi: -1, meta: true})
	}
	if useMeta {
		lo, hi := c.kcount[0], c.kcount[0]
		for _, k := range c.kcount {
			lo, hi = min(lo, k), max(hi, k)
		}
		c.metaMin = lo
		c.metaCnt = make([]int32, hi-lo+1)
		for _, k := range c.kcount {
			c.metaCnt[k-lo]++
		}
	}

	// Per-bucket terms, memoised by count: equal counts give equal terms.
	var tf termFunc = infoTerm
	if c.opts.Method == RarityTools {
		tf = toolsTerm
	}
	memo := make([]float64, n+1) // 0: not computed yet (recomputing 0 is free)
	termOf := func(cnt int32) float64 {
		if memo[cnt] == 0 {
			memo[cnt] = tf(int(cnt), n)
		}
		return memo[cnt]
	}
	info := func(cnt int32) float64 { // for the entropy, whatever the method
		if c.opts.Method == RarityTools {
			return infoTerm(int(cnt), n)
		}
		return termOf(cnt)
	}
	term := make([]float64, len(c.cnt))
	fn := float64(n)
	h := 0.0
	missTerm := make([]float64, len(c.slots))
	var metaTerm []float64
	for si, s := range c.slots {
		hs := 0.0
		if s.meta {
			metaTerm = make([]float64, len(c.metaCnt))
			for i, k := range c.metaCnt {
				if k > 0 {
					metaTerm[i] = termOf(k)
					hs += float64(k) / fn * info(k)
				}
			}
		} else {
			for g := s.lo; g < s.hi; g++ {
				if c.cnt[g] == 0 {
					continue // a value only a collapsed duplicate had
				}
				term[g] = termOf(c.cnt[g])
				hs += float64(c.cnt[g]) / fn * info(c.cnt[g])
			}
			if s.miss > 0 {
				missTerm[si] = termOf(s.miss)
				hs += float64(s.miss) / fn * info(s.miss)
			}
		}
		h += hs
	}
	c.entropy = h
	div := 1.0
	if c.opts.Method == OpenRarity && h != 0 {
		div = h
	}

	for pos := 0; pos < n; pos++ {
		p, end := c.off[pos], c.off[pos+1]
		sum, u := 0.0, int32(0)
		for si := range c.slots {
			s := &c.slots[si]
			if s.meta {
				i := c.kcount[pos] - c.metaMin
				sum += metaTerm[i]
				if c.metaCnt[i] == 1 {
					u++
				}
				continue
			}
			for p < end && c.ga[p] < s.lo {
				p++ // attributes of excluded traits
			}
			if p == end || c.ga[p] >= s.hi {
				sum += missTerm[si]
				continue
			}
			for ; p < end && c.ga[p] < s.hi; p++ {
				g := c.ga[p]
				sum += term[g]
				if c.cnt[g] == 1 {
					u++
				}
			}
		}
		sc := sum / div
		if sc == 0 {
			sc = 0 // no -0
		}
		c.scores[pos], c.unique[pos] = sc, u
	}
	c.rank()
}

// rank sorts positions (OpenRarity: unique desc then score desc; others:
// score desc), exact ties in position order, and assigns competition ranks
// with the math.isclose(rel_tol=1e-9) neighbour chain.
func (c *calc) rank() {
	order := c.sortOrder()
	for i, pos := range order {
		r := int32(i + 1)
		if i > 0 && isClose(c.scores[pos], c.scores[order[i-1]]) {
			r = c.ranks[order[i-1]]
		}
		c.ranks[pos] = r
	}
}

// sortOrder returns positions in rank order: OpenRarity by unique count
// desc then score desc, the others by score desc; exact ties keep position
// (= id) order.
//
// It is a bucket sort: a stable counting pass over n/2 score buckets
// (bucket = a monotone function of the score, so bucket order never
// contradicts score order), a stable counting pass over unique counts, and
// then a sort of each run of equal (unique, bucket), which is short unless
// scores cluster; runs already in order (e.g. all-equal scores) cost one
// scan. Expected linear time, O(n log n) at worst.
func (c *calc) sortOrder() []int32 {
	n := c.n
	order := make([]int32, n)
	if n == 0 {
		return order
	}
	sc := c.scores
	lo, hi := sc[0], sc[0]
	for _, x := range sc {
		lo, hi = min(lo, x), max(hi, x)
	}
	nb := int32(max(1, n/2))
	bkt := make([]int32, n) // descending: bucket 0 holds the top scores
	if span := hi - lo; span > 0 && !math.IsInf(span, 0) {
		f := float64(nb-1) / span
		for i, x := range sc {
			bkt[i] = nb - 1 - min(max(int32((x-lo)*f), 0), nb-1)
		}
	}
	tmp := make([]int32, n)
	for i := range tmp {
		tmp[i] = int32(i)
	}
	countingSort(tmp, order, bkt, int(nb))
	var ud []int32 // descending unique count, OpenRarity only
	if c.opts.Method == OpenRarity {
		maxU := int32(0)
		for _, u := range c.unique {
			maxU = max(maxU, u)
		}
		if maxU > 0 {
			ud = make([]int32, n)
			for i, u := range c.unique {
				ud[i] = maxU - u
			}
			countingSort(order, tmp, ud, int(maxU)+1)
			order = tmp
		}
	}
	for i := 0; i < n; {
		p := order[i]
		j := i + 1
		for j < n && bkt[order[j]] == bkt[p] && (ud == nil || ud[order[j]] == ud[p]) {
			j++
		}
		if j-i > 1 {
			sortRun(order[i:j], sc)
		}
		i = j
	}
	return order
}

// sortRun sorts a run of positions, which arrive in ascending position
// order, by score descending, keeping position order for equal scores:
// insertion sort for short runs (most are), otherwise a check for an
// already sorted run and then pdqsort with the position as tie-break.
func sortRun(run []int32, sc []float64) {
	if len(run) > 24 {
		cmpRun := func(a, b int32) int {
			switch {
			case sc[a] > sc[b]:
				return -1
			case sc[a] < sc[b]:
				return 1
			}
			return int(a - b)
		}
		if !slices.IsSortedFunc(run, cmpRun) {
			slices.SortFunc(run, cmpRun)
		}
		return
	}
	for i := 1; i < len(run); i++ {
		p := run[i]
		x := sc[p]
		j := i
		for j > 0 && sc[run[j-1]] < x {
			run[j] = run[j-1]
			j--
		}
		run[j] = p
	}
}

// countingSort stably distributes src into dst by key[src[i]] in [0, k).
func countingSort(src, dst, key []int32, k int) {
	cnt := make([]int32, k+1)
	for _, p := range src {
		cnt[key[p]+1]++
	}
	for i := 1; i <= k; i++ {
		cnt[i] += cnt[i-1]
	}
	for _, p := range src {
		b := key[p]
		dst[cnt[b]] = p
		cnt[b]++
	}
}

// isClose is Python's math.isclose(a, b) with rel_tol=1e-9, abs_tol=0.
func isClose(a, b float64) bool {
	if a == b {
		return true
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return false
	}
	d := math.Abs(b - a)
	return d <= math.Abs(1e-9*b) || d <= math.Abs(1e-9*a)
}

func (c *calc) result() *Result {
	r := &Result{
		Method:     c.opts.Method,
		Version:    c.opts.Method.Version(),
		Entropy:    c.entropy,
		InputHash:  c.inputHash(),
		Tokens:     make([]TokenResult, c.n),
		Traits:     []ValueCount{},
		Excluded:   []ExcludedTrait{},
		Duplicates: make([]DuplicateTrait, 0, len(c.dups)),
	}
	slices.SortStableFunc(c.dups, func(a, b posDup) int { return cmp.Compare(a.pos, b.pos) })
	for _, d := range c.dups {
		r.Duplicates = append(r.Duplicates, d.d)
	}
	for pos := range r.Tokens {
		r.Tokens[pos] = TokenResult{
			ID:         c.ids[c.perm[pos]],
			Input:      int(c.perm[pos]),
			Score:      c.scores[pos],
			Rank:       int(c.ranks[pos]),
			Unique:     int(c.unique[pos]),
			TraitCount: int(c.kcount[pos]),
		}
	}
	for _, t := range c.byRank {
		if t.excluded != "" {
			r.Excluded = append(r.Excluded, ExcludedTrait{Name: t.name, Reason: t.excluded, Tokens: int(c.has[t.rank])})
		}
	}
	fn := float64(c.n)
	add := func(name, value string, null bool, cnt int32) {
		r.Traits = append(r.Traits, ValueCount{Name: name, Value: value, Null: null, Count: int(cnt), Frequency: float64(cnt) / fn})
	}
	for _, s := range c.slots {
		if s.meta {
			from := len(r.Traits)
			for i, k := range c.metaCnt {
				if k > 0 {
					add(TraitCountName, strconv.Itoa(int(c.metaMin)+i), false, k)
				}
			}
			slices.SortFunc(r.Traits[from:], func(a, b ValueCount) int { return strings.Compare(a.Value, b.Value) })
			continue
		}
		name := c.byRank[c.gTrait[s.lo]].name
		for g := s.lo; g < s.hi; g++ {
			if c.cnt[g] > 0 {
				add(name, c.gValue[g], false, c.cnt[g])
			}
		}
		if s.miss > 0 {
			add(name, "", true, s.miss)
		}
	}
	return r
}
