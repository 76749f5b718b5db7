package collector

import (
	"context"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// maxStaleChunks bounds the clean-up of chunks a previous, larger upload left behind.
const maxStaleChunks = 64

// Upload sends a snapshot to the API server as the ConfigMaps transport.Encode makes. A
// ConfigMap that exists already (a restarted collector) is replaced, and higher-numbered
// chunks of an earlier, larger snapshot are deleted, so uploading twice leaves exactly the
// second snapshot. The collector's service account needs create, update and delete on
// ConfigMaps in the namespace.
func Upload(ctx context.Context, cs kubernetes.Interface, snap *netstack.NodeSnapshot, namespace, prefix, diagnosisUID string) error {
	log := logr.FromContextOrDiscard(ctx)
	cms, err := transport.Encode(snap, namespace, prefix, diagnosisUID)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	client := cs.CoreV1().ConfigMaps(namespace)
	for _, cm := range cms {
		if err := put(ctx, client, cm); err != nil {
			return err
		}
		log.V(2).Info("Uploaded snapshot chunk", "configMap", namespace+"/"+cm.Name, "bytes", len(cm.BinaryData))
	}
	for i := len(cms); i < len(cms)+maxStaleChunks; i++ {
		name := transport.ChunkName(prefix, i)
		err := client.Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			// Left-over chunks make the snapshot look inconsistent to the reader rather
			// than wrong; not being allowed to delete them is worth a log line only.
			log.Error(err, "Cannot delete stale snapshot chunk", "configMap", namespace+"/"+name)
			break
		}
	}
	return nil
}

// configMaps is the part of the ConfigMap client Upload uses.
type configMaps interface {
	Create(context.Context, *corev1.ConfigMap, metav1.CreateOptions) (*corev1.ConfigMap, error)
	Update(context.Context, *corev1.ConfigMap, metav1.UpdateOptions) (*corev1.ConfigMap, error)
}

func put(ctx context.Context, client configMaps, cm *corev1.ConfigMap) error {
	_, err := client.Create(ctx, cm, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// An update without a resourceVersion replaces whatever is there: the new snapshot
		// wins over the one a previous run of this collector left.
		_, err = client.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("upload ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return nil
}
