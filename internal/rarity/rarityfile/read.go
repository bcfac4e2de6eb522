// Package rarityfile reads and writes the file formats of the rarity
// engine, and implements the "nftsync rarity" command on top of them.
//
// Input is JSON Lines, one token per line, optionally gzip-compressed:
//
//	{"token_id": 17, "attributes": {"Background": "Blue", "Level": 5}}
//
// token_id is a non-negative JSON integer (any size) or a non-empty string.
// attributes is an object of name -> value, or an OpenSea-style array of
// {"trait_type": ..., "value": ..., "display_type": ...} objects. A string
// value is a string trait; a number or boolean value is marked
// rarity.Attribute.Numeric (OpenRarity types those as numeric); null,
// arrays and objects are errors. Attribute order and repeated names are
// kept. An optional "standard" string sets rarity.Token.Standard. Blank
// lines are skipped; anything else that does not fit is an error naming
// the line.
//
// Output is CSV (token_id,score,rank, sorted by token id, scores formatted
// like Python's repr) or JSON; see WriteCSV and WriteJSON.
package rarityfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/nftsync/nftsync/internal/rarity"
)

// ReadFile reads the tokens of a JSON Lines file. The file is gunzipped
// when its name ends in ".gz" or it starts with the gzip magic bytes.
func ReadFile(path string) ([]rarity.Token, error) {
	c := newCollector()
	err := eachFileToken(path, c.add)
	return c.toks, err
}

// Read reads the tokens of a JSON Lines stream, gunzipping it when it
// starts with the gzip magic bytes. Errors name the line (counted from 1).
func Read(r io.Reader) ([]rarity.Token, error) {
	c := newCollector()
	err := eachToken(r, c.add)
	return c.toks, err
}

// collector gathers parsed lines into tokens and refuses repeated ids.
type collector struct {
	toks []rarity.Token
	seen map[string]int // canonical id -> line
}

func newCollector() *collector { return &collector{seen: map[string]int{}} }

func (c *collector) add(line int, p *lineParser) error {
	t := rarity.Token{ID: p.str(p.id), Standard: p.str(p.standard), Attributes: make([]rarity.Attribute, len(p.attrs))}
	for i, a := range p.attrs {
		t.Attributes[i] = rarity.Attribute{Name: p.str(a.name), Value: p.str(a.value), DisplayType: p.str(a.displayType), Numeric: a.numeric}
	}
	k := canonical(t.ID)
	if first, dup := c.seen[k]; dup {
		return fmt.Errorf("parse line %d: duplicate token_id %q (first on line %d)", line, t.ID, first)
	}
	c.seen[k] = line
	c.toks = append(c.toks, t)
	return nil
}

// ReadInto streams the tokens of a JSON Lines file into b, without holding
// them: names and values not seen before are copied once, everything else
// is parsed in place. It returns the line of each token added (by input
// index), to name lines in errors Compute reports later (see LineError).
//
// Reading and parsing run on their own goroutine, a batch of lines ahead
// of the Builder, so that on two cores parsing overlaps interning.
func ReadInto(path string, b *rarity.Builder) ([]int32, error) {
	batches, free := make(chan *batch, 4), make(chan *batch, 6)
	for range 6 {
		free <- &batch{}
	}
	done := make(chan struct{})
	defer close(done)
	readErr := make(chan error, 1)
	go func() {
		bt := <-free
		bt.reset()
		send := func() bool {
			select {
			case batches <- bt:
			case <-done:
				return false
			}
			select {
			case bt = <-free:
			case <-done:
				return false
			}
			bt.reset()
			return true
		}
		err := eachFileToken(path, func(line int, p *lineParser) error {
			bt.add(line, p)
			if len(bt.toks) == cap(bt.toks) && !send() {
				return errStopped
			}
			return nil
		})
		if err == nil && len(bt.toks) > 0 && !send() {
			err = errStopped
		}
		readErr <- err
		close(batches)
	}()
	var lines []int32
	for bt := range batches {
		for _, t := range bt.toks {
			if err := b.Begin(bt.str(t.id), bt.str(t.standard)); err != nil {
				return nil, fmt.Errorf("%s: parse line %d: %w", path, t.line, err)
			}
			for _, a := range bt.attrs[t.a0:t.a1] {
				b.AttrBytes(bt.bytes(a.name), bt.bytes(a.value), bt.bytes(a.displayType), a.numeric)
			}
			b.End()
			lines = append(lines, t.line)
		}
		free <- bt
	}
	if err := <-readErr; err != nil {
		return nil, err
	}
	return lines, nil
}

// errStopped ends the reading goroutine when the consumer has given up.
var errStopped = errors.New("stopped")

// batch is a run of parsed tokens handed from the reading goroutine to the
// Builder: their strings copied into buf, spans relative to it.
type batch struct {
	buf   []byte
	toks  []batchToken
	attrs []rawAttr
}

type batchToken struct {
	line         int32
	id, standard span
	a0, a1       int32 // attrs[a0:a1]
}

func (bt *batch) reset() {
	if bt.toks == nil {
		bt.toks = make([]batchToken, 0, 1024)
	}
	bt.buf, bt.toks, bt.attrs = bt.buf[:0], bt.toks[:0], bt.attrs[:0]
}

// add copies a parsed line into the batch.
func (bt *batch) add(line int, p *lineParser) {
	lineBase, arenaBase := int32(len(bt.buf)), int32(len(bt.buf)+len(p.line))
	bt.buf = append(append(bt.buf, p.line...), p.arena...)
	rebase := func(s span) span {
		base := lineBase
		if s.arena {
			base = arenaBase
		}
		return span{lo: base + s.lo, hi: base + s.hi}
	}
	t := batchToken{line: int32(line), id: rebase(p.id), standard: rebase(p.standard), a0: int32(len(bt.attrs))}
	for _, a := range p.attrs {
		bt.attrs = append(bt.attrs, rawAttr{
			name: rebase(a.name), value: rebase(a.value), displayType: rebase(a.displayType), numeric: a.numeric,
		})
	}
	t.a1 = int32(len(bt.attrs))
	bt.toks = append(bt.toks, t)
}

func (bt *batch) bytes(s span) []byte { return bt.buf[s.lo:s.hi] }
func (bt *batch) str(s span) string   { return string(bt.buf[s.lo:s.hi]) }

// LineError turns an error of Compute on tokens read by ReadInto into one
// naming lines (a duplicate token id); other errors come back unchanged.
func LineError(err error, lines []int32) error {
	var dup *rarity.DuplicateIDError
	if errors.As(err, &dup) && dup.Second < len(lines) {
		return fmt.Errorf("parse line %d: duplicate token_id %q (first on line %d)", lines[dup.Second], dup.ID, lines[dup.First])
	}
	return err
}

// eachFileToken opens path (gunzipping it when named .gz) and calls fn for
// every token; errors name the file.
func eachFileToken(path string, fn func(line int, p *lineParser) error) error {
	f, err := os.Open(path) //nolint:gosec // the operator names the input file
	if err != nil {
		return fmt.Errorf("read tokens: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		z, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("read tokens: %s: %w", path, err)
		}
		defer z.Close()
		r = z
	}
	if err := eachToken(r, fn); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// eachToken parses every non-blank line of a JSON Lines stream (gunzipped
// when it starts with the gzip magic bytes) and calls fn with the parsed
// line, which is valid only during the call.
func eachToken(r io.Reader, fn func(line int, p *lineParser) error) error {
	br := bufio.NewReaderSize(r, 1<<20)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		z, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("read tokens: %w", err)
		}
		defer z.Close()
		br = bufio.NewReaderSize(z, 1<<20)
	}
	var p lineParser
	var long []byte // a line longer than the buffer
	for line := 1; ; line++ {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read line %d: %w", line, err)
		}
		if !blank(b) {
			if perr := p.parse(b); perr != nil {
				return fmt.Errorf("parse line %d: %w", line, perr)
			}
			if ferr := fn(line, &p); ferr != nil {
				return ferr
			}
		}
		if err != nil { // io.EOF
			return nil
		}
	}
}

// blank reports whether b holds only white space.
func blank(b []byte) bool {
	return len(bytes.TrimSpace(b)) == 0
}

// canonical mirrors rarity's id identity: decimal ids without leading zeros.
func canonical(id string) string {
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return "s:" + id
		}
	}
	s := strings.TrimLeft(id, "0")
	if s == "" {
		s = "0"
	}
	return "d:" + s
}
