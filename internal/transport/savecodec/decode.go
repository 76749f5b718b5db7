package savecodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unsafe"
)

// ErrTooLarge is the error (wrapped) of a Decode that would write more than its limit.
var ErrTooLarge = errors.New("decoded text exceeds the size limit")

type reader struct {
	name string
	buf  []byte
}

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		return 0, fmt.Errorf("%s stream: truncated or overlong number", r.name)
	}
	r.buf = r.buf[n:]
	return v, nil
}

type decoder struct {
	streams [streamCount]reader
	names   []string
	chain   int
	decls   []int
	mtf     mtf
	out     []byte
	lines   int
	// limit bounds the text, and every line being built.
	limit int
	// counting makes the decoder only measure: out is emptied after every line into
	// flushed, and blocks records the size of each table it buffers in blockSizes, for
	// the pass that writes to size its buffers exactly.
	counting   bool
	flushed    int
	blockSizes []int
}

// size is how much text the decoder has written.
func (d *decoder) size() int { return d.flushed + len(d.out) }

// Decode restores the text Encode was given, up to MaxTextSize bytes.
func Decode(data []byte) (string, error) { return DecodeLimit(data, MaxTextSize) }

// DecodeLimit is Decode refusing, with ErrTooLarge, a text longer than limit bytes: the
// caller's share of a budget that several rulesets spend together. It decodes twice, first
// only measuring, so that a text over the limit is refused having cost little, and one
// within it costs its own size once rather than the copies of a growing buffer.
func DecodeLimit(data []byte, limit int) (string, error) {
	count, err := newDecoder(data, limit)
	if err != nil {
		return "", err
	}
	count.counting = true
	if err := count.run(); err != nil {
		return "", err
	}
	d, err := newDecoder(data, limit)
	if err != nil {
		return "", err
	}
	d.out = make([]byte, 0, count.size())
	d.blockSizes = count.blockSizes
	if err := d.run(); err != nil {
		return "", err
	}
	if len(d.out) == 0 {
		return "", nil
	}
	// out is sized exactly and never written again: the string can share it.
	return unsafe.String(unsafe.SliceData(d.out), len(d.out)), nil
}

// newDecoder splits data into its streams.
func newDecoder(data []byte, limit int) (*decoder, error) {
	if len(data) == 0 {
		return nil, errors.New("savecodec: empty input")
	}
	if data[0] != Format {
		return nil, fmt.Errorf("savecodec: format %d, want %d", data[0], Format)
	}
	d := &decoder{mtf: newMTF(), limit: limit}
	head := reader{name: "header", buf: data[1:]}
	var lens [streamCount]uint64
	total := uint64(0)
	for i := range lens {
		n, err := head.uvarint()
		if err != nil {
			return nil, fmt.Errorf("savecodec: %w", err)
		}
		lens[i] = n
		total += n
		if n > uint64(len(data)) || total > uint64(len(data)) {
			return nil, fmt.Errorf("savecodec: %s stream of %d bytes in %d bytes of input", streamNamesText[i], n, len(data))
		}
	}
	if total != uint64(len(head.buf)) {
		return nil, fmt.Errorf("savecodec: streams hold %d bytes, input has %d", total, len(head.buf))
	}
	rest := head.buf
	for i := range d.streams {
		d.streams[i] = reader{name: streamNamesText[i], buf: rest[:lens[i]]}
		rest = rest[lens[i]:]
	}
	return d, nil
}

// run decodes every line of the skeleton.
func (d *decoder) run() error {
	for {
		line, ok := d.next()
		if !ok {
			break
		}
		if err := d.line(line); err != nil {
			return fmt.Errorf("savecodec: line %d: %w", d.lines+1, err)
		}
		if d.size() > d.limit {
			return fmt.Errorf("savecodec: %w", ErrTooLarge)
		}
		if d.counting {
			d.flushed += len(d.out)
			d.out = d.out[:0]
		}
	}
	for i := range d.streams {
		if len(d.streams[i].buf) > 0 {
			return fmt.Errorf("savecodec: %s stream: %d bytes left over", d.streams[i].name, len(d.streams[i].buf))
		}
	}
	return nil
}

// next returns the next line of the skeleton.
func (d *decoder) next() ([]byte, bool) {
	r := &d.streams[streamSkeleton]
	if r.buf == nil {
		return nil, false
	}
	if nl := bytes.IndexByte(r.buf, '\n'); nl >= 0 {
		line := r.buf[:nl]
		r.buf = r.buf[nl+1:]
		return line, true
	}
	line := r.buf
	// An empty remainder after the last newline is a last empty line; nil marks the end.
	r.buf = nil
	return line, true
}

// newline separates the output's lines.
func (d *decoder) newline() {
	if d.lines > 0 {
		d.out = append(d.out, '\n')
	}
	d.lines++
}

func (d *decoder) line(line []byte) error {
	if len(line) == 0 {
		return errors.New("skeleton line without a kind")
	}
	kind, payload := line[0], line[1:]
	if kind != kindDecl && kind != kindDeclAgain {
		defer func() { d.decls = d.decls[:0] }()
	}
	switch kind {
	case kindLiteral:
		d.newline()
		d.out = append(d.out, payload...)
	case kindDecl, kindDeclAgain:
		var idx int
		var err error
		if kind == kindDecl {
			idx, err = d.newName()
		} else {
			idx, err = d.target()
		}
		if err != nil {
			return err
		}
		d.decls = append(d.decls, idx)
		d.newline()
		d.out = append(d.out, ':')
		d.out = append(d.out, d.names[idx]...)
		d.out = append(d.out, ' ')
		d.out = append(d.out, payload...)
		d.out = append(d.out, ' ')
		return d.counters()
	case kindRule, kindRuleBare:
		delta, err := d.streams[streamChains].uvarint()
		if err != nil {
			return err
		}
		chain := d.chain + unzigzag(delta)
		if chain < 0 || chain >= len(d.names) {
			return fmt.Errorf("rule in chain %d of %d", chain, len(d.names))
		}
		d.chain = chain
		d.newline()
		d.out, _, err = d.rule(d.out, kind, payload, chain, nil)
		return err
	case kindBlocks:
		return d.blocks()
	default:
		return fmt.Errorf("unknown line kind %q", kind)
	}
	return nil
}

// blocks decodes a table's rules written chain by chain (see encoder.rules) and writes them
// in declaration order.
func (d *decoder) blocks() error {
	decls := d.decls
	pos := make(map[int]int, len(decls))
	for p, idx := range decls {
		if _, dup := pos[idx]; dup {
			return fmt.Errorf("reordered rules after chain %s declared twice", d.names[idx])
		}
		pos[idx] = p
	}
	r := &blockReader{d: d, decls: decls, lines: make([][]span, len(decls))}
	if !d.counting && len(d.blockSizes) > 0 {
		r.buf = make([]byte, 0, d.blockSizes[0])
		d.blockSizes = d.blockSizes[1:]
	}
	if err := walkRules(len(decls), pos, r); err != nil {
		return err
	}
	if d.counting {
		d.flushed += r.size
		d.blockSizes = append(d.blockSizes, r.size)
	}
	for _, spans := range r.lines {
		for _, s := range spans {
			d.newline()
			d.out = append(d.out, r.buf[s.start:s.end]...)
		}
	}
	return nil
}

type span struct{ start, end int }

// blockReader reads a table's rules in the order walkRules gives, and keeps each chain's.
type blockReader struct {
	d     *decoder
	decls []int
	buf   []byte
	lines [][]span
	// size is what the rules have taken of buf, which a counting decoder empties.
	size int
}

func (r *blockReader) chain(p int) (int, error) {
	n, err := r.d.streams[streamBlocks].uvarint()
	if err != nil {
		return 0, err
	}
	if n > uint64(len(r.d.streams[streamSkeleton].buf)) {
		return 0, fmt.Errorf("chain %s: %d rules announced, skeleton ends before", r.d.names[r.decls[p]], n)
	}
	return int(n), nil
}

func (r *blockReader) rule(p, _ int, targets []int) ([]int, error) {
	line, ok := r.d.next()
	if !ok {
		return targets, fmt.Errorf("chain %s: skeleton ends before its rules", r.d.names[r.decls[p]])
	}
	if len(line) == 0 || (line[0] != kindRule && line[0] != kindRuleBare) {
		return targets, fmt.Errorf("chain %s: a rule expected, got %q", r.d.names[r.decls[p]], line)
	}
	start := len(r.buf)
	var err error
	if r.buf, targets, err = r.d.rule(r.buf, line[0], line[1:], r.decls[p], targets); err != nil {
		return targets, err
	}
	r.size += len(r.buf) - start
	if r.size+r.d.size() > r.d.limit {
		return targets, ErrTooLarge
	}
	if r.d.counting {
		// The lines are counted, their text is not kept.
		r.buf = r.buf[:start]
	}
	r.lines[p] = append(r.lines[p], span{start, len(r.buf)})
	return targets, nil
}

// rule appends a rule line in chain to dst, and the names it refers to to targets.
func (d *decoder) rule(dst []byte, kind byte, payload []byte, chain int, targets []int) ([]byte, []int, error) {
	if kind == kindRule {
		var err error
		if dst, err = d.appendCounters(dst); err != nil {
			return dst, targets, err
		}
		dst = append(dst, ' ')
	}
	dst = append(dst, "-A "...)
	dst = append(dst, d.names[chain]...)
	for {
		i := bytes.IndexByte(payload, placeholder)
		if i < 0 {
			return append(dst, payload...), targets, nil
		}
		idx, err := d.target()
		if err != nil {
			return dst, targets, err
		}
		dst = append(dst, payload[:i]...)
		dst = append(dst, d.names[idx]...)
		targets = append(targets, idx)
		payload = payload[i+1:]
		if len(dst) > d.limit {
			return dst, targets, ErrTooLarge
		}
	}
}

func (d *decoder) newName() (int, error) {
	lens, r := &d.streams[streamNameLens], &d.streams[streamNames]
	shared, err := lens.uvarint()
	if err != nil {
		return 0, err
	}
	size, err := lens.uvarint()
	if err != nil {
		return 0, err
	}
	prev := ""
	if len(d.names) > 0 {
		prev = d.names[len(d.names)-1]
	}
	if shared > uint64(len(prev)) || shared > size {
		return 0, fmt.Errorf("name of %d bytes shares %d with a name of %d", size, shared, len(prev))
	}
	if size-shared > uint64(len(r.buf)) {
		return 0, fmt.Errorf("names stream: %d bytes left, a name needs %d", len(r.buf), size-shared)
	}
	rest := size - shared
	d.names = append(d.names, prev[:shared]+string(r.buf[:rest]))
	r.buf = r.buf[rest:]
	return len(d.names) - 1, nil
}

func (d *decoder) target() (int, error) {
	r := &d.streams[streamTargets]
	if len(r.buf) == 0 {
		return 0, errors.New("targets stream: truncated")
	}
	code := int(r.buf[0])
	r.buf = r.buf[1:]
	switch {
	case code < recent:
		return d.mtf.recent(code)
	case code > recent:
		return 0, fmt.Errorf("targets stream: reference kind %d", code)
	}
	w := indexWidth(len(d.names))
	ix := &d.streams[streamIndices]
	if len(ix.buf) < w {
		return 0, errors.New("indices stream: truncated")
	}
	idx := 0
	for _, b := range ix.buf[:w] {
		idx = idx<<8 | int(b)
	}
	ix.buf = ix.buf[w:]
	if idx >= len(d.names) {
		return 0, fmt.Errorf("reference to name %d of %d", idx, len(d.names))
	}
	d.mtf.front(recent-1, idx)
	return idx, nil
}

func (d *decoder) counters() error {
	var err error
	d.out, err = d.appendCounters(d.out)
	return err
}

func (d *decoder) appendCounters(dst []byte) ([]byte, error) {
	r := &d.streams[streamCounters]
	packets, err := r.uvarint()
	if err != nil {
		return dst, err
	}
	octets, err := r.uvarint()
	if err != nil {
		return dst, err
	}
	dst = append(dst, '[')
	dst = strconv.AppendUint(dst, packets, 10)
	dst = append(dst, ':')
	dst = strconv.AppendUint(dst, octets, 10)
	return append(dst, ']'), nil
}
