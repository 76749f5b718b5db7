package calico

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
)

func calicoNode(env ...corev1.EnvVar) appsv1.DaemonSet {
	ds := appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "calico-node"}}
	ds.Spec.Template.Spec.Containers = []corev1.Container{{Name: "calico-node", Image: "docker.io/calico/node:v3.30.3", Env: env}}
	return ds
}

func TestMode(t *testing.T) {
	vxlanDev := netstack.Interface{Name: "vxlan.calico", Kind: "vxlan", Up: true, VXLAN: &netstack.VXLANAttrs{VNI: 4096, Port: 4789}}
	tunl := netstack.Interface{Name: "tunl0", Kind: "ipip", Up: true}
	viaTunl := netstack.Route{Table: netstack.TableMain, Dst: netip.MustParsePrefix("10.244.1.0/26"), Gateway: netip.MustParseAddr("172.18.1.3"), Device: "tunl0", OnLink: true}
	type want struct {
		Mode        string
		CrossSubnet bool
	}
	cases := map[string]struct {
		cfg   string
		ds    []appsv1.DaemonSet
		node  *corev1.Node
		stack *netstack.Netstack
		want  want
	}{
		"the vxlan device decides": {
			stack: &netstack.Netstack{Interfaces: []netstack.Interface{vxlanDev}},
			want:  want{Mode: ModeVXLAN},
		},
		"tunl0 with routes on it is ipip": {
			stack: &netstack.Netstack{Interfaces: []netstack.Interface{tunl}, Routes: []netstack.Route{viaTunl}},
			want:  want{Mode: ModeIPIP},
		},
		"tunl0 alone exists wherever the ipip module is loaded: routed": {
			stack: &netstack.Netstack{Interfaces: []netstack.Interface{tunl}},
			want:  want{Mode: ModeRouted},
		},
		"the vxlan backend in the DaemonSet, node not collected": {
			ds:   []appsv1.DaemonSet{calicoNode(corev1.EnvVar{Name: EnvNetworkingBackend, Value: "vxlan"})},
			want: want{Mode: ModeVXLAN},
		},
		"the pool's vxlan CrossSubnet": {
			ds:   []appsv1.DaemonSet{calicoNode(corev1.EnvVar{Name: EnvNetworkingBackend, Value: "bird"}, corev1.EnvVar{Name: EnvPoolVXLAN, Value: "CrossSubnet"})},
			want: want{Mode: ModeVXLAN, CrossSubnet: true},
		},
		"the pool's ipip Always, the manifest's default": {
			ds:   []appsv1.DaemonSet{calicoNode(corev1.EnvVar{Name: EnvPoolIPIP, Value: "Always"})},
			want: want{Mode: ModeIPIP},
		},
		"bird without encapsulation": {
			ds:   []appsv1.DaemonSet{calicoNode(corev1.EnvVar{Name: EnvNetworkingBackend, Value: "bird"}, corev1.EnvVar{Name: EnvPoolIPIP, Value: "Never"})},
			want: want{Mode: ModeRouted},
		},
		"the node's tunnel annotation": {
			node: &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: map[string]string{AnnotationVXLANTunnelAddr: "10.244.1.0"}}},
			want: want{Mode: ModeVXLAN},
		},
		"devices before the DaemonSet": {
			ds:    []appsv1.DaemonSet{calicoNode(corev1.EnvVar{Name: EnvPoolIPIP, Value: "Always"})},
			stack: &netstack.Netstack{Interfaces: []netstack.Interface{vxlanDev}},
			want:  want{Mode: ModeVXLAN},
		},
		"the flag before everything": {
			cfg:   ModeRouted,
			stack: &netstack.Netstack{Interfaces: []netstack.Interface{vxlanDev}},
			want:  want{Mode: ModeRouted},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			env := &plugin.Env{Cluster: &cluster.Snapshot{DaemonSets: tc.ds}}
			p := New(env, Config{Mode: tc.cfg})
			var got want
			got.Mode, got.CrossSubnet = p.Mode(tc.node, tc.stack)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Mode (-want +got):\n%s", d)
			}
		})
	}
}

func TestVethName(t *testing.T) {
	// The names calico's CNI plugin gives: "cali" + sha1("namespace.name")[:11] in hex.
	cases := map[string]struct{ prefix, ns, name, want string }{
		"default prefix":  {"cali", "default", "db", "calie57ed5aa5ae"},
		"another pod":     {"cali", "default", "client", "calia7a3e029a7b"},
		"FELIX prefix":    {"eni", "default", "db", "enie57ed5aa5ae"},
		"kube-system pod": {"cali", "kube-system", "coredns-7db6d8ff4d-x2x9q", VethName("cali", "kube-system", "coredns-7db6d8ff4d-x2x9q")},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := VethName(tc.prefix, tc.ns, tc.name)
			if got != tc.want {
				t.Errorf("VethName(%q, %q, %q) = %q, want %q", tc.prefix, tc.ns, tc.name, got, tc.want)
			}
			if len(got) > 15 {
				t.Errorf("%q is longer than IFNAMSIZ-1", got)
			}
		})
	}
}

func TestBlocks(t *testing.T) {
	hole := func(p string) netstack.Route {
		return netstack.Route{Table: netstack.TableMain, Type: netstack.RouteBlackhole, Dst: netip.MustParsePrefix(p), Protocol: "bird"}
	}
	withCIDR := &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.244.3.0/24", PodCIDRs: []string{"10.244.3.0/24"}}}
	cases := map[string]struct {
		node  *corev1.Node
		stack *netstack.Netstack
		want  []netip.Prefix
	}{
		"the blackholes BIRD installs, one per affine block": {
			stack: &netstack.Netstack{Routes: []netstack.Route{hole("10.244.1.0/26"), hole("10.244.1.64/26"), {Table: netstack.TableMain, Dst: netip.MustParsePrefix("10.244.2.0/26"), Device: "eth0"}}},
			node:  withCIDR,
			want:  []netip.Prefix{netip.MustParsePrefix("10.244.1.0/26"), netip.MustParsePrefix("10.244.1.64/26")},
		},
		"a /32 blackhole is no block": {
			stack: &netstack.Netstack{Routes: []netstack.Route{hole("10.244.1.7/32")}},
		},
		"the pod CIDR when the node has no blackhole (usePodCidr)": {
			stack: &netstack.Netstack{},
			node:  withCIDR,
			want:  []netip.Prefix{netip.MustParsePrefix("10.244.3.0/24")},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, Blocks(tc.node, tc.stack), cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); d != "" {
				t.Errorf("Blocks (-want +got):\n%s", d)
			}
		})
	}
}
