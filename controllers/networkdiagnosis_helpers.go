package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/transport"
)

const (
	// Finalizer is what earlier versions kept a NetworkDiagnosis with until its children
	// were deleted. It is added no more: a diagnosis must go with its CRD even when no
	// controller runs, and the orphan collectors delete its children. The controller removes
	// it from a finished diagnosis once the children are gone.
	Finalizer = "diagnosis.netdiag.dev/cleanup"

	// LabelGeneration holds the spec generation a collector pod works for, so that a rerun
	// after a spec change never mistakes the previous run's pods for its own.
	LabelGeneration = "diagnosis.netdiag.dev/generation"

	// AnnotationDiagnosis names the NetworkDiagnosis (namespace/name) a collector pod works
	// for, for people reading the pod; the controller finds its pods by label.
	AnnotationDiagnosis = "diagnosis.netdiag.dev/diagnosis"

	// CollectorServiceAccount is the service account collector pods run as. Its Role allows
	// only writing ConfigMaps in the controller's namespace, and the admission policy of
	// config/collector only those its own pod owns.
	CollectorServiceAccount = "netdiag-collector"

	// DefaultCollectorPriorityClass is the PriorityClass config/manager ships for collector
	// pods, below every workload's.
	DefaultCollectorPriorityClass = "netdiag-collector"

	// collectorContainer is the name of the collector pod's only container.
	collectorContainer = "collect"

	labelName      = "app.kubernetes.io/name"
	labelManagedBy = "app.kubernetes.io/managed-by"
	appName        = "netdiag"

	// uidIndex indexes NetworkDiagnoses by UID, the value children carry in their labels.
	uidIndex = ".metadata.uid"

	// netnsDir is where the container runtimes (and the lab) bind-mount pod network
	// namespaces; the collector finds them there or through /proc/<pid>/ns/net.
	netnsDir = "/var/run/netns"
)

// childLabels are the labels every child (collector pod or snapshot ConfigMap) of a
// diagnosis carries.
func childLabels(nd *diagv1alpha1.NetworkDiagnosis) map[string]string {
	return map[string]string{transport.LabelDiagnosis: string(nd.UID)}
}

// collectorPodName is the deterministic name of a diagnosis's collector on a node for the
// current generation: a requeue or a restarted controller computes the same name and finds
// the pod instead of creating a second one. The hash keeps names of concurrent diagnoses
// apart; the readable parts are for people listing pods.
func collectorPodName(nd *diagv1alpha1.NetworkDiagnosis, node string) string {
	sum := sha256.Sum256([]byte(string(nd.UID) + "/" + strconv.FormatInt(nd.Generation, 10) + "/" + node))
	return "netdiag-" + dnsPart(nd.Name, 20) + "-" + dnsPart(node, 20) + "-" + hex.EncodeToString(sum[:])[:10]
}

// snapshotPrefix is the prefix of the snapshot ConfigMaps the collector of a node writes.
// The pod name is already unique per diagnosis, generation and node.
func snapshotPrefix(nd *diagv1alpha1.NetworkDiagnosis, node string) string {
	return collectorPodName(nd, node)
}

// dnsPart turns s into at most n characters usable inside a DNS label.
func dnsPart(s string, n int) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	if len(b) > n {
		b = b[:n]
	}
	return strings.Trim(string(b), "-")
}

// collectorConfig is what every collector pod shares, from the manager's flags.
type collectorConfig struct {
	Image     string
	Namespace string
	// PriorityClassName is the collectors' PriorityClass; none when empty.
	PriorityClassName string
	// TolerateControlPlane adds the control-plane role's taint to what collectors tolerate.
	TolerateControlPlane bool
	// APIServerArgs send the collector straight to the API server's endpoints; with none it
	// goes through the kubernetes Service.
	APIServerArgs []string
}

// collectorPod builds the pod that collects node's state for nd. pods are the pods on that
// node whose namespaces the engine needs; probe, when set, asks this collector to send a
// real connection attempt from the source.
func collectorPod(cfg collectorConfig, nd *diagv1alpha1.NetworkDiagnosis, node string, pods []netstack.PodRef, probe []string, deadline int64) *corev1.Pod {
	name := collectorPodName(nd, node)
	args := []string{
		"collect",
		"--node", node,
		"--upload-namespace", cfg.Namespace,
		"--diagnosis-uid", string(nd.UID),
		"--snapshot-prefix", snapshotPrefix(nd, node),
	}
	for _, p := range pods {
		args = append(args, "--pod", p.Namespace+"/"+p.Name+"="+p.IP.String())
	}
	args = append(args, cfg.APIServerArgs...)
	args = append(args, probe...)

	labels := childLabels(nd)
	labels[transport.LabelComponent] = transport.ComponentCollector
	labels[LabelGeneration] = strconv.FormatInt(nd.Generation, 10)
	labels[labelName] = appName
	labels[labelManagedBy] = appName
	if len(node) <= 63 {
		labels[transport.LabelNode] = node
	}
	hostPathDir := corev1.HostPathDirectoryOrCreate

	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   cfg.Namespace,
			Labels:      labels,
			Annotations: map[string]string{AnnotationDiagnosis: nd.Namespace + "/" + nd.Name},
		},
		Spec: corev1.PodSpec{
			NodeName: node,
			// The collector reads the node's own stack and, through the host's /proc, the
			// pods' namespaces.
			HostNetwork: true,
			HostPID:     true,
			DNSPolicy:   corev1.DNSClusterFirstWithHostNet,
			// A collector runs once; a failure is reported, not retried behind our back.
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         ptr.To(deadline),
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			ServiceAccountName:            CollectorServiceAccount,
			AutomountServiceAccountToken:  ptr.To(true),
			// Below every workload: under pressure a collector is the first to go.
			PriorityClassName: cfg.PriorityClassName,
			Tolerations:       collectorTolerations(cfg.TolerateControlPlane),
			Containers: []corev1.Container{{
				Name:            collectorContainer,
				Image:           cfg.Image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"netdiag"},
				Args:            args,
				Env: []corev1.EnvVar{{
					Name:      "NODE_NAME",
					ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
				}, {
					// The collector's own pod owns its snapshot: the controller trusts no other.
					Name:      "POD_NAME",
					ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
				}, {
					Name:      "POD_UID",
					ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
				}},
				SecurityContext: CollectorSecurityContext(),
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("50m"),
						corev1.ResourceMemory: resource.MustParse("64Mi"),
					},
					Limits: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("1"),
						corev1.ResourceMemory: resource.MustParse("256Mi"),
					},
				},
				VolumeMounts: []corev1.VolumeMount{{
					Name: "netns", MountPath: netnsDir, ReadOnly: true,
					// Namespaces mounted after the pod started must show up too.
					MountPropagation: ptr.To(corev1.MountPropagationHostToContainer),
				}},
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
			}},
			Volumes: []corev1.Volume{{
				Name:         "netns",
				VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: netnsDir, Type: &hostPathDir}},
			}},
		},
	}
}

// probeArgs are the collector flags that make the source's node send a real connection
// attempt to the resolved destination's address, nil when none may be sent (probeRefusal).
func probeArgs(q model.Question) []string {
	if probeRefusal(q) != "" {
		return nil
	}
	from := "node"
	if q.Source.Type == model.EndpointPod {
		from = "pod:" + q.Source.Namespace + "/" + q.Source.Name
	}
	args := []string{"--probe-from", from, "--probe-to", q.Destination.IP.String(), "--probe-protocol", string(q.Protocol)}
	if q.Protocol != model.ICMP {
		args = append(args, "--probe-port", strconv.Itoa(int(q.Port)))
	}
	return args
}

// probeRefusal says why no probe is sent for the question, or "". The probe goes only where
// the diagnosis goes, the resolved destination, and never to an address the collector
// refuses (collector.CheckProbeTarget): a pod or service that resolves to loopback or
// link-local would otherwise point a privileged collector at its node or a metadata service.
func probeRefusal(q model.Question) string {
	if q.Source.Type != model.EndpointPod && q.Source.Type != model.EndpointNode {
		return "a source outside the cluster cannot be probed from"
	}
	if q.Protocol == model.SCTP {
		return "the probe sends TCP, UDP and ICMP only, not SCTP; the answer comes from the rules alone"
	}
	if err := collector.CheckProbeTarget(q.Destination.IP); err != nil {
		return "the destination " + err.Error()
	}
	return ""
}

// probeResult is what the status says of the probe: why none was sent, or what the source's
// collector observed (nil until it reported).
func probeResult(q model.Question, src *netstack.NodeSnapshot) *diagv1alpha1.ProbeResult {
	if why := probeRefusal(q); why != "" {
		return &diagv1alpha1.ProbeResult{Inconclusive: true, Message: "probe not sent: " + why}
	}
	if src == nil || src.Probe == nil {
		return nil
	}
	return &diagv1alpha1.ProbeResult{Reachable: src.Probe.Reachable, Inconclusive: src.Probe.Inconclusive, Message: truncate(src.Probe.Message, maxMessage)}
}

// endpointRefs turns the spec's source and destination into references the cluster
// snapshot resolves. Namespaces default to the diagnosis's own.
func endpointRefs(nd *diagv1alpha1.NetworkDiagnosis) (src, dst cluster.EndpointRef, err error) {
	s, d := nd.Spec.Source, nd.Spec.Destination
	src, err = endpointRef(nd.Namespace, s.Pod, s.Node, nil, s.IP)
	if err != nil {
		return src, dst, fmt.Errorf("spec.source: %w", err)
	}
	dst, err = endpointRef(nd.Namespace, d.Pod, d.Node, d.Service, d.IP)
	if err != nil && d.Name == "" {
		return src, dst, fmt.Errorf("spec.destination: %w", err)
	}
	return src, dst, nil
}

func endpointRef(namespace string, pod *diagv1alpha1.PodReference, node *diagv1alpha1.NodeReference, svc *diagv1alpha1.ServiceReference, ip string) (cluster.EndpointRef, error) {
	switch {
	case pod != nil:
		return cluster.EndpointRef{Type: model.EndpointPod, Namespace: orDefault(pod.Namespace, namespace), Name: pod.Name}, nil
	case node != nil:
		return cluster.EndpointRef{Type: model.EndpointNode, Name: node.Name}, nil
	case svc != nil:
		return cluster.EndpointRef{Type: model.EndpointService, Namespace: orDefault(svc.Namespace, namespace), Name: svc.Name}, nil
	case ip != "":
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return cluster.EndpointRef{}, fmt.Errorf("ip %q: %w", ip, err)
		}
		return cluster.EndpointRef{Type: model.EndpointExternal, IP: addr.Unmap()}, nil
	}
	return cluster.EndpointRef{}, fmt.Errorf("names no endpoint")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// question builds the engine's question from the spec and the resolved endpoints.
func question(spec diagv1alpha1.NetworkDiagnosisSpec, src, dst model.Endpoint) model.Question {
	q := model.Question{Source: src, Destination: dst, Protocol: model.Protocol(orDefault(string(spec.Protocol), string(model.TCP)))}
	if spec.Port != nil {
		q.Port = uint16(*spec.Port)
	}
	if spec.PacketSize != nil {
		q.Size = int(*spec.PacketSize)
	}
	q.DontFragment = spec.DontFragment
	q.EntryNodes = spec.EntryNodes
	return q
}

// timeout is the spec's timeout, or the API default when an old object lacks it.
func timeout(spec diagv1alpha1.NetworkDiagnosisSpec) metav1.Duration {
	if spec.Timeout == nil || spec.Timeout.Duration <= 0 {
		return metav1.Duration{Duration: defaultTimeout}
	}
	return *spec.Timeout
}
