package rarityfile

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// span is a string of the line being parsed: bytes [lo, hi) of the line,
// or of the parser's arena when the JSON string had escapes or invalid
// UTF-8 (decoded like encoding/json: invalid bytes become U+FFFD).
type span struct {
	lo, hi int32
	arena  bool
}

// rawAttr is one attribute of the line being parsed.
type rawAttr struct {
	name, value, displayType span
	numeric                  bool
}

// lineParser parses one JSON Lines token at a time without allocating per
// token: strings are spans of the line (or of a reused arena), attributes
// a reused slice. It implements exactly the grammar and the errors of the
// package documentation.
type lineParser struct {
	line  []byte
	i     int
	arena []byte

	id, standard    span
	hasID, hasAttrs bool
	attrs           []rawAttr
}

// bytes returns the bytes of s; valid until the next parse.
func (p *lineParser) bytes(s span) []byte {
	if s.arena {
		return p.arena[s.lo:s.hi]
	}
	return p.line[s.lo:s.hi]
}

func (p *lineParser) str(s span) string { return string(p.bytes(s)) }

// parse parses one non-blank line.
func (p *lineParser) parse(line []byte) error {
	p.line, p.i, p.arena = line, 0, p.arena[:0]
	p.hasID, p.hasAttrs, p.attrs = false, false, p.attrs[:0]
	p.standard = span{}
	p.ws()
	if err := p.expectObject("line"); err != nil {
		return err
	}
	if !p.consume('}') {
		for {
			key, err := p.key()
			if err != nil {
				return err
			}
			switch string(p.bytes(key)) {
			case "token_id":
				if p.hasID {
					return errors.New("token_id given twice")
				}
				p.hasID = true
				if err := p.tokenID(); err != nil {
					return err
				}
			case "attributes":
				if p.hasAttrs {
					return errors.New("attributes given twice")
				}
				p.hasAttrs = true
				if err := p.attributes(); err != nil {
					return err
				}
			case "standard":
				if p.peek() != '"' {
					return fmt.Errorf("standard: want a string, got %s", p.describe())
				}
				s, err := p.string()
				if err != nil {
					return fmt.Errorf("standard: %w", err)
				}
				p.standard = s
			default:
				return fmt.Errorf("unknown field %q", p.bytes(key))
			}
			more, err := p.next('}')
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	p.ws()
	if p.i < len(p.line) {
		return errors.New("unexpected data after the JSON object")
	}
	if !p.hasID {
		return errors.New("missing token_id")
	}
	if !p.hasAttrs {
		return errors.New("missing attributes")
	}
	return nil
}

func (p *lineParser) tokenID() error {
	switch c := p.peek(); {
	case c == '"':
		s, err := p.string()
		if err != nil {
			return fmt.Errorf("token_id: %w", err)
		}
		if s.hi == s.lo {
			return errors.New("token_id: empty string")
		}
		p.id = s
		return nil
	case c == '-' || ('0' <= c && c <= '9'):
		s, err := p.number()
		if err != nil {
			return fmt.Errorf("token_id: %w", err)
		}
		for _, d := range p.bytes(s) {
			if d < '0' || d > '9' {
				return fmt.Errorf("token_id: want a non-negative integer, got %s", p.bytes(s))
			}
		}
		p.id = s
		return nil
	}
	return fmt.Errorf("token_id: want an integer or a string, got %s", p.describe())
}

func (p *lineParser) attributes() error {
	switch p.peek() {
	case '{':
		p.i++
		done, afterComma := p.plainPairs()
		if done {
			return nil
		}
		p.ws()
		if !afterComma && p.consume('}') {
			return nil
		}
		for {
			name, err := p.key()
			if err != nil {
				return fmt.Errorf("attributes: %w", err)
			}
			a := rawAttr{name: name}
			if err := p.value(&a); err != nil {
				return err
			}
			p.attrs = append(p.attrs, a)
			more, err := p.next('}')
			if err != nil || !more {
				return err
			}
		}
	case '[':
		p.i++
		p.ws()
		if p.consume(']') {
			return nil
		}
		for k := 0; ; k++ {
			if err := p.attrObject(); err != nil {
				return fmt.Errorf("attributes[%d]: %w", k, err)
			}
			more, err := p.next(']')
			if err != nil || !more {
				return err
			}
		}
	}
	return fmt.Errorf("attributes: want an object or an array, got %s", p.describe())
}

// plainPairs is the fast path of the attributes object: it reads
// "name":"value" pairs of plain ASCII strings without white space, the
// usual form, and stops at anything else, where the general parser goes
// on. done reports that it read the closing brace; afterComma that it
// stopped after a comma (so a brace there is an error).
func (p *lineParser) plainPairs() (done, afterComma bool) {
	l := p.line
	for {
		i := p.i
		if i >= len(l) || l[i] != '"' {
			return false, afterComma
		}
		j := i + 1
		for j < len(l) && plain[l[j]] {
			j++
		}
		if j+2 >= len(l) || l[j] != '"' || l[j+1] != ':' || l[j+2] != '"' {
			return false, afterComma
		}
		k := j + 3
		for k < len(l) && plain[l[k]] {
			k++
		}
		if k+1 >= len(l) || l[k] != '"' || (l[k+1] != ',' && l[k+1] != '}') {
			return false, afterComma
		}
		p.attrs = append(p.attrs, rawAttr{name: span{lo: int32(i + 1), hi: int32(j)}, value: span{lo: int32(j + 3), hi: int32(k)}})
		p.i = k + 2
		if l[k+1] == '}' {
			return true, false
		}
		afterComma = true
	}
}

// attrObject reads {"trait_type": name, "value": v, "display_type": dt}.
func (p *lineParser) attrObject() error {
	if err := p.expectObject("attribute"); err != nil {
		return err
	}
	var a rawAttr
	var hasName, hasValue bool
	if !p.consume('}') {
		for {
			key, err := p.key()
			if err != nil {
				return err
			}
			switch string(p.bytes(key)) {
			case "trait_type":
				if p.peek() != '"' {
					return fmt.Errorf("trait_type: want a string, got %s", p.describe())
				}
				if a.name, err = p.string(); err != nil {
					return err
				}
				hasName = true
			case "value":
				if err := p.value(&a); err != nil {
					return err
				}
				hasValue = true
			case "display_type":
				switch p.peek() {
				case '"':
					if a.displayType, err = p.string(); err != nil {
						return err
					}
				case 'n':
					if err := p.literal("null"); err != nil {
						return err
					}
					a.displayType = span{}
				default:
					return fmt.Errorf("display_type: want a string or null, got %s", p.describe())
				}
			default:
				return fmt.Errorf("unknown field %q", p.bytes(key))
			}
			more, err := p.next('}')
			if err != nil {
				return err
			}
			if !more {
				break
			}
		}
	}
	if !hasName {
		return errors.New("missing trait_type")
	}
	if !hasValue {
		return fmt.Errorf("trait %q: missing value", p.bytes(a.name))
	}
	p.attrs = append(p.attrs, a)
	return nil
}

// value reads an attribute value into a: a string, or a number or boolean
// (marked numeric, kept as written).
func (p *lineParser) value(a *rawAttr) error {
	var err error
	switch c := p.peek(); {
	case c == '"':
		a.value, err = p.string()
		a.numeric = false
	case c == '-' || ('0' <= c && c <= '9'):
		a.value, err = p.number()
		a.numeric = true
	case c == 't' || c == 'f':
		start := p.i
		lit := "true"
		if c == 'f' {
			lit = "false"
		}
		err = p.literal(lit)
		a.value, a.numeric = span{lo: int32(start), hi: int32(p.i)}, true
	default:
		return fmt.Errorf("attribute %q: want a string, number or boolean, got %s", p.bytes(a.name), p.describe())
	}
	if err != nil {
		return fmt.Errorf("attribute %q: %w", p.bytes(a.name), err)
	}
	return nil
}

// ws skips JSON whitespace.
func (p *lineParser) ws() {
	for p.i < len(p.line) {
		switch p.line[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end) without consuming it.
func (p *lineParser) peek() byte {
	p.ws()
	if p.i < len(p.line) {
		return p.line[p.i]
	}
	return 0
}

// consume consumes c if it is the next non-space byte.
func (p *lineParser) consume(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *lineParser) errUnexpected(what string) error {
	if p.i >= len(p.line) {
		return errors.New("unexpected EOF")
	}
	return fmt.Errorf("invalid character %s %s", quoteChar(p.line[p.i]), what)
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

func (p *lineParser) expectObject(what string) error {
	if p.peek() != '{' {
		if p.i >= len(p.line) {
			return fmt.Errorf("%s: unexpected EOF", what)
		}
		return fmt.Errorf("%s: want a JSON object, got %s", what, p.describe())
	}
	p.i++
	p.ws()
	return nil
}

// next reads ',' (true) or the closing delimiter (false).
func (p *lineParser) next(closing byte) (bool, error) {
	switch p.peek() {
	case ',':
		p.i++
		return true, nil
	case closing:
		p.i++
		return false, nil
	}
	return false, p.errUnexpected("after object key:value pair")
}

// key reads an object key and its colon.
func (p *lineParser) key() (span, error) {
	if p.peek() != '"' {
		return span{}, p.errUnexpected("looking for beginning of object key string")
	}
	s, err := p.string()
	if err != nil {
		return s, err
	}
	if !p.consume(':') {
		return s, p.errUnexpected("after object key")
	}
	p.ws()
	return s, nil
}

// literal reads the literal lit (true, false or null).
func (p *lineParser) literal(lit string) error {
	p.ws()
	if len(p.line)-p.i < len(lit) || string(p.line[p.i:p.i+len(lit)]) != lit {
		for k := 0; k < len(lit); k++ {
			if p.i+k >= len(p.line) {
				return errors.New("unexpected EOF")
			}
			if p.line[p.i+k] != lit[k] {
				p.i += k
				return p.errUnexpected("in literal " + lit)
			}
		}
	}
	p.i += len(lit)
	return nil
}

// number reads a JSON number and returns it as written.
func (p *lineParser) number() (span, error) {
	p.ws()
	start := p.i
	l := p.line
	digits := func() int {
		n := 0
		for p.i < len(l) && '0' <= l[p.i] && l[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(l) && l[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(l) && l[p.i] == '0':
		p.i++
	case digits() == 0:
		return span{}, p.errUnexpected("in numeric literal")
	}
	if p.i < len(l) && l[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return span{}, p.errUnexpected("after decimal point in numeric literal")
		}
	}
	if p.i < len(l) && (l[p.i] == 'e' || l[p.i] == 'E') {
		p.i++
		if p.i < len(l) && (l[p.i] == '+' || l[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return span{}, p.errUnexpected("in exponent of numeric literal")
		}
	}
	return span{lo: int32(start), hi: int32(p.i)}, nil
}

// string reads a JSON string. Plain ASCII strings without escapes (nearly
// all) are spans of the line; others are decoded into the arena.
func (p *lineParser) string() (span, error) {
	p.ws()
	p.i++ // opening quote
	start := p.i
	l := p.line
	i := start
	for i < len(l) && plain[l[i]] {
		i++
	}
	if i < len(l) && l[i] == '"' {
		p.i = i + 1
		return span{lo: int32(start), hi: int32(i)}, nil
	}
	return p.slowString(start)
}

// plain marks the bytes a string can hold as they are: printable ASCII
// other than '"' and '\\'.
var plain = func() (t [256]bool) { //nolint:gochecknoglobals // read-only table, built once
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// slowString decodes a string with escapes or non-ASCII bytes.
func (p *lineParser) slowString(start int) (span, error) {
	l := p.line
	lo := len(p.arena)
	i := start
	for i < len(l) {
		c := l[i]
		switch {
		case c == '"':
			p.i = i + 1
			return span{lo: int32(lo), hi: int32(len(p.arena)), arena: true}, nil
		case c < 0x20:
			p.i = i
			return span{}, p.errUnexpected("in string literal")
		case c == '\\':
			if i+1 >= len(l) {
				p.i = len(l)
				return span{}, errors.New("unexpected EOF")
			}
			e := l[i+1]
			i += 2
			switch e {
			case '"', '\\', '/':
				p.arena = append(p.arena, e)
			case 'b':
				p.arena = append(p.arena, '\b')
			case 'f':
				p.arena = append(p.arena, '\f')
			case 'n':
				p.arena = append(p.arena, '\n')
			case 'r':
				p.arena = append(p.arena, '\r')
			case 't':
				p.arena = append(p.arena, '\t')
			case 'u':
				r, ok := hex4(l, i)
				if !ok {
					p.i = i
					return span{}, p.errUnexpected("in \\u hexadecimal character escape")
				}
				i += 4
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if i+6 <= len(l) && l[i] == '\\' && l[i+1] == 'u' {
						r2, ok = hex4(l, i+2)
					}
					if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				p.arena = utf8.AppendRune(p.arena, r)
			default:
				p.i = i - 1
				return span{}, p.errUnexpected("in string escape code")
			}
		case c < utf8.RuneSelf:
			p.arena = append(p.arena, c)
			i++
		default:
			r, size := utf8.DecodeRune(l[i:])
			if r == utf8.RuneError && size == 1 {
				p.arena = utf8.AppendRune(p.arena, utf8.RuneError)
			} else {
				p.arena = append(p.arena, l[i:i+size]...)
			}
			i += size
		}
	}
	p.i = len(l)
	return span{}, errors.New("unexpected EOF")
}

func hex4(l []byte, i int) (rune, bool) {
	if i+4 > len(l) {
		return 0, false
	}
	var r rune
	for _, c := range l[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}

// describe names the next value for an error message ("null", "an array",
// `string "x"`, "number 5", "true").
func (p *lineParser) describe() string {
	switch c := p.peek(); {
	case c == 0:
		return "end of line"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 'n':
		return "null"
	case c == 't':
		return "true"
	case c == 'f':
		return "false"
	case c == '"':
		if s, err := p.string(); err == nil {
			return fmt.Sprintf("string %q", p.bytes(s))
		}
		return "a string"
	case c == '-' || ('0' <= c && c <= '9'):
		start := p.i
		if s, err := p.number(); err == nil {
			return "number " + string(p.bytes(s))
		}
		p.i = start
	}
	return fmt.Sprintf("%q", p.line[p.i])
}
