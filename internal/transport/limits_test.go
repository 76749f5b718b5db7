package transport

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/netstack"
)

// hostileCostBound is what decoding a hostile snapshot may allocate in all (TotalAlloc)
// before it is refused, with DefaultLimits; docs/security.md states it.
const hostileCostBound = 160 << 20

// chunk is a one-chunk snapshot of encoding holding data.
func chunk(encoding string, data []byte) corev1.ConfigMap {
	cm := corev1.ConfigMap{BinaryData: map[string][]byte{dataKeys[encoding]: data}}
	cm.Name, cm.Annotations = "hostile-0", map[string]string{AnnotationChunk: "0/1"}
	if encoding != EncodingGzipJSON {
		cm.Annotations[AnnotationEncoding] = encoding
	}
	return cm
}

// repeat writes n bytes of b's repetitions to w.
func repeat(t testing.TB, w io.Writer, b byte, n int) {
	block := bytes.Repeat([]byte{b}, 1<<20)
	for n > 0 {
		k := min(n, len(block))
		if _, err := w.Write(block[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
}

// gzipBomb is gzip-json whose JSON holds a string of n bytes.
func gzipBomb(t testing.TB, n int) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(zw, `{"version":%q,"node":"n1","host":{"iptables":"`, netstack.Version)
	repeat(t, zw, 'a', n)
	fmt.Fprint(zw, `"}}`)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compactPayload zstd-compresses EncodingCompact's payload: json, whose length it announces
// as jsonLen, then tail as it is.
func compactPayload(t testing.TB, json func(io.Writer), jsonLen int, tail []byte) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(zw, compactMagic)
	zw.Write(binary.AppendUvarint(nil, uint64(jsonLen)))
	json(zw)
	zw.Write(tail)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zstdBomb is a compact-v1 chunk whose JSON is n bytes, most of them one string.
func zstdBomb(t testing.TB, n int) []byte {
	head := fmt.Sprintf(`{"version":%q,"node":"n1","host":{"nftables":"`, netstack.Version)
	return compactPayload(t, func(w io.Writer) {
		fmt.Fprint(w, head)
		repeat(t, w, 'a', n-len(head)-3)
		fmt.Fprint(w, `"}}`)
	}, n, []byte{1, 0})
}

// longNames is iptables-save text of rules that each name a chain of a long name: savecodec
// stores the name once, so a few kilobytes expand to size bytes.
func longNames(size int) string {
	name := strings.Repeat("N", 4000)
	var b strings.Builder
	b.WriteString("*filter\n:" + name + " - [0:0]\n")
	for b.Len() < size {
		b.WriteString("-A " + name + " -j " + name + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// hostileSnapshots are what a writer in the controller's namespace could put there to
// take the controller down, each with the limit that refuses it.
func hostileSnapshots(t testing.TB) map[string]struct {
	cms  []corev1.ConfigMap
	want string
} {
	many := func(n int, total int) []corev1.ConfigMap {
		out := make([]corev1.ConfigMap, n)
		for i := range out {
			out[i] = chunk(EncodingCompact, []byte{0})
			out[i].Name = ChunkName("hostile", i)
			out[i].Annotations[AnnotationChunk] = fmt.Sprintf("%d/%d", i, total)
		}
		return out
	}
	noise := func(n int) []byte {
		b := make([]byte, n)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	bigChunks := many(28, 28)
	for i := range bigChunks {
		bigChunks[i].BinaryData[dataKeys[EncodingCompact]] = noise(900 << 10)
	}
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	values := `{"host":{"routes":[` + strings.Repeat("{},", 999_999) + `{}]}}`
	// Four namespaces of 20 MiB of rules each: each is under the limit, together over it.
	spread := &netstack.NodeSnapshot{Version: netstack.Version, Node: "n1", Host: netstack.Netstack{IPTables: longNames(20 << 20)}}
	for range 3 {
		spread.Pods = append(spread.Pods, netstack.Netstack{Pod: &netstack.PodRef{Namespace: "default", Name: "p"}, IPTables: spread.Host.IPTables})
	}
	spreadCMs, err := Encode(spread, "ns", "hostile", "uid")
	if err != nil {
		t.Fatal(err)
	}
	return map[string]struct {
		cms  []corev1.ConfigMap
		want string
	}{
		"gzip bomb":               {[]corev1.ConfigMap{chunk(EncodingGzipJSON, gzipBomb(t, 256<<20))}, "decoded size over 64 MiB"},
		"zstd bomb":               {[]corev1.ConfigMap{chunk(EncodingCompact, zstdBomb(t, 256<<20))}, "decoded size over 64 MiB"},
		"rulesets over in total":  {items(spreadCMs), "decoded size over 64 MiB"},
		"10,000 chunks":           {many(10_000, 10_000), "chunk count over 32"},
		"10,000 chunks announced": {many(1, 10_000), "chunk count over 32"},
		"a chunk over 1 MiB":      {[]corev1.ConfigMap{chunk(EncodingCompact, noise(1<<20+1))}, "compressed chunk size over 1 MiB"},
		"chunks over 24 MiB":      {bigChunks, "compressed size over 24 MiB"},
		"deep JSON": {[]corev1.ConfigMap{chunk(EncodingCompact, compactPayload(t, func(w io.Writer) { io.WriteString(w, deep) }, len(deep), []byte{1, 0}))},
			"JSON depth over 32"},
		"a million empty routes": {[]corev1.ConfigMap{chunk(EncodingCompact, compactPayload(t, func(w io.Writer) { io.WriteString(w, values) }, len(values), []byte{1, 0}))},
			"JSON values over 500000"},
	}
}

// TestDecodeRefusesHostileSnapshots checks that each hostile snapshot is refused by the
// limit it is over, with an error naming it, having cost less than hostileCostBound.
func TestDecodeRefusesHostileSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	for name, tc := range hostileSnapshots(t) {
		t.Run(name, func(t *testing.T) {
			size := 0
			for _, cm := range tc.cms {
				for _, v := range cm.BinaryData {
					size += len(v)
				}
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, _, err := Decode(tc.cms)
			runtime.ReadMemStats(&after)
			cost := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d ConfigMaps of %d bytes: cost %.1f MiB: %v", len(tc.cms), size, float64(cost)/(1<<20), err)
			var limit *LimitError
			if !errors.As(err, &limit) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: %v\nwant a limit error with %q", err, tc.want)
			}
			if cost > hostileCostBound {
				t.Errorf("refusing it cost %d MiB, over the bound of %d MiB", cost>>20, hostileCostBound>>20)
			}
		})
	}
}

// TestDecodeWithinLimits checks that what the limits let through decodes, at their edge:
// the bounds refuse the hostile, not the large.
func TestDecodeWithinLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	text := longNames(60 << 20)
	snap := &netstack.NodeSnapshot{Version: netstack.Version, Node: "n1", Host: netstack.Netstack{IPTables: text}}
	compact, gz := encodeBoth(t, snap)
	for name, cms := range map[string][]*corev1.ConfigMap{EncodingCompact: compact, EncodingGzipJSON: gz} {
		got, complete, err := Decode(items(cms))
		if err != nil || !complete || got.Host.IPTables != text {
			t.Errorf("%s: 60 MiB of rules in %d ConfigMaps: complete %v, %v", name, len(cms), complete, err)
		}
	}
	// The limits are the manager's to set: the same snapshot is refused under a lower one.
	_, _, err := Limits{MaxDecodedSize: 32 << 20}.Decode(items(compact))
	if err == nil || err.Error() != "decode snapshot (compact-v1): decoded size over 32 MiB" {
		t.Errorf("under 32 MiB: %v", err)
	}
}

// TestLimitsDefaults checks that a zero field takes its default, so that a manager setting
// one limit keeps the others.
func TestLimitsDefaults(t *testing.T) {
	got := Limits{MaxChunks: 3}.withDefaults()
	want := DefaultLimits()
	want.MaxChunks = 3
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}
