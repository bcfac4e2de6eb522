package rarity

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
)

// hashWriter buffers small writes into a SHA-256.
type hashWriter struct {
	h   hash.Hash
	buf []byte
}

func (w *hashWriter) uvarint(x uint64) {
	w.buf = binary.AppendUvarint(w.buf, x)
	w.flush(false)
}

func (w *hashWriter) str(s string) {
	w.buf = binary.AppendUvarint(w.buf, uint64(len(s)))
	w.buf = append(w.buf, s...)
	w.flush(false)
}

func (w *hashWriter) flush(force bool) {
	if force || len(w.buf) >= 32<<10 {
		w.h.Write(w.buf)
		w.buf = w.buf[:0]
	}
}

// inputHash hashes what determines the result: method, version, options,
// the sorted dictionary of normalised names (with how many of their
// attributes were marked numeric or date) and values, and then, for each
// token in id order, its canonical id and its sorted, de-duplicated
// (name, value) list as dictionary indexes. The encoding is prefix-free,
// so distinct inputs give distinct byte streams.
func (c *calc) inputHash() string {
	w := &hashWriter{h: sha256.New(), buf: make([]byte, 0, 33<<10)}
	w.str("nftsync/rarity input v1")
	w.str(string(c.opts.Method))
	w.str(c.opts.Method.Version())
	flags := uint64(0)
	if c.opts.TraitCount {
		flags |= 1
	}
	if c.opts.ScoreNumeric {
		flags |= 2
	}
	if c.opts.AllValues {
		flags |= 4
	}
	w.uvarint(flags)
	w.uvarint(uint64(c.n))
	w.uvarint(uint64(len(c.byRank)))
	for _, t := range c.byRank {
		w.str(t.name)
		w.uvarint(uint64(t.numeric))
		w.uvarint(uint64(t.dates))
		w.uvarint(uint64(len(t.values)))
		for g := t.base; g < t.base+int32(len(t.values)); g++ {
			w.str(c.gValue[g])
		}
	}
	for pos := 0; pos < c.n; pos++ {
		id, dec := canonID(c.ids[c.perm[pos]])
		kind := byte(0)
		if !dec {
			kind = 1
		}
		a := c.ga[c.off[pos]:c.off[pos+1]]
		b := append(w.buf, kind)
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, uint64(len(a)))
		for _, g := range a {
			b = binary.AppendUvarint(b, uint64(g))
		}
		w.buf = b
		w.flush(false)
	}
	w.flush(true)
	return hex.EncodeToString(w.h.Sum(nil))
}
