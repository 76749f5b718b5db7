package transport

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/netstack"
)

const (
	// LabelDiagnosis holds the UID of the NetworkDiagnosis a collector works for.
	LabelDiagnosis = "diagnosis.netdiag.dev/diagnosis-uid"
	// LabelNode holds the name of the node a snapshot comes from.
	LabelNode = "diagnosis.netdiag.dev/node"
	// LabelComponent tells collector pods and snapshot ConfigMaps apart.
	LabelComponent = "app.kubernetes.io/component"

	ComponentCollector = "collector"
	ComponentSnapshot  = "snapshot"

	// AnnotationChunk is "<index>/<total>" on every snapshot ConfigMap.
	AnnotationChunk = "diagnosis.netdiag.dev/chunk"
	// AnnotationEncoding names how the chunks' bytes encode the snapshot, one of the
	// Encoding values; a ConfigMap without it is EncodingGzipJSON, as collectors wrote
	// before the annotation existed.
	AnnotationEncoding = "diagnosis.netdiag.dev/encoding"

	// ChunkSize keeps every ConfigMap well under the API server's 1 MiB object limit.
	ChunkSize = 900 << 10
)

// Encodings of a snapshot in ConfigMaps.
const (
	// EncodingGzipJSON is the snapshot's JSON, gzip-compressed, under the key
	// snapshot.json.gz.
	EncodingGzipJSON = "gzip-json"
	// EncodingCompact is the snapshot's JSON without its iptables rulesets, followed by
	// each ruleset rewritten by savecodec, all zstd-compressed with a long window, under the
	// key snapshot.compact. A node with 100,000 kube-proxy rules fits in one ConfigMap.
	EncodingCompact = "compact-v1"
)

// dataKeys is where each encoding keeps its bytes in a ConfigMap.
var dataKeys = map[string]string{
	EncodingGzipJSON: "snapshot.json.gz",
	EncodingCompact:  "snapshot.compact",
}

// Encode compresses a node snapshot with EncodingCompact and splits it into ConfigMaps
// named <prefix>-<index>, labelled with the diagnosis UID and the node.
func Encode(snap *netstack.NodeSnapshot, namespace, prefix, diagnosisUID string) ([]*corev1.ConfigMap, error) {
	data, err := encodeCompact(snap)
	if err != nil {
		return nil, fmt.Errorf("encode snapshot of node %s: %w", snap.Node, err)
	}
	return split(data, EncodingCompact, snap.Node, namespace, prefix, diagnosisUID), nil
}

// EncodeGzip is Encode with EncodingGzipJSON, the encoding of earlier collectors.
func EncodeGzip(snap *netstack.NodeSnapshot, namespace, prefix, diagnosisUID string) ([]*corev1.ConfigMap, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(snap); err != nil {
		return nil, fmt.Errorf("encode snapshot of node %s: %w", snap.Node, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress snapshot of node %s: %w", snap.Node, err)
	}
	return split(buf.Bytes(), EncodingGzipJSON, snap.Node, namespace, prefix, diagnosisUID), nil
}

func split(data []byte, encoding, node, namespace, prefix, diagnosisUID string) []*corev1.ConfigMap {
	var chunks [][]byte
	for len(data) > ChunkSize {
		chunks = append(chunks, data[:ChunkSize])
		data = data[ChunkSize:]
	}
	chunks = append(chunks, data)

	cms := make([]*corev1.ConfigMap, 0, len(chunks))
	for i, chunk := range chunks {
		annotations := map[string]string{AnnotationChunk: fmt.Sprintf("%d/%d", i, len(chunks))}
		// Gzip chunks stay exactly as older collectors wrote them.
		if encoding != EncodingGzipJSON {
			annotations[AnnotationEncoding] = encoding
		}
		cms = append(cms, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:      ChunkName(prefix, i),
				Namespace: namespace,
				Labels: map[string]string{
					LabelDiagnosis: diagnosisUID,
					LabelNode:      node,
					LabelComponent: ComponentSnapshot,
				},
				Annotations: annotations,
			},
			BinaryData: map[string][]byte{dataKeys[encoding]: chunk},
		})
	}
	return cms
}

// Decode is Limits.Decode with DefaultLimits.
func Decode(cms []corev1.ConfigMap) (snap *netstack.NodeSnapshot, complete bool, err error) {
	return DefaultLimits().Decode(cms)
}

// Decode joins the ConfigMaps of one node's snapshot and decodes it, in any encoding a
// collector of this or an earlier version writes. It reports complete false, with no
// error, while some chunks have not arrived yet. A snapshot over one of l is refused with
// a *LimitError before it costs more than what its limit allows.
func (l Limits) Decode(cms []corev1.ConfigMap) (snap *netstack.NodeSnapshot, complete bool, err error) {
	l = l.withDefaults()
	if len(cms) == 0 {
		return nil, false, nil
	}
	if len(cms) > l.MaxChunks {
		return nil, false, overCount("chunk count", l.MaxChunks)
	}
	var parts [][]byte
	var seen []bool
	got, total, compressed := 0, -1, 0
	encoding := ""
	for _, cm := range cms {
		var i, n int
		if _, err := fmt.Sscanf(cm.Annotations[AnnotationChunk], "%d/%d", &i, &n); err != nil {
			return nil, false, fmt.Errorf("ConfigMap %s has no valid %s annotation: %w", cm.Name, AnnotationChunk, err)
		}
		if total >= 0 && n != total {
			return nil, false, fmt.Errorf("ConfigMap %s says %d chunks, another says %d", cm.Name, n, total)
		}
		if n > l.MaxChunks {
			return nil, false, overCount("chunk count", l.MaxChunks)
		}
		if i < 0 || i >= n {
			return nil, false, fmt.Errorf("ConfigMap %s is chunk %d of %d", cm.Name, i, n)
		}
		if total < 0 {
			parts, seen = make([][]byte, n), make([]bool, n)
		}
		total = n
		enc, ok := cm.Annotations[AnnotationEncoding]
		if !ok {
			enc = EncodingGzipJSON
		}
		key, known := dataKeys[enc]
		if !known {
			return nil, false, fmt.Errorf("ConfigMap %s: snapshot encoding %q unknown; this version reads %q and %q", cm.Name, enc, EncodingCompact, EncodingGzipJSON)
		}
		if encoding != "" && enc != encoding {
			return nil, false, fmt.Errorf("ConfigMap %s has snapshot encoding %q, another %q", cm.Name, enc, encoding)
		}
		encoding = enc
		data, ok := cm.BinaryData[key]
		if !ok {
			return nil, false, fmt.Errorf("ConfigMap %s of snapshot encoding %q has no %s", cm.Name, enc, key)
		}
		if len(data) > l.MaxChunkSize {
			return nil, false, overBytes("compressed chunk size", l.MaxChunkSize)
		}
		if compressed += len(data); compressed > l.MaxCompressedSize {
			return nil, false, overBytes("compressed size", l.MaxCompressedSize)
		}
		if seen[i] {
			return nil, false, fmt.Errorf("ConfigMap %s holds chunk %d, and another too", cm.Name, i)
		}
		parts[i], seen[i] = data, true
		got++
	}
	if got < total {
		return nil, false, nil
	}
	joined := func() io.Reader { return joinedChunks(parts) }
	if encoding == EncodingCompact {
		snap, err = decodeCompact(joined, l)
	} else {
		snap, err = decodeGzip(joined, l)
	}
	if err != nil {
		return nil, true, fmt.Errorf("decode snapshot (%s): %w", encoding, err)
	}
	if snap.Version != netstack.Version {
		return nil, true, fmt.Errorf("snapshot version %q, want %q", snap.Version, netstack.Version)
	}
	snap.Index()
	return snap, true, nil
}

// decodeGzip reads EncodingGzipJSON, bounded as decodeCompact is.
func decodeGzip(joined func() io.Reader, l Limits) (*netstack.NodeSnapshot, error) {
	js, err := readBounded(func() (io.ReadCloser, error) { return gzip.NewReader(joined()) }, l.MaxDecodedSize)
	if err != nil {
		return nil, err
	}
	if err := checkJSON(js, l.MaxJSONDepth, l.MaxJSONValues); err != nil {
		return nil, err
	}
	snap := &netstack.NodeSnapshot{}
	if err := json.Unmarshal(js, snap); err != nil {
		return nil, fmt.Errorf("unmarshal: %w", err)
	}
	return snap, nil
}

// ChunkName is the name of chunk i of a node's snapshot with the given prefix.
func ChunkName(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }

// SetOwner makes the collector pod named pod (of UID uid) the owner of every ConfigMap in
// cms: the controller accepts a snapshot only from the pod it created for the node, and the
// garbage collector deletes the snapshot with its pod. The reference does not block the
// pod's deletion, which would need more rights than a collector has.
func SetOwner(cms []*corev1.ConfigMap, pod string, uid types.UID) {
	for _, cm := range cms {
		cm.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Pod", Name: pod, UID: uid, Controller: ptr.To(true),
		}}
	}
}
