package controllers

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

func TestCollectorPodName(t *testing.T) {
	nd := func(name, uid string, gen int64) *diagv1alpha1.NetworkDiagnosis {
		return &diagv1alpha1.NetworkDiagnosis{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(uid), Generation: gen}}
	}
	long := strings.Repeat("very-long-name.", 15) + "x"
	base := collectorPodName(nd("web-to-db", "u1", 1), "node-1")
	cases := map[string]struct {
		name string
		same bool
	}{
		"the same diagnosis, generation and node": {name: collectorPodName(nd("web-to-db", "u1", 1), "node-1"), same: true},
		"another diagnosis of the same name":      {name: collectorPodName(nd("web-to-db", "u2", 1), "node-1")},
		"the next generation":                     {name: collectorPodName(nd("web-to-db", "u1", 2), "node-1")},
		"another node":                            {name: collectorPodName(nd("web-to-db", "u1", 1), "node-2")},
		"long names with dots":                    {name: collectorPodName(nd(long, "u1", 1), long)},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if (tc.name == base) != tc.same {
				t.Errorf("name %q vs %q: same = %v, want %v", tc.name, base, tc.name == base, tc.same)
			}
			// A DNS label: valid as a pod name and as a ConfigMap prefix, and short.
			if errs := validation.IsDNS1123Label(tc.name); len(errs) > 0 {
				t.Errorf("name %q: %v", tc.name, errs)
			}
		})
	}
}

func TestProbeArgs(t *testing.T) {
	dst := model.Endpoint{Type: model.EndpointService, Namespace: "shop", Name: "db", IP: netip.MustParseAddr("10.96.0.10")}
	cases := map[string]struct {
		q    model.Question
		want []string
	}{
		"from a pod over TCP": {
			q:    model.Question{Source: model.Endpoint{Type: model.EndpointPod, Namespace: "shop", Name: "web"}, Destination: dst, Protocol: model.TCP, Port: 5432},
			want: []string{"--probe-from", "pod:shop/web", "--probe-to", "10.96.0.10", "--probe-protocol", "TCP", "--probe-port", "5432"},
		},
		"from a node with ICMP": {
			q:    model.Question{Source: model.Endpoint{Type: model.EndpointNode, Name: "n1"}, Destination: dst, Protocol: model.ICMP},
			want: []string{"--probe-from", "node", "--probe-to", "10.96.0.10", "--probe-protocol", "ICMP"},
		},
		"from outside the cluster": {
			q: model.Question{Source: model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr("203.0.113.1")}, Destination: dst, Protocol: model.TCP, Port: 5432},
		},
		"to a pod whose address is loopback": {
			q: model.Question{Source: model.Endpoint{Type: model.EndpointPod, Namespace: "shop", Name: "web"}, Protocol: model.TCP, Port: 2379,
				Destination: model.Endpoint{Type: model.EndpointPod, Namespace: "shop", Name: "etcd-proxy", IP: netip.MustParseAddr("127.0.0.1")}},
		},
		"to a node whose address is link-local": {
			q: model.Question{Source: model.Endpoint{Type: model.EndpointNode, Name: "n1"}, Protocol: model.ICMP,
				Destination: model.Endpoint{Type: model.EndpointNode, Name: "n2", IP: netip.MustParseAddr("169.254.169.254")}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, probeArgs(tc.q)); diff != "" {
				t.Errorf("probeArgs() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestProbeResult(t *testing.T) {
	web := model.Endpoint{Type: model.EndpointPod, Namespace: "shop", Name: "web", Node: "n1"}
	to := func(ip string) model.Question {
		return model.Question{Source: web, Destination: model.Endpoint{Type: model.EndpointService, Namespace: "shop", Name: "db", IP: netip.MustParseAddr(ip)}, Protocol: model.TCP, Port: 5432}
	}
	observed := &netstack.NodeSnapshot{Node: "n1", Probe: &netstack.ProbeResult{Reachable: true, Message: "TCP connection to 10.96.0.10:5432 established"}}
	cases := map[string]struct {
		q    model.Question
		src  *netstack.NodeSnapshot
		want *diagv1alpha1.ProbeResult
	}{
		"what the source's collector observed": {
			q: to("10.96.0.10"), src: observed,
			want: &diagv1alpha1.ProbeResult{Reachable: true, Message: "TCP connection to 10.96.0.10:5432 established"},
		},
		"nothing before the source's collector reported": {q: to("10.96.0.10")},
		"a destination that resolved to loopback, whatever a snapshot says": {
			q: to("127.0.0.1"), src: observed,
			want: &diagv1alpha1.ProbeResult{Inconclusive: true, Message: "probe not sent: the destination 127.0.0.1 is a loopback address, which a probe never targets"},
		},
		"a destination that resolved to the metadata service": {
			q:    to("169.254.169.254"),
			want: &diagv1alpha1.ProbeResult{Inconclusive: true, Message: "probe not sent: the destination 169.254.169.254 is a link-local address, which a probe never targets"},
		},
		"a source outside the cluster": {
			q:    model.Question{Source: model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr("203.0.113.1")}, Destination: to("10.96.0.10").Destination, Protocol: model.TCP, Port: 5432},
			want: &diagv1alpha1.ProbeResult{Inconclusive: true, Message: "probe not sent: a source outside the cluster cannot be probed from"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, probeResult(tc.q, tc.src)); diff != "" {
				t.Errorf("probeResult() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEndpointRefs(t *testing.T) {
	cases := map[string]struct {
		spec             diagv1alpha1.NetworkDiagnosisSpec
		wantSrc, wantDst cluster.EndpointRef
	}{
		"namespaces default to the diagnosis's": {
			spec:    MakeDiagnosis("d", "shop").FromPod("web").ToService("db", 5432).Obj().Spec,
			wantSrc: cluster.EndpointRef{Type: model.EndpointPod, Namespace: "shop", Name: "web"},
			wantDst: cluster.EndpointRef{Type: model.EndpointService, Namespace: "shop", Name: "db"},
		},
		"explicit namespaces win": {
			spec: diagv1alpha1.NetworkDiagnosisSpec{
				Source:      diagv1alpha1.Source{Pod: &diagv1alpha1.PodReference{Namespace: "front", Name: "web"}},
				Destination: diagv1alpha1.Destination{Service: &diagv1alpha1.ServiceReference{Namespace: "data", Name: "db"}},
			},
			wantSrc: cluster.EndpointRef{Type: model.EndpointPod, Namespace: "front", Name: "web"},
			wantDst: cluster.EndpointRef{Type: model.EndpointService, Namespace: "data", Name: "db"},
		},
		"a node to an address": {
			spec:    MakeDiagnosis("d", "shop").FromNode("n1").ToIP("::ffff:10.0.0.1").Obj().Spec,
			wantSrc: cluster.EndpointRef{Type: model.EndpointNode, Name: "n1"},
			wantDst: cluster.EndpointRef{Type: model.EndpointExternal, IP: netip.MustParseAddr("10.0.0.1")},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			nd := &diagv1alpha1.NetworkDiagnosis{ObjectMeta: metav1.ObjectMeta{Namespace: "shop"}, Spec: tc.spec}
			src, dst, err := endpointRefs(nd)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantSrc, src, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("source (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantDst, dst, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("destination (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStripObjectKeepsWhatTheEngineReads(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"},
			Annotations:   map[string]string{lastApplied: strings.Repeat("x", 4096), "keep": "me"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		},
		Spec: corev1.PodSpec{
			NodeName: "n1", HostNetwork: false,
			Containers: []corev1.Container{{
				Name: "app", Image: "app:1", Command: []string{"serve"}, Env: []corev1.EnvVar{{Name: "SECRET", Value: "x"}},
				Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			}},
			Volumes: []corev1.Volume{{Name: "data"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.5", PodIPs: []corev1.PodIP{{IP: "10.244.1.5"}}},
	}
	out, err := stripObject(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"keep": "me"}},
		Spec: corev1.PodSpec{
			NodeName:   "n1",
			Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.1.5", PodIPs: []corev1.PodIP{{IP: "10.244.1.5"}}},
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("stripObject(pod) (-want +got):\n%s", diff)
	}

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24"},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.1"}},
			Images:    []corev1.ContainerImage{{Names: []string{"big:1"}, SizeBytes: 1 << 30}},
			NodeInfo:  corev1.NodeSystemInfo{KernelVersion: "6.12", MachineID: "abc"},
		},
	}
	out, _ = stripObject(node)
	wantNode := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24"},
		Status: corev1.NodeStatus{
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.1"}},
			NodeInfo:  corev1.NodeSystemInfo{KernelVersion: "6.12"},
		},
	}
	if diff := cmp.Diff(wantNode, out); diff != "" {
		t.Errorf("stripObject(node) (-want +got):\n%s", diff)
	}
}

// The packet size a spec asks about reaches the engine's question.
func TestQuestionCarriesThePacketSize(t *testing.T) {
	size := int32(1400)
	q := question(diagv1alpha1.NetworkDiagnosisSpec{Protocol: diagv1alpha1.ProtocolICMP, PacketSize: &size, DontFragment: true}, model.Endpoint{}, model.Endpoint{})
	if q.Size != 1400 || !q.DontFragment {
		t.Errorf("question size %d, DF %v: want 1400 with DF", q.Size, q.DontFragment)
	}
	if q := question(diagv1alpha1.NetworkDiagnosisSpec{}, model.Endpoint{}, model.Endpoint{}); q.Size != 0 || q.DontFragment {
		t.Errorf("a spec without a size asks about size %d, DF %v", q.Size, q.DontFragment)
	}
}
