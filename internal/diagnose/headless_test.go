package diagnose

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
)

// headless makes default/web headless, as its pods' names resolve with no proxy between.
func headless(c *fixture.Cluster) {
	for i := range c.Snapshot.Services {
		if svc := &c.Snapshot.Services[i]; svc.Name == "web" {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}
	}
}

func TestHeadlessService(t *testing.T) {
	cases := map[string]struct {
		fault   func(c *fixture.Cluster)
		want    Verdict
		summary string
	}{
		"each ready pod is a branch": {want: Reachable, summary: "arrives at each of its 2 ready pods"},
		"web-1 drops its traffic": {
			fault: func(c *fixture.Cluster) {
				fixture.InsertRule(c.Host("node-1"), "filter", "FORWARD -d "+c.PodIP("default", "web-1").String()+"/32 -j DROP")
			},
			want: PartiallyReachable, summary: "arrives at 1 of its 2 ready pods; pod/default/web-1: Unreachable"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := twoNodes("vxlan")
			headless(c)
			if tc.fault != nil {
				tc.fault(c)
			}
			dst := endpoint(t, c.Snapshot, "service:default/web")
			if dst.IP.IsValid() {
				t.Fatalf("a headless service resolves to %s, want no address", dst.IP)
			}
			q := model.Question{Source: endpoint(t, c.Snapshot, "pod:default/client"), Destination: dst, Protocol: model.TCP, Port: 80}
			res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: collected(c, Plan(c.Snapshot, q)), Question: q})
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.want || !strings.Contains(res.Summary, tc.summary) {
				t.Errorf("%s: %s; want %s saying %q", res.Verdict, res.Summary, tc.want, tc.summary)
			}
			if n := len(res.Path.Branches); n != 2 {
				t.Errorf("%d branches, want one a pod", n)
			}
			for _, s := range res.Trace {
				if strings.HasPrefix(s.Component, "kube-proxy") {
					t.Errorf("a headless service's packet meets the proxy: %s %s", s.Component, s.Action)
				}
			}
		})
	}
}

func TestExternalNameService(t *testing.T) {
	c := twoNodes("vxlan")
	alias := func(name, target string) corev1.Service {
		return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target}}
	}
	c.Snapshot.Services = append(c.Snapshot.Services, alias("www", "web.default.svc.cluster.local"), alias("partner", "api.example.com"))
	dst := endpoint(t, c.Snapshot, "service:default/www")
	q := model.Question{Source: endpoint(t, c.Snapshot, "pod:default/client"), Destination: dst, Protocol: model.TCP, Port: 80}
	res, err := Diagnose(Input{Cluster: c.Snapshot, Nodes: collected(c, Plan(c.Snapshot, q)), Question: q})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Reachable {
		t.Errorf("verdict %s: %s", res.Verdict, res.Summary)
	}
	if !slices.ContainsFunc(res.Suspicions, func(s model.Suspicion) bool {
		return s.Reason == model.ReasonServiceExternalName && strings.Contains(s.Message, "web.default.svc.cluster.local")
	}) {
		t.Errorf("no %s note in %v", model.ReasonServiceExternalName, res.Suspicions)
	}
	_, err = c.Snapshot.Resolve(cluster.EndpointRef{Type: model.EndpointService, Namespace: "default", Name: "partner"})
	if err == nil || !strings.Contains(err.Error(), `DNS alias of "api.example.com"`) {
		t.Errorf("an alias of a name outside the cluster resolves with %v, want it reported as a DNS alias", err)
	}
}
