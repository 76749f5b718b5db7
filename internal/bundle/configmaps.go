package bundle

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/transport"
)

const (
	// ComponentBundle is the component label of the ConfigMaps that hold a kept bundle.
	ComponentBundle = "bundle"
	// dataKey is where a bundle ConfigMap keeps its part of the tarball.
	dataKey = "bundle.tar.gz"
	// MaxChunks bounds the ConfigMaps one bundle is read from: 64 of them hold 56 MiB of
	// compressed tarball, a cluster far larger than the performance figures' largest.
	MaxChunks = 64
)

// Prefix is the prefix of the names of the ConfigMaps holding the bundle of the diagnosis
// of UID uid: one set per diagnosis, which a rerun after a spec change replaces.
func Prefix(uid types.UID) string { return "netdiag-bundle-" + string(uid) }

// ConfigMaps splits a bundle's tarball into ConfigMaps in namespace, labelled with the
// diagnosis's UID as its other children are, each under the API server's object limit.
func ConfigMaps(tarball []byte, namespace string, uid types.UID) []*corev1.ConfigMap {
	var chunks [][]byte
	for len(tarball) > transport.ChunkSize {
		chunks = append(chunks, tarball[:transport.ChunkSize])
		tarball = tarball[transport.ChunkSize:]
	}
	chunks = append(chunks, tarball)
	cms := make([]*corev1.ConfigMap, len(chunks))
	for i, c := range chunks {
		cms[i] = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: transport.ChunkName(Prefix(uid), i), Namespace: namespace,
				Labels:      map[string]string{transport.LabelDiagnosis: string(uid), transport.LabelComponent: ComponentBundle},
				Annotations: map[string]string{transport.AnnotationChunk: fmt.Sprintf("%d/%d", i, len(chunks))},
			},
			BinaryData: map[string][]byte{dataKey: c},
		}
	}
	return cms
}

// ErrNotKept says that no bundle was kept for a diagnosis.
var ErrNotKept = errors.New("no bundle kept: the diagnosis must have finished with spec.keepSnapshots true (or the manager's --keep-snapshots)")

// Get reads the bundle the controller keeps for the NetworkDiagnosis key, from the
// ConfigMaps in controllerNamespace. c needs get on the NetworkDiagnosis and list on
// ConfigMaps in controllerNamespace. This is what `netdiag bundle` and `kubectl netdiag
// bundle` call.
func Get(ctx context.Context, c client.Reader, key types.NamespacedName, controllerNamespace string) (*Bundle, error) {
	nd := &diagv1alpha1.NetworkDiagnosis{}
	if err := c.Get(ctx, key, nd); err != nil {
		return nil, fmt.Errorf("read NetworkDiagnosis %s: %w", key, err)
	}
	list := &corev1.ConfigMapList{}
	sel := client.MatchingLabels{transport.LabelDiagnosis: string(nd.UID), transport.LabelComponent: ComponentBundle}
	if err := c.List(ctx, list, client.InNamespace(controllerNamespace), sel); err != nil {
		return nil, fmt.Errorf("list the bundle ConfigMaps of NetworkDiagnosis %s in %s: %w", key, controllerNamespace, err)
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("NetworkDiagnosis %s: %w", key, ErrNotKept)
	}
	tarball, err := join(list.Items)
	if err != nil {
		return nil, fmt.Errorf("bundle of NetworkDiagnosis %s: %w", key, err)
	}
	return ReadTarball("NetworkDiagnosis "+key.String(), tarball)
}

// join puts the tarball back together from its ConfigMaps, in any order.
func join(cms []corev1.ConfigMap) ([]byte, error) {
	if len(cms) > MaxChunks {
		return nil, fmt.Errorf("%d ConfigMaps, more than %d", len(cms), MaxChunks)
	}
	parts := make([][]byte, len(cms))
	for _, cm := range cms {
		var i, n int
		if _, err := fmt.Sscanf(cm.Annotations[transport.AnnotationChunk], "%d/%d", &i, &n); err != nil {
			return nil, fmt.Errorf("ConfigMap %s has no valid %s annotation: %w", klog.KObj(&cm), transport.AnnotationChunk, err)
		}
		if n != len(cms) || i < 0 || i >= n {
			return nil, fmt.Errorf("ConfigMap %s is chunk %d of %d, and %d ConfigMaps are there: the bundle is being written or was damaged", klog.KObj(&cm), i, n, len(cms))
		}
		if parts[i] != nil {
			return nil, fmt.Errorf("ConfigMap %s holds chunk %d, and another too", klog.KObj(&cm), i)
		}
		data, ok := cm.BinaryData[dataKey]
		if !ok {
			return nil, fmt.Errorf("ConfigMap %s has no %s", klog.KObj(&cm), dataKey)
		}
		parts[i] = data
	}
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// ExportOptions say where Export writes a bundle and how.
type ExportOptions struct {
	// Path is a folder, or a tarball when it ends in .tar.gz or .tgz.
	Path string
	// Redact replaces names and addresses first (Redact).
	Redact bool
	// Plugins, when set, check a redacted bundle: it must diagnose to the verdict and
	// suspicion codes of the original, or Export writes nothing.
	Plugins *plugin.Registry
}

// Export reads the bundle kept for the NetworkDiagnosis key (Get) and writes it as opts say.
// It returns the question as written, whose Args rerun it with `netdiag diagnose`.
func Export(ctx context.Context, c client.Reader, key types.NamespacedName, controllerNamespace string, opts ExportOptions) (Question, error) {
	b, err := Get(ctx, c, key, controllerNamespace)
	if err != nil {
		return Question{}, err
	}
	if opts.Redact {
		red, err := Redact(b)
		if err != nil {
			return Question{}, fmt.Errorf("redact the bundle of NetworkDiagnosis %s: %w", key, err)
		}
		if opts.Plugins != nil {
			if err := SameAnswer(opts.Plugins, b, red); err != nil {
				return Question{}, fmt.Errorf("redact the bundle of NetworkDiagnosis %s: %w", key, err)
			}
		}
		b = red
	}
	if err := Write(opts.Path, b); err != nil {
		return Question{}, err
	}
	return b.Question, nil
}
