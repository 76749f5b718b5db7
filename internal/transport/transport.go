package transport

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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

	dataKey = "snapshot.json.gz"

	// ChunkSize keeps every ConfigMap well under the API server's 1 MiB object limit.
	ChunkSize = 900 << 10
)

// Encode compresses a node snapshot and splits it into ConfigMaps named
// <prefix>-<index>, labelled with the diagnosis UID and the node.
func Encode(snap *netstack.NodeSnapshot, namespace, prefix, diagnosisUID string) ([]*corev1.ConfigMap, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(snap); err != nil {
		return nil, fmt.Errorf("encode snapshot of node %s: %w", snap.Node, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress snapshot of node %s: %w", snap.Node, err)
	}
	data := buf.Bytes()
	var chunks [][]byte
	for len(data) > ChunkSize {
		chunks = append(chunks, data[:ChunkSize])
		data = data[ChunkSize:]
	}
	chunks = append(chunks, data)

	cms := make([]*corev1.ConfigMap, 0, len(chunks))
	for i, chunk := range chunks {
		cms = append(cms, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name:      ChunkName(prefix, i),
				Namespace: namespace,
				Labels: map[string]string{
					LabelDiagnosis: diagnosisUID,
					LabelNode:      snap.Node,
					LabelComponent: ComponentSnapshot,
				},
				Annotations: map[string]string{AnnotationChunk: fmt.Sprintf("%d/%d", i, len(chunks))},
			},
			BinaryData: map[string][]byte{dataKey: chunk},
		})
	}
	return cms, nil
}

// Decode joins the ConfigMaps of one node's snapshot and decodes it. It reports complete
// false, with no error, while some chunks have not arrived yet.
func Decode(cms []corev1.ConfigMap) (snap *netstack.NodeSnapshot, complete bool, err error) {
	if len(cms) == 0 {
		return nil, false, nil
	}
	type part struct {
		index int
		data  []byte
	}
	parts := make([]part, 0, len(cms))
	total := -1
	for _, cm := range cms {
		var i, n int
		if _, err := fmt.Sscanf(cm.Annotations[AnnotationChunk], "%d/%d", &i, &n); err != nil {
			return nil, false, fmt.Errorf("ConfigMap %s has no valid %s annotation: %w", cm.Name, AnnotationChunk, err)
		}
		if total >= 0 && n != total {
			return nil, false, fmt.Errorf("ConfigMap %s says %d chunks, another says %d", cm.Name, n, total)
		}
		total = n
		parts = append(parts, part{index: i, data: cm.BinaryData[dataKey]})
	}
	if len(parts) < total {
		return nil, false, nil
	}
	slices.SortFunc(parts, func(a, b part) int { return a.index - b.index })
	readers := make([]io.Reader, 0, len(parts))
	for i, p := range parts {
		if p.index != i {
			return nil, false, fmt.Errorf("snapshot chunk %d missing", i)
		}
		readers = append(readers, bytes.NewReader(p.data))
	}
	zr, err := gzip.NewReader(io.MultiReader(readers...))
	if err != nil {
		return nil, true, fmt.Errorf("decompress snapshot: %w", err)
	}
	snap = &netstack.NodeSnapshot{}
	if err := json.NewDecoder(zr).Decode(snap); err != nil {
		return nil, true, fmt.Errorf("decode snapshot: %w", err)
	}
	if snap.Version != netstack.Version {
		return nil, true, fmt.Errorf("snapshot version %q, want %q", snap.Version, netstack.Version)
	}
	return snap, true, nil
}

// ChunkName is the name of chunk i of a node's snapshot with the given prefix.
func ChunkName(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) }
