package diagnose

import (
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// ciliumKPRDir is a snapshot laid as a cluster running Cilium with kubeProxyReplacement
// lays its objects: the cilium DaemonSet and its cilium-config in kube-system, no
// kube-proxy DaemonSet, and nodes without any KUBE- rule. `-update` writes it again.
const ciliumKPRDir = "testdata/cilium-kpr"

// ciliumKPR records the snapshot from the two-node cluster, taken as Cilium lays it.
func ciliumKPR(t *testing.T) {
	t.Helper()
	c := twoNodes("vxlan")
	s := c.Snapshot
	var dss = s.DaemonSets[:0]
	for _, ds := range s.DaemonSets {
		if ds.Name != "kube-proxy" {
			dss = append(dss, ds)
		}
	}
	s.DaemonSets = append(dss, fixture.DaemonSet("kube-system", "cilium", "quay.io/cilium/cilium:v1.18.0"))
	s.ConfigMaps = []corev1.ConfigMap{{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "cilium-config"},
		Data:       map[string]string{"kube-proxy-replacement": "true", "routing-mode": "tunnel", "tunnel-protocol": "vxlan"},
	}}
	for _, n := range c.Nodes {
		n.Host.IPTables = withoutLines(n.Host.IPTables, "KUBE-")
	}
	if err := os.RemoveAll(ciliumKPRDir); err != nil {
		t.Fatal(err)
	}
	if err := snapshotdir.Write(ciliumKPRDir, s, c.Nodes); err != nil {
		t.Fatal(err)
	}
}

// TestKubeProxyReplacement: a cluster whose Services a kube-proxy replacement serves gets no
// ServiceRulesMissing and no Unreachable from the missing kube-proxy rules, but an Unknown
// that names the replacement and suggests a probe.
func TestKubeProxyReplacement(t *testing.T) {
	if *updateReports {
		ciliumKPR(t)
	}
	recorded, nodes, err := snapshotdir.Load(ciliumKPRDir)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		snap func() *cluster.Snapshot
		want string
	}{
		"the cilium-config ConfigMap": {snap: func() *cluster.Snapshot { return recorded },
			want: "ConfigMap kube-system/cilium-config kube-proxy-replacement=true"},
		"without the ConfigMap: Cilium's agent and no kube-proxy": {snap: func() *cluster.Snapshot {
			return &cluster.Snapshot{Pods: recorded.Pods, Nodes: recorded.Nodes, Namespaces: recorded.Namespaces, Services: recorded.Services,
				EndpointSlices: recorded.EndpointSlices, DaemonSets: recorded.DaemonSets}
		}, want: "no kube-proxy DaemonSet does, and node node-0 has no kube-proxy rules"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			snap := tc.snap()
			q := model.Question{Source: endpoint(t, snap, "pod:default/client"), Destination: endpoint(t, snap, "service:default/web"), Protocol: model.TCP, Port: 80}
			res, err := Diagnose(Input{Cluster: snap, Nodes: nodes, Question: q})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != Unknown {
				t.Errorf("verdict %s, want Unknown: %s", res.Verdict, res.Summary)
			}
			var note *model.Suspicion
			for i, s := range res.Suspicions {
				if s.Reason == model.ReasonServiceRulesMissing || (s.Level >= model.Critical) {
					t.Errorf("suspicion %s %s: %s", s.Level, s.Reason, s.Message)
				}
				if s.Reason == model.ReasonServiceProxyReplaced {
					note = &res.Suspicions[i]
				}
			}
			if note == nil || !strings.Contains(note.Message, tc.want) || !strings.Contains(note.Message, "probe: true") {
				t.Errorf("no %s naming %q and the probe in %v", model.ReasonServiceProxyReplaced, tc.want, res.Suspicions)
			}
		})
	}
}

// TestKubeProxyStillRuns: the same cluster with kube-proxy's DaemonSet and Cilium without
// the replacement keeps the finding that kube-proxy's rules are missing.
func TestKubeProxyStillRuns(t *testing.T) {
	snap, nodes, err := snapshotdir.Load(ciliumKPRDir)
	if err != nil {
		t.Fatal(err)
	}
	snap.ConfigMaps[0].Data["kube-proxy-replacement"] = "false"
	snap.DaemonSets = append(snap.DaemonSets, fixture.DaemonSet("kube-system", "kube-proxy", "registry.k8s.io/kube-proxy:v1.37.2"))
	q := model.Question{Source: endpoint(t, snap, "pod:default/client"), Destination: endpoint(t, snap, "service:default/web"), Protocol: model.TCP, Port: 80}
	res, err := Diagnose(Input{Cluster: snap, Nodes: map[string]*netstack.NodeSnapshot(nodes), Question: q})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Unreachable || !hasReason(res.Suspicions, model.ReasonServiceRulesMissing) {
		t.Errorf("verdict %s, want Unreachable with %s: %s", res.Verdict, model.ReasonServiceRulesMissing, res.Summary)
	}
}

func hasReason(sus []model.Suspicion, r model.Reason) bool {
	for _, s := range sus {
		if s.Reason == r {
			return true
		}
	}
	return false
}
