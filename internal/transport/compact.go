package transport

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport/savecodec"
)

// compactMagic starts EncodingCompact's payload once decompressed, so that bytes of another
// kind are refused by name rather than misread.
const compactMagic = "NDSNAPC1"

// window is zstd's match window: the whole of a large node's rewritten rules, about
// 10 MB for 100,000 rules, so that the repeats the codec leaves are all in reach.
const window = 16 << 20

var (
	encoderOnce sync.Once
	encoder     *zstd.Encoder
	encoderErr  error
)

func zstdEncoder() (*zstd.Encoder, error) {
	encoderOnce.Do(func() {
		// EncodeAll is safe for concurrent use; its window and tables are made once.
		encoder, encoderErr = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.SpeedBetterCompression),
			zstd.WithWindowSize(window),
			zstd.WithEncoderConcurrency(1))
	})
	return encoder, encoderErr
}

// netstacks lists a snapshot's namespaces in a fixed order: the node's, then the pods'.
func netstacks(snap *netstack.NodeSnapshot) []*netstack.Netstack {
	out := []*netstack.Netstack{&snap.Host}
	for i := range snap.Pods {
		out = append(out, &snap.Pods[i])
	}
	return out
}

// encodeCompact writes the payload of EncodingCompact:
//
//	zstd( magic, uvarint(len(json)), json, uvarint(count), count × (uvarint(len(r)), r) )
//
// where json is the snapshot with its iptables rulesets left out and r the rulesets, the
// node's first and then the pods' in order, each rewritten by savecodec (empty for none).
func encodeCompact(snap *netstack.NodeSnapshot) ([]byte, error) {
	stripped := *snap
	stripped.Pods = append([]netstack.Netstack(nil), snap.Pods...)
	stacks := netstacks(&stripped)
	rulesets := make([]string, len(stacks))
	for i, ns := range stacks {
		rulesets[i], ns.IPTables = ns.IPTables, ""
	}
	js, err := json.Marshal(&stripped)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	payload := append([]byte(compactMagic), binary.AppendUvarint(nil, uint64(len(js)))...)
	payload = append(payload, js...)
	payload = binary.AppendUvarint(payload, uint64(len(rulesets)))
	for _, rules := range rulesets {
		var blob []byte
		if rules != "" {
			blob = savecodec.Encode(rules)
		}
		payload = binary.AppendUvarint(payload, uint64(len(blob)))
		payload = append(payload, blob...)
	}
	enc, err := zstdEncoder()
	if err != nil {
		return nil, fmt.Errorf("start zstd: %w", err)
	}
	return enc.EncodeAll(payload, make([]byte, 0, len(payload)/8)), nil
}

// zstdStream is a zstd stream decoder as a ReadCloser.
type zstdStream struct{ *zstd.Decoder }

func (z zstdStream) Close() error {
	z.Decoder.Close()
	return nil
}

// decodeCompact reads what encodeCompact wrote, within l.
func decodeCompact(joined func() io.Reader, l Limits) (*netstack.NodeSnapshot, error) {
	// A stream rather than DecodeAll: DecodeAll allocates what a frame header claims, and
	// a header costs a hostile writer nothing; a stream's buffers are bounded by the window.
	payload, err := readBounded(func() (io.ReadCloser, error) {
		dec, err := zstd.NewReader(joined(),
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(window),
			zstd.WithDecoderMaxMemory(uint64(l.MaxDecodedSize)))
		if err != nil {
			return nil, err
		}
		return zstdStream{dec}, nil
	}, l.MaxDecodedSize)
	if err != nil {
		return nil, err
	}
	rest, ok := cutPrefix(payload, compactMagic)
	if !ok {
		return nil, errors.New("payload does not start with " + compactMagic)
	}
	js, rest, err := cutBlob(rest)
	if err != nil {
		return nil, fmt.Errorf("snapshot JSON: %w", err)
	}
	if err := checkJSON(js, l.MaxJSONDepth, l.MaxJSONValues); err != nil {
		return nil, err
	}
	// What the snapshot holds once decoded: its JSON's strings, then each ruleset's text.
	budget := l.MaxDecodedSize - len(js)
	snap := &netstack.NodeSnapshot{}
	if err := json.Unmarshal(js, snap); err != nil {
		return nil, fmt.Errorf("unmarshal: %w", err)
	}
	count, used := binary.Uvarint(rest)
	if used <= 0 {
		return nil, errors.New("truncated before the number of iptables rulesets")
	}
	rest = rest[used:]
	stacks := netstacks(snap)
	if count != uint64(len(stacks)) {
		return nil, fmt.Errorf("%d iptables rulesets for %d namespaces", count, len(stacks))
	}
	for i, ns := range stacks {
		var blob []byte
		if blob, rest, err = cutBlob(rest); err != nil {
			return nil, fmt.Errorf("iptables ruleset %d: %w", i, err)
		}
		if ns.IPTables != "" {
			return nil, fmt.Errorf("namespace %d has iptables rules both in the JSON and beside it", i)
		}
		if len(blob) == 0 {
			continue
		}
		if ns.IPTables, err = savecodec.DecodeLimit(blob, budget); err != nil {
			if errors.Is(err, savecodec.ErrTooLarge) {
				return nil, overBytes("decoded size", l.MaxDecodedSize)
			}
			return nil, fmt.Errorf("iptables ruleset %d: %w", i, err)
		}
		budget -= len(ns.IPTables)
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d bytes after the last iptables ruleset", len(rest))
	}
	return snap, nil
}

func cutPrefix(b []byte, prefix string) ([]byte, bool) {
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		return nil, false
	}
	return b[len(prefix):], true
}

// cutBlob splits a uvarint length and that many bytes off b.
func cutBlob(b []byte) (blob, rest []byte, err error) {
	size, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, nil, errors.New("truncated length")
	}
	b = b[n:]
	if size > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%d bytes announced, %d left", size, len(b))
	}
	return b[:size], b[size:], nil
}
