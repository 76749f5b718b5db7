package policy

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

func TestPolicyTypes(t *testing.T) {
	rule := networkingv1.NetworkPolicyEgressRule{}
	cases := map[string]struct {
		spec                 networkingv1.NetworkPolicySpec
		wantIngress, wantEgr bool
	}{
		"absent, no rules: ingress":               {spec: networkingv1.NetworkPolicySpec{}, wantIngress: true},
		"absent, egress rules: both":              {spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{rule}}, wantIngress: true, wantEgr: true},
		"absent, empty egress list: ingress only": {spec: networkingv1.NetworkPolicySpec{Egress: []networkingv1.NetworkPolicyEgressRule{}}, wantIngress: true},
		"egress only": {spec: networkingv1.NetworkPolicySpec{
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{{}},
		}, wantEgr: true},
		"both": {spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}}, wantIngress: true, wantEgr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			in, eg := policyTypes(&tc.spec)
			if diff := cmp.Diff([2]bool{tc.wantIngress, tc.wantEgr}, [2]bool{in, eg}); diff != "" {
				t.Errorf("(ingress, egress) (-want +got):\n%s", diff)
			}
		})
	}
}

// TestInvalidFieldsNeverWiden checks that what the API server would reject matches nothing
// (and is reported) rather than being skipped, which could allow more than written.
func TestInvalidFieldsNeverWiden(t *testing.T) {
	web := makePod("x", "web").labels("app", "web").ip("10.0.1.1").node("n1").obj()
	cli := makePod("x", "cli").labels("app", "cli").ip("10.0.1.2").node("n2").obj()
	cases := map[string]struct {
		policy      string
		src         Peer
		wantAllowed bool
		wantNote    string
	}{
		"bad except voids the ipBlock": {
			policy: `{metadata: {name: p, namespace: x}, spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.1.300/32]}}]}]}}`,
			src:    PodPeer(&cli),
			wantNote: `NetworkPolicy x/p: ingress[0].peer[0].ipBlock.except "10.0.1.300/32" does not parse, so the peer matches nothing: ` +
				`netip.ParsePrefix("10.0.1.300/32"): ParseAddr("10.0.1.300"): IPv4 field has value >255`,
		},
		"bad cidr": {
			policy:   `{metadata: {name: p, namespace: x}, spec: {podSelector: {}, ingress: [{from: [{ipBlock: {cidr: everything}}]}]}}`,
			src:      PodPeer(&cli),
			wantNote: `NetworkPolicy x/p: ingress[0].peer[0].ipBlock.cidr "everything" does not parse, so the peer matches nothing: netip.ParsePrefix("everything"): no '/'`,
		},
		"empty peer": {
			policy:   `{metadata: {name: p, namespace: x}, spec: {podSelector: {}, ingress: [{from: [{}]}]}}`,
			src:      PodPeer(&cli),
			wantNote: "NetworkPolicy x/p: ingress[0].peer[0] sets no podSelector, namespaceSelector or ipBlock, which the API rejects; it matches nothing",
		},
		"bad peer selector": {
			policy:   `{metadata: {name: p, namespace: x}, spec: {podSelector: {}, ingress: [{from: [{podSelector: {matchExpressions: [{key: app, operator: In}]}}]}]}}`,
			src:      PodPeer(&cli),
			wantNote: "NetworkPolicy x/p: ingress[0].peer[0].podSelector does not parse, so the peer matches nothing: values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
		},
		"bad podSelector selects nothing": {
			policy:      `{metadata: {name: p, namespace: x}, spec: {podSelector: {matchExpressions: [{key: app, operator: Exists, values: [web]}]}, policyTypes: [Ingress]}}`,
			src:         PodPeer(&cli),
			wantAllowed: true,
			wantNote:    "NetworkPolicy x/p: spec.podSelector does not parse, so the policy selects no pod: values: Invalid value: [\"web\"]: values set must be empty for exists and does not exist",
		},
		"endPort below port": {
			policy:   `{metadata: {name: p, namespace: x}, spec: {podSelector: {}, ingress: [{ports: [{port: 80, endPort: 79}]}]}}`,
			src:      PodPeer(&cli),
			wantNote: "NetworkPolicy x/p: ingress[0].ports[0].endPort 79 is below port 80 or out of range; the range matches nothing",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			snap := &cluster.Snapshot{
				Pods:            []corev1.Pod{web, cli},
				Namespaces:      []corev1.Namespace{makeNamespace("x")},
				NetworkPolicies: []networkingv1.NetworkPolicy{policyYAML(t, tc.policy)},
			}
			d := Evaluate(snap, tc.src, PodPeer(&snap.Pods[0]), model.TCP, 80)
			if d.Allowed != tc.wantAllowed {
				t.Errorf("allowed = %t, want %t: %s", d.Allowed, tc.wantAllowed, d.Ingress.Explain())
			}
			if diff := cmp.Diff([]string{tc.wantNote}, d.Notes); diff != "" {
				t.Errorf("notes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMissingNamespaceUsesNameLabel(t *testing.T) {
	web := makePod("x", "web").ip("10.0.1.1").obj()
	cli := makePod("y", "cli").ip("10.0.2.1").obj()
	snap := &cluster.Snapshot{
		Pods: []corev1.Pod{web, cli},
		NetworkPolicies: []networkingv1.NetworkPolicy{policyYAML(t,
			`{metadata: {name: from-y, namespace: x}, spec: {podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: "y"}}}]}]}}`)},
	}
	d := Evaluate(snap, PodPeer(&snap.Pods[1]), PodPeer(&snap.Pods[0]), model.TCP, 80)
	if !d.Allowed {
		t.Errorf("y/cli -> x/web denied: %s", d.Ingress.Explain())
	}
	want := []string{"Namespace y is not in the snapshot; its namespaceSelector matches use only the kubernetes.io/metadata.name label"}
	if diff := cmp.Diff(want, d.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

func TestNamedPortOfSidecar(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	web := makePod("x", "web").ip("10.0.1.1").obj()
	web.Spec.InitContainers = []corev1.Container{
		{Name: "setup", Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15001}}},
		{Name: "mesh", RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "proxy", ContainerPort: 15006}}},
	}
	cli := makePod("x", "cli").ip("10.0.1.2").obj()
	snap := &cluster.Snapshot{
		Pods:       []corev1.Pod{web, cli},
		Namespaces: []corev1.Namespace{makeNamespace("x")},
		NetworkPolicies: []networkingv1.NetworkPolicy{policyYAML(t,
			`{metadata: {name: proxy, namespace: x}, spec: {podSelector: {}, ingress: [{ports: [{port: proxy}]}]}}`)},
	}
	ev := NewEvaluator(snap)
	got := map[uint16]bool{}
	for _, port := range []uint16{15001, 15006} {
		got[port] = ev.Evaluate(PodPeer(&snap.Pods[1]), PodPeer(&snap.Pods[0]), model.TCP, port).Allowed
	}
	// A plain init container has exited before the pod serves; a sidecar serves its ports.
	if diff := cmp.Diff(map[uint16]bool{15001: false, 15006: true}, got); diff != "" {
		t.Errorf("allowed by port (-want +got):\n%s", diff)
	}
}

func TestSuspicions(t *testing.T) {
	web := makePod("x", "web").labels("app", "web").ip("10.0.1.1").node("n1").obj()
	cli := makePod("x", "cli").labels("app", "cli").ip("10.0.1.2").node("n2").obj()
	snap := &cluster.Snapshot{
		Pods:       []corev1.Pod{web, cli},
		Namespaces: []corev1.Namespace{makeNamespace("x")},
		NetworkPolicies: []networkingv1.NetworkPolicy{
			policyYAML(t, `{metadata: {name: deny-all, namespace: x}, spec: {podSelector: {}, policyTypes: [Ingress]}}`),
			policyYAML(t, `{metadata: {name: web-from-web, namespace: x}, spec: {podSelector: {matchLabels: {app: web}}, ingress: [{from: [{podSelector: {matchLabels: {app: web}}}]}]}}`),
			policyYAML(t, `{metadata: {name: cli-out, namespace: x}, spec: {podSelector: {matchLabels: {app: cli}}, policyTypes: [Egress], egress: [{ports: [{port: 53, protocol: UDP}]}]}}`),
		},
	}
	src, dst := PodPeer(&snap.Pods[1]), PodPeer(&snap.Pods[0])
	d := Evaluate(snap, src, dst, model.TCP, 80)
	cases := map[string]struct {
		enforced bool
		want     []model.Suspicion
	}{
		"enforced": {enforced: true, want: []model.Suspicion{
			{
				Level: model.Critical, Reason: model.ReasonNetworkPolicyDenied, Node: "n2", Pod: "x/cli", Rule: "x/cli-out",
				Message: "NetworkPolicy denies egress from pod x/cli to pod x/web (TCP/80): the pod is isolated for egress by x/cli-out and no rule there allows this traffic; add an egress rule that allows it",
			},
			{
				Level: model.Critical, Reason: model.ReasonNetworkPolicyDenied, Node: "n1", Pod: "x/web", Rule: "x/deny-all, x/web-from-web",
				Message: "NetworkPolicy denies ingress to pod x/web from pod x/cli (TCP/80): the pod is isolated for ingress by x/deny-all, x/web-from-web and no rule there allows this traffic; add an ingress rule that allows it",
			},
		}},
		"not enforced": {enforced: false, want: []model.Suspicion{
			{
				Level: model.Info, Reason: model.ReasonPolicyNotEnforced, Node: "n2", Pod: "x/cli", Rule: "x/cli-out",
				Message: "NetworkPolicy x/cli-out would deny egress from pod x/cli to pod x/web (TCP/80), but the network plugin does not enforce NetworkPolicy, so nothing filters it there",
			},
			{
				Level: model.Info, Reason: model.ReasonPolicyNotEnforced, Node: "n1", Pod: "x/web", Rule: "x/deny-all, x/web-from-web",
				Message: "NetworkPolicy x/deny-all, x/web-from-web would deny ingress to pod x/web from pod x/cli (TCP/80), but the network plugin does not enforce NetworkPolicy, so nothing filters it there",
			},
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Suspicions(d, src, dst, tc.enforced)); diff != "" {
				t.Errorf("suspicions (-want +got):\n%s", diff)
			}
		})
	}
	if s := Suspicions(Evaluate(snap, dst, dst, model.TCP, 80), dst, dst, true); len(s) != 0 {
		t.Errorf("allowed traffic yields suspicions: %+v", s)
	}

	pkt := model.Packet{Src: src.IP, Dst: dst.IP, Protocol: model.TCP, SrcPort: 40000, DstPort: 80}
	wantSteps := []model.Step{
		{NodeID: "pod/x/cli", Component: "policy", Action: "drop", Detail: "NetworkPolicy egress: denied: isolated by x/cli-out and no rule there allows it", Packet: pkt},
		{NodeID: "pod/x/web", Component: "policy", Action: "drop", Detail: "NetworkPolicy ingress: denied: isolated by x/deny-all, x/web-from-web and no rule there allows it", Packet: pkt},
	}
	if diff := cmp.Diff(wantSteps, Steps(d, model.PodID("x", "cli"), model.PodID("x", "web"), pkt), cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
}

func TestPeerFor(t *testing.T) {
	snap := &cluster.Snapshot{
		Pods: []corev1.Pod{
			makePod("x", "web").ip("10.0.1.1").node("n1").obj(),
			makePod("x", "agent").ip("192.168.1.1").node("n1").hostNetwork().obj(),
		},
		Nodes: []corev1.Node{makeNode("n1", "192.168.1.1")},
	}
	cases := map[string]struct {
		ep      model.Endpoint
		want    string
		wantErr bool
	}{
		"pod":                {ep: model.Endpoint{Type: model.EndpointPod, Namespace: "x", Name: "web"}, want: "pod x/web 10.0.1.1"},
		"pod address":        {ep: model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr("10.0.1.1")}, want: "pod x/web 10.0.1.1"},
		"mapped address":     {ep: model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr("::ffff:10.0.1.1")}, want: "pod x/web 10.0.1.1"},
		"node":               {ep: model.Endpoint{Type: model.EndpointNode, Name: "n1", IP: netip.MustParseAddr("192.168.1.1")}, want: "node n1 192.168.1.1"},
		"node address":       {ep: model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr("192.168.1.1")}, want: "node n1 192.168.1.1"},
		"outside":            {ep: model.Endpoint{Type: model.EndpointExternal, IP: netip.MustParseAddr("203.0.113.1")}, want: "address 203.0.113.1 203.0.113.1"},
		"unknown pod":        {ep: model.Endpoint{Type: model.EndpointPod, Namespace: "x", Name: "gone"}, wantErr: true},
		"service is no peer": {ep: model.Endpoint{Type: model.EndpointService, Namespace: "x", Name: "web"}, wantErr: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p, err := PeerFor(snap, tc.ep)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %t", err, tc.wantErr)
			}
			if err != nil {
				if tc.ep.Type == model.EndpointPod && !errors.Is(err, cluster.ErrNotFound) {
					t.Errorf("err = %v, want it to wrap cluster.ErrNotFound", err)
				}
				return
			}
			if diff := cmp.Diff(tc.want, p.String()+" "+p.IP.String()); diff != "" {
				t.Errorf("peer (-want +got):\n%s", diff)
			}
		})
	}
}
