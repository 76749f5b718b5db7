package transport

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport/transporttest"
)

var netipCmp = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{})

// items turns Encode's result into what a List returns, in reverse order as a list may.
func items(cms []*corev1.ConfigMap) []corev1.ConfigMap {
	out := make([]corev1.ConfigMap, 0, len(cms))
	for i := len(cms) - 1; i >= 0; i-- {
		out = append(out, *cms[i])
	}
	return out
}

func size(cms []*corev1.ConfigMap) int {
	n := 0
	for _, cm := range cms {
		for _, v := range cm.BinaryData {
			n += len(v)
		}
	}
	return n
}

// randomSnapshot fills every part of a snapshot with random content, iptables rulesets
// random in shape, size and damage.
func randomSnapshot(r *rand.Rand) *netstack.NodeSnapshot {
	ruleset := func() string {
		switch r.IntN(4) {
		case 0:
			return ""
		case 1:
			text := []byte(transporttest.KubeProxySave(r.IntN(300), r.Uint64()))
			for range r.IntN(4) {
				text[r.IntN(len(text))] = "\n :[]-A0\x00 "[r.IntN(10)]
			}
			return string(text)
		case 2:
			b := make([]byte, r.IntN(200))
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			return string(b)
		}
		return transporttest.KubeProxySave(r.IntN(100), r.Uint64())
	}
	ns := func(pod bool) netstack.Netstack {
		n := netstack.Netstack{
			NetNS:      fmt.Sprintf("/var/run/netns/cni-%d", r.IntN(1000)),
			IPTables:   ruleset(),
			NFTables:   `{"nftables": []}`,
			IPSets:     "create KUBE-X hash:ip\n",
			Interfaces: []netstack.Interface{{Index: 1 + r.IntN(9), Name: "eth0", Kind: "veth", MTU: 1500, Up: true, Addresses: []netip.Prefix{netip.MustParsePrefix("10.244.1.7/24")}}},
			Routes:     []netstack.Route{{Table: netstack.TableMain, Type: netstack.RouteUnicast, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.244.1.1"), Device: "eth0"}},
			Sysctls:    map[string]string{"ipv4/ip_forward": fmt.Sprint(r.IntN(2))},
			Listening:  []netstack.Socket{{Protocol: "TCP", Address: netip.MustParseAddrPort("0.0.0.0:8080")}},
		}
		if r.IntN(3) == 0 {
			n.Errors = []netstack.PartError{{Part: "nftables", Error: "nft: not found"}}
		}
		if pod {
			n.Pod = &netstack.PodRef{Namespace: "default", Name: fmt.Sprintf("web-%d", r.IntN(9)), IP: netip.MustParseAddr("10.244.1.7")}
		}
		return n
	}
	snap := &netstack.NodeSnapshot{
		Version:     netstack.Version,
		Node:        fmt.Sprintf("node-%d", r.IntN(100)),
		CollectedAt: time.Unix(1_700_000_000+r.Int64N(1e6), 0).UTC(),
		Host:        ns(false),
	}
	for range r.IntN(3) {
		snap.Pods = append(snap.Pods, ns(true))
	}
	if r.IntN(2) == 0 {
		snap.Probe = &netstack.ProbeResult{Reachable: true, Message: "connected"}
	}
	return snap
}

func validUTF8(snap *netstack.NodeSnapshot) bool {
	for _, ns := range netstacks(snap) {
		if !utf8.ValidString(ns.IPTables) {
			return false
		}
	}
	return true
}

func TestRoundTripRandomSnapshots(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 200 {
		snap := randomSnapshot(r)
		for name, encode := range encoders {
			if name == EncodingGzipJSON && !validUTF8(snap) {
				// JSON strings are UTF-8: gzip-json replaces other bytes, compact-v1 keeps
				// the rulesets as they are.
				continue
			}
			cms, err := encode(snap, "ns", "p", "uid")
			if err != nil {
				t.Fatalf("snapshot %d: %s: %v", i, name, err)
			}
			got, complete, err := Decode(items(cms))
			if err != nil || !complete {
				t.Fatalf("snapshot %d: %s: Decode: complete %v, %v", i, name, complete, err)
			}
			if diff := cmp.Diff(snap, got, netipCmp, cmpopts.IgnoreUnexported(netstack.Netstack{})); diff != "" {
				t.Fatalf("snapshot %d: %s: round trip (-want +got):\n%s", i, name, diff)
			}
		}
	}
}

// TestSplits checks a snapshot larger than a ConfigMap: chunks under ChunkSize, labelled
// and annotated, incomplete until the last arrives.
func TestSplits(t *testing.T) {
	noise := make([]byte, 3*ChunkSize)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range noise {
		noise[i] = byte('a' + r.IntN(26))
	}
	snap := &netstack.NodeSnapshot{Version: netstack.Version, Node: "n1", Host: netstack.Netstack{IPTables: string(noise)}}
	cms, err := Encode(snap, "ns", "p", "uid")
	if err != nil {
		t.Fatal(err)
	}
	if len(cms) < 2 {
		t.Fatalf("%d ConfigMaps, want several", len(cms))
	}
	for i, cm := range cms {
		want := map[string]string{AnnotationChunk: fmt.Sprintf("%d/%d", i, len(cms)), AnnotationEncoding: EncodingCompact}
		if diff := cmp.Diff(want, cm.Annotations); diff != "" {
			t.Errorf("chunk %d annotations (-want +got):\n%s", i, diff)
		}
		if cm.Name != ChunkName("p", i) || cm.Labels[LabelNode] != "n1" || cm.Labels[LabelDiagnosis] != "uid" || cm.Labels[LabelComponent] != ComponentSnapshot {
			t.Errorf("chunk %d: name %s, labels %v", i, cm.Name, cm.Labels)
		}
		if n := len(cm.BinaryData[dataKeys[EncodingCompact]]); n > ChunkSize {
			t.Errorf("chunk %d holds %d bytes, more than %d", i, n, ChunkSize)
		}
	}
	if _, complete, err := Decode(items(cms[1:])); complete || err != nil {
		t.Errorf("without chunk 0: complete %v, %v; want incomplete", complete, err)
	}
	got, complete, err := Decode(items(cms))
	if err != nil || !complete || got.Host.IPTables != snap.Host.IPTables {
		t.Errorf("all chunks: complete %v, %v, iptables intact %v", complete, err, got != nil && got.Host.IPTables == snap.Host.IPTables)
	}
}

// TestDecodesEarlierCollectors reads ConfigMaps as collectors wrote them before the
// encoding annotation: gzip JSON under snapshot.json.gz and no annotation.
func TestDecodesEarlierCollectors(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprintf(zw, `{"version":%q,"node":"old","collectedAt":"2026-01-02T03:04:05Z","host":{"iptables":"*nat\nCOMMIT\n"}}`, netstack.Version)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	cm := corev1.ConfigMap{BinaryData: map[string][]byte{"snapshot.json.gz": buf.Bytes()}}
	cm.Name, cm.Annotations = "old-0", map[string]string{AnnotationChunk: "0/1"}
	got, complete, err := Decode([]corev1.ConfigMap{cm})
	if err != nil || !complete {
		t.Fatalf("Decode: complete %v, %v", complete, err)
	}
	want := &netstack.NodeSnapshot{Version: netstack.Version, Node: "old", CollectedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Host: netstack.Netstack{IPTables: "*nat\nCOMMIT\n"}}
	if diff := cmp.Diff(want, got, netipCmp, cmpopts.IgnoreUnexported(netstack.Netstack{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// encodeBoth is snap written both ways a collector may write it: compact and gzipped.
func encodeBoth(t *testing.T, snap *netstack.NodeSnapshot) (compact, gz []*corev1.ConfigMap) {
	t.Helper()
	compact, err := Encode(snap, "ns", "p", "uid")
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	gz, err = EncodeGzip(snap, "ns", "p", "uid")
	if err != nil {
		t.Fatalf("EncodeGzip: %v", err)
	}
	return compact, gz
}

func TestDecodeRejects(t *testing.T) {
	snap := &netstack.NodeSnapshot{Version: netstack.Version, Node: "n1", Host: netstack.Netstack{IPTables: transporttest.KubeProxySave(50, 1)}}
	compact, gz := encodeBoth(t, snap)
	// with returns a copy of the compact chunk changed by f.
	with := func(f func(cm *corev1.ConfigMap)) []corev1.ConfigMap {
		cm := compact[0].DeepCopy()
		f(cm)
		return []corev1.ConfigMap{*cm}
	}
	other := *snap
	other.Version = "netstack.netdiag.dev/v0"
	otherVersion, err := Encode(&other, "ns", "p", "uid")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cms  []corev1.ConfigMap
		want string
	}{
		"unknown encoding": {with(func(cm *corev1.ConfigMap) { cm.Annotations[AnnotationEncoding] = "brotli-v9" }),
			`snapshot encoding "brotli-v9" unknown; this version reads "compact-v1" and "gzip-json"`},
		"gzip bytes marked compact": {with(func(cm *corev1.ConfigMap) {
			cm.BinaryData[dataKeys[EncodingCompact]] = gz[0].BinaryData[dataKeys[EncodingGzipJSON]]
		}),
			"decode snapshot (compact-v1): decompress"},
		"compact bytes marked gzip": {with(func(cm *corev1.ConfigMap) {
			delete(cm.Annotations, AnnotationEncoding)
			cm.BinaryData = map[string][]byte{dataKeys[EncodingGzipJSON]: compact[0].BinaryData[dataKeys[EncodingCompact]]}
		}), "decode snapshot (gzip-json): decompress"},
		"data under the other key": {with(func(cm *corev1.ConfigMap) { delete(cm.Annotations, AnnotationEncoding) }),
			`of snapshot encoding "gzip-json" has no snapshot.json.gz`},
		"mixed encodings": {append(with(func(cm *corev1.ConfigMap) { cm.Annotations[AnnotationChunk] = "0/2" }), func() corev1.ConfigMap {
			cm := gz[0].DeepCopy()
			cm.Annotations[AnnotationChunk] = "1/2"
			return *cm
		}()), `has snapshot encoding "gzip-json", another "compact-v1"`},
		"truncated": {with(func(cm *corev1.ConfigMap) {
			b := cm.BinaryData[dataKeys[EncodingCompact]]
			cm.BinaryData[dataKeys[EncodingCompact]] = b[:len(b)/2]
		}), "decode snapshot (compact-v1)"},
		"other snapshot version": {items(otherVersion), `snapshot version "netstack.netdiag.dev/v0"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := Decode(tc.cms)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: %v\nwant an error with %q", err, tc.want)
			}
		})
	}
}

// corpora are the 100,000-rule rulesets sizes are measured on: kube-proxy's rules for
// numbered services as the collector's benchmark makes them, and for services with
// made-up names and random addresses; a quarter of the rules with counted traffic.
var corpora = map[string]func(rules int, seed uint64) string{
	"numbered": transporttest.NumberedKubeProxySave,
	"named":    transporttest.KubeProxySave,
}

// bigNode is a node whose iptables hold 100,000 rules of corpus.
func bigNode(corpus func(rules int, seed uint64) string) *netstack.NodeSnapshot {
	return &netstack.NodeSnapshot{Version: netstack.Version, Node: "big", Host: netstack.Netstack{IPTables: corpus(100_000, 1)}}
}

// encoders are the encodings a collector may write, by name.
var encoders = map[string]func(*netstack.NodeSnapshot, string, string, string) ([]*corev1.ConfigMap, error){
	EncodingCompact: Encode, EncodingGzipJSON: EncodeGzip,
}

// TestLargeNodeSize checks the size target of a node with 100,000 kube-proxy rules: under
// 1 MiB, in one ConfigMap, for the collector benchmark's ruleset; and under half of what
// gzip makes of any.
func TestLargeNodeSize(t *testing.T) {
	if testing.Short() {
		t.Skip("large rulesets")
	}
	for name, corpus := range corpora {
		t.Run(name, func(t *testing.T) {
			snap := bigNode(corpus)
			cms, gz := encodeBoth(t, snap)
			t.Logf("compact %d bytes in %d ConfigMaps, gzip %d", size(cms), len(cms), size(gz))
			if name == "numbered" && (size(cms) >= 1<<20 || len(cms) != 1) {
				t.Errorf("%d bytes in %d ConfigMaps, want under 1 MiB in one", size(cms), len(cms))
			}
			if size(cms) > size(gz)/2 {
				t.Errorf("%d bytes, gzip %d: want under half", size(cms), size(gz))
			}
			got, _, err := Decode(items(cms))
			if err != nil || got.Host.IPTables != snap.Host.IPTables {
				t.Errorf("Decode: %v, iptables intact %v", err, got != nil && got.Host.IPTables == snap.Host.IPTables)
			}
		})
	}
}

// fuzzLimits keep a bomb's cost per run small: the limits' code is the same at any size.
var fuzzLimits = Limits{MaxDecodedSize: 1 << 20, MaxJSONValues: 10_000}

func FuzzDecode(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 3))
	for i := range 6 {
		encoding := []string{EncodingCompact, EncodingGzipJSON}[i%2]
		snap := randomSnapshot(r)
		if !validUTF8(snap) {
			continue
		}
		cms, err := encoders[encoding](snap, "ns", "p", "uid")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encoding == EncodingCompact, cms[0].BinaryData[dataKeys[encoding]])
	}
	// Hostile seeds: bombs over the fuzz limits in each encoding, JSON nested too deep.
	f.Add(false, gzipBomb(f, 2<<20))
	f.Add(true, zstdBomb(f, 2<<20))
	deep := strings.Repeat(`{"host":`, 40) + strings.Repeat("}", 40)
	f.Add(true, compactPayload(f, func(w io.Writer) { io.WriteString(w, deep) }, len(deep), []byte{1, 0}))
	f.Fuzz(func(t *testing.T, compact bool, data []byte) {
		encoding := EncodingGzipJSON
		if compact {
			encoding = EncodingCompact
		}
		snap, _, err := fuzzLimits.Decode([]corev1.ConfigMap{chunk(encoding, data)})
		if err != nil {
			return
		}
		// What decodes encodes and decodes to the same.
		cms, err := Encode(snap, "ns", "p", "uid")
		if err != nil {
			t.Fatal(err)
		}
		again, _, err := Decode(items(cms))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(snap, again, netipCmp, cmpopts.IgnoreUnexported(netstack.Netstack{})); diff != "" {
			t.Fatalf("(-first +second):\n%s", diff)
		}
	})
}

// BenchmarkEncode and BenchmarkDecode measure a node with 100,000 kube-proxy rules, a
// quarter with traffic counted, in both encodings; bytes is what the API server stores.
func BenchmarkEncode(b *testing.B) {
	for corpusName, corpus := range corpora {
		snap := bigNode(corpus)
		for name, encode := range encoders {
			b.Run(corpusName+"/"+name, func(b *testing.B) {
				var cms []*corev1.ConfigMap
				for b.Loop() {
					var err error
					if cms, err = encode(snap, "ns", "p", "uid"); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(size(cms)), "bytes")
				b.ReportMetric(float64(len(cms)), "configmaps")
				b.ReportMetric(float64(len(snap.Host.IPTables)), "iptables-bytes")
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for corpusName, corpus := range corpora {
		snap := bigNode(corpus)
		for name, encode := range encoders {
			b.Run(corpusName+"/"+name, func(b *testing.B) {
				cms, err := encode(snap, "ns", "p", "uid")
				if err != nil {
					b.Fatal(err)
				}
				list := items(cms)
				for b.Loop() {
					if _, _, err := Decode(list); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
