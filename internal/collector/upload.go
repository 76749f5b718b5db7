package collector

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

// maxStaleChunks bounds the clean-up of chunks a previous, larger upload left behind.
const maxStaleChunks = 64

// Destination says where a snapshot is uploaded and who uploads it.
type Destination struct {
	// Namespace, Prefix and DiagnosisUID place and label the ConfigMaps (transport.Encode).
	Namespace, Prefix, DiagnosisUID string
	// Pod and PodUID are the collector's own pod, which owns every ConfigMap it writes:
	// the controller accepts no snapshot from another writer, the admission policy lets
	// a collector write no ConfigMap but its own, and the garbage collector removes the
	// snapshot with its pod.
	Pod    string
	PodUID types.UID
}

// Upload sends a snapshot to the API server as the ConfigMaps transport.Encode makes, owned
// by the collector's pod. A ConfigMap that exists already (the same pod uploading again) is
// replaced, and higher-numbered chunks of an earlier, larger snapshot are deleted, so
// uploading twice leaves exactly the second snapshot. The collector's service account needs
// create, update and delete on ConfigMaps in the namespace.
func Upload(ctx context.Context, cs kubernetes.Interface, snap *netstack.NodeSnapshot, dst Destination) error {
	log := logr.FromContextOrDiscard(ctx)
	if dst.Pod == "" || dst.PodUID == "" {
		return errors.New("upload snapshot: the collector's own pod name and UID are required, the owner of what it writes")
	}
	cms, err := transport.Encode(snap, dst.Namespace, dst.Prefix, dst.DiagnosisUID)
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	transport.SetOwner(cms, dst.Pod, dst.PodUID)
	client := cs.CoreV1().ConfigMaps(dst.Namespace)
	for _, cm := range cms {
		if err := put(ctx, client, cm); err != nil {
			return err
		}
		log.V(2).Info("Uploaded snapshot chunk", "configMap", dst.Namespace+"/"+cm.Name, "bytes", len(cm.BinaryData))
	}
	for i := len(cms); i < len(cms)+maxStaleChunks; i++ {
		name := transport.ChunkName(dst.Prefix, i)
		err := client.Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if err != nil {
			// Left-over chunks make the snapshot look inconsistent to the reader rather
			// than wrong; not being allowed to delete them is worth a log line only.
			log.Error(err, "Cannot delete stale snapshot chunk", "configMap", dst.Namespace+"/"+name)
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
