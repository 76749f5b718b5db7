package transport

import (
	"bytes"
	"fmt"
	"io"
)

// Limits bound what Decode accepts, so that a ConfigMap written by anyone who may write in
// the controller's namespace cannot exhaust the controller's memory. A zero field takes its
// default (DefaultLimits).
type Limits struct {
	// MaxChunks bounds the ConfigMaps of one node's snapshot.
	MaxChunks int
	// MaxChunkSize bounds the compressed bytes of one ConfigMap.
	MaxChunkSize int
	// MaxCompressedSize bounds the compressed bytes of all of a snapshot's chunks.
	MaxCompressedSize int
	// MaxDecodedSize bounds the decompressed payload, and separately the snapshot's JSON
	// together with every iptables ruleset it holds once decoded.
	MaxDecodedSize int
	// MaxJSONDepth bounds how deep the snapshot's JSON nests; the format itself nests 6 deep.
	MaxJSONDepth int
	// MaxJSONValues bounds the objects, arrays and members of the snapshot's JSON: what
	// the decoded structs cost grows with their number, not with the bytes ("{}," is three
	// bytes and a route of 240).
	MaxJSONValues int
}

// Defaults of Limits. A node with 100,000 kube-proxy rules is one or two chunks of about
// 1 MB and decodes to about 16 MB; a node with 5,000 routes, neighbours and fdb entries each
// and 110 pods holds about 150,000 JSON values.
const (
	DefaultMaxChunks         = 32
	DefaultMaxChunkSize      = 1 << 20
	DefaultMaxCompressedSize = 24 << 20
	DefaultMaxDecodedSize    = 64 << 20
	DefaultMaxJSONDepth      = 32
	DefaultMaxJSONValues     = 500_000
)

// DefaultLimits are the limits the controller decodes with unless its manager sets others.
func DefaultLimits() Limits {
	return Limits{
		MaxChunks:         DefaultMaxChunks,
		MaxChunkSize:      DefaultMaxChunkSize,
		MaxCompressedSize: DefaultMaxCompressedSize,
		MaxDecodedSize:    DefaultMaxDecodedSize,
		MaxJSONDepth:      DefaultMaxJSONDepth,
		MaxJSONValues:     DefaultMaxJSONValues,
	}
}

// withDefaults fills the zero fields of l.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	return Limits{
		MaxChunks:         pick(l.MaxChunks, d.MaxChunks),
		MaxChunkSize:      pick(l.MaxChunkSize, d.MaxChunkSize),
		MaxCompressedSize: pick(l.MaxCompressedSize, d.MaxCompressedSize),
		MaxDecodedSize:    pick(l.MaxDecodedSize, d.MaxDecodedSize),
		MaxJSONDepth:      pick(l.MaxJSONDepth, d.MaxJSONDepth),
		MaxJSONValues:     pick(l.MaxJSONValues, d.MaxJSONValues),
	}
}

// LimitError is a snapshot refused because it is over one of the Limits: its message, e.g.
// "decoded size over 64 MiB", names the limit.
type LimitError struct {
	// What is over the limit: "chunk count", "compressed size", "decoded size", ...
	What string
	// Max is the limit as people read it: "64 MiB", "32".
	Max string
}

func (e *LimitError) Error() string { return e.What + " over " + e.Max }

func overBytes(what string, limit int) *LimitError {
	return &LimitError{What: what, Max: sizeText(limit)}
}

func overCount(what string, limit int) *LimitError {
	return &LimitError{What: what, Max: fmt.Sprint(limit)}
}

// sizeText writes a byte count in the largest binary unit that divides it.
func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// readBounded decompresses what open reads into a buffer of exactly its size, refusing
// more than limit bytes. It reads twice: the first pass only counts, so that a bomb is
// refused having cost the decompressor's own buffers, and a snapshot within the limit
// costs one buffer of its size instead of the doublings of a growing one.
func readBounded(open func() (io.ReadCloser, error), limit int) ([]byte, error) {
	r, err := open()
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r, int64(limit)+1))
	r.Close()
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	if n > int64(limit) {
		return nil, overBytes("decoded size", limit)
	}
	if r, err = open(); err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	defer r.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	return buf, nil
}

// checkJSON refuses JSON that nests deeper than maxDepth or holds more than maxValues
// containers and members, before it is unmarshalled: what a struct costs is known only
// after it was allocated. It does not validate; json.Unmarshal does.
func checkJSON(b []byte, maxDepth, maxValues int) error {
	depth, values := 0, 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > maxDepth {
				return overCount("JSON depth", maxDepth)
			}
			values++
		case '}', ']':
			depth--
		case ',':
			values++
		default:
			continue
		}
		if values > maxValues {
			return overCount("JSON values", maxValues)
		}
	}
	return nil
}

// joinedChunks reads the chunks one after the other, as one stream.
func joinedChunks(parts [][]byte) io.Reader {
	readers := make([]io.Reader, len(parts))
	for i, p := range parts {
		readers[i] = bytes.NewReader(p)
	}
	return io.MultiReader(readers...)
}
