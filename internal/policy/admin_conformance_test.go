package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// The network-policy-api conformance suites as engine tests: testdata/npapi/<release> holds
// the release's base manifests, copied unchanged, and cases.yaml, its tests transcribed step
// by step (see the file's header). Every connection a test checks is decided here on the
// same objects, changed as the test changes them, and must come out as the test expects.

const conformancePrefix = "network-policy-conformance-"

// hostNetworkPorts stand for the suite's HostNetworkPorts: eight free ports it picks.
var hostNetworkPorts = []int{34345, 34346, 34347, 34348, 34349, 34350, 34351, 34352}

type conformanceTest struct {
	Test      string   `json:"test"`
	Source    string   `json:"source"`
	Manifests []string `json:"manifests"`
	Steps     []struct {
		Name string          `json:"name"`
		Ops  []conformanceOp `json:"ops"`
	} `json:"steps"`
}

type conformanceOp struct {
	Poke *struct {
		From     string `json:"from"`
		To       string `json:"to"`
		Protocol string `json:"protocol"`
		Port     *int   `json:"port"`
		HostPort *int   `json:"hostPort"`
		Want     string `json:"want"`
	} `json:"poke"`
	Swap *struct {
		policyRule
		Rules [2]int `json:"rules"`
	} `json:"swap"`
	SetAction *struct {
		policyRule
		Rule   int    `json:"rule"`
		Action string `json:"action"`
	} `json:"setAction"`
	SetPriority *struct {
		policyRule
		Priority int32 `json:"priority"`
	} `json:"setPriority"`
	SetNamedPort *struct {
		policyRule
		Rule int    `json:"rule"`
		Port string `json:"port"`
	} `json:"setNamedPort"`
	InsertRule *struct {
		policyRule
		At   int            `json:"at"`
		Rule map[string]any `json:"rule"`
	} `json:"insertRule"`
	NamespaceLabels *struct {
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"namespaceLabels"`
	SetPodLabel *struct {
		Pod   string `json:"pod"`
		Key   string `json:"key"`
		Value string `json:"value"`
	} `json:"setPodLabel"`
	RemovePodLabel *struct {
		Pod string `json:"pod"`
		Key string `json:"key"`
	} `json:"removePodLabel"`
	DeleteNetworkPolicy string `json:"deleteNetworkPolicy"`
}

// policyRule names the policy (and the direction of its rules) an op changes.
type policyRule struct {
	Policy    string `json:"policy"`
	Kind      string `json:"kind"`
	Direction string `json:"direction"`
}

func TestNetworkPolicyAPIConformance(t *testing.T) {
	for _, release := range []struct {
		dir   string
		tests int
	}{{"testdata/npapi/v0.1.8", 24}, {"testdata/npapi/v0.3.0", 30}} {
		var tests []conformanceTest
		readYAML(t, filepath.Join(release.dir, "cases.yaml"), &tests)
		if len(tests) != release.tests {
			t.Fatalf("%s: %d tests, want the release's %d", release.dir, len(tests), release.tests)
		}
		for _, ct := range tests {
			t.Run(filepath.Base(release.dir)+"/"+ct.Test, func(t *testing.T) {
				snap := conformanceBase(t, release.dir)
				for _, m := range ct.Manifests {
					addManifest(t, snap, filepath.Join(release.dir, m))
				}
				pokes := 0
				for _, step := range ct.Steps {
					for i, op := range step.Ops {
						where := fmt.Sprintf("%s (%s), %q op %d", ct.Test, ct.Source, step.Name, i)
						if op.Poke == nil {
							applyOp(t, snap, where, op)
							continue
						}
						pokes++
						checkPoke(t, snap, where, op)
					}
				}
				if pokes == 0 {
					t.Fatalf("%s checks no connection", ct.Test)
				}
			})
		}
	}
}

func checkPoke(t *testing.T, snap *cluster.Snapshot, where string, op conformanceOp) {
	t.Helper()
	p := op.Poke
	from, to := conformancePod(t, snap, p.From), conformancePod(t, snap, p.To)
	port := 0
	switch {
	case p.Port != nil:
		port = *p.Port
	case p.HostPort != nil:
		port = hostNetworkPorts[*p.HostPort]
	}
	proto := model.Protocol(strings.ToUpper(p.Protocol))
	// A fresh evaluator: the objects changed since the last connection.
	d := NewEvaluator(snap).Evaluate(PodPeer(from), PodPeer(to), proto, uint16(port))
	if want := p.Want == "allow"; d.Allowed != want {
		t.Errorf("%s: %s -> %s %s/%d: allowed=%t, want %t\n  %s\n  %s\n  notes: %q",
			where, p.From, p.To, proto, port, d.Allowed, want, d.Egress.Explain(), d.Ingress.Explain(), d.Notes)
	}
}

func conformancePod(t *testing.T, snap *cluster.Snapshot, ref string) *corev1.Pod {
	t.Helper()
	ns, name, _ := strings.Cut(ref, "/")
	pod := snap.Pod(conformancePrefix+ns, name)
	if pod == nil {
		t.Fatalf("pod %s is not in the conformance model", ref)
	}
	return pod
}

// conformanceBase builds the suite's model from base/manifests.yaml: its namespaces, and
// each StatefulSet's two pods (-0 on node-0, -1 on node-1) with the template's labels, the
// controller's and the container ports; host-network pods take their node's address.
func conformanceBase(t *testing.T, dir string) *cluster.Snapshot {
	t.Helper()
	snap := &cluster.Snapshot{}
	for i, name := range []string{"node-0", "node-1"} {
		n := makeNode(name, fmt.Sprintf("192.168.0.%d", 10+i))
		n.Labels = map[string]string{corev1.LabelOSStable: "linux", corev1.LabelHostname: name}
		snap.Nodes = append(snap.Nodes, n)
	}
	for _, obj := range manifestObjects(t, filepath.Join(dir, "base/manifests.yaml")) {
		switch o := obj.(type) {
		case *corev1.Namespace:
			snap.Namespaces = append(snap.Namespaces, makeNamespace(o.Name, flatten(o.Labels)...))
		case *appsv1.StatefulSet:
			nsIndex := len(snap.Namespaces)
			for r := range 2 {
				name := fmt.Sprintf("%s-%d", o.Name, r)
				b := makePod(o.Namespace, name).node(fmt.Sprintf("node-%d", r))
				// The labels the StatefulSet controller adds, which the tests select pods by.
				b.labels(flatten(o.Spec.Template.Labels)...).labels(appsv1.StatefulSetPodNameLabel, name, appsv1.PodIndexLabel, fmt.Sprint(r))
				if o.Spec.Template.Spec.HostNetwork {
					b.hostNetwork().ip(fmt.Sprintf("192.168.0.%d", 10+r))
				} else {
					b.ip(fmt.Sprintf("10.244.%d.%d", nsIndex, 10+r))
				}
				b.pod.Spec.Containers = o.Spec.Template.Spec.Containers
				snap.Pods = append(snap.Pods, b.obj())
			}
		}
	}
	return snap
}

func flatten(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k, v)
	}
	return out
}

// addManifest adds a test's policies to the snapshot.
func addManifest(t *testing.T, snap *cluster.Snapshot, path string) {
	t.Helper()
	for _, obj := range manifestObjects(t, path) {
		switch o := obj.(type) {
		case *networkingv1.NetworkPolicy:
			snap.NetworkPolicies = append(snap.NetworkPolicies, *o)
		case *cluster.AdminNetworkPolicy:
			snap.Admin.AdminNetworkPolicies = append(snap.Admin.AdminNetworkPolicies, *o)
		case *cluster.BaselineAdminNetworkPolicy:
			snap.Admin.BaselineAdminNetworkPolicies = append(snap.Admin.BaselineAdminNetworkPolicies, *o)
		case *cluster.ClusterNetworkPolicy:
			snap.Admin.ClusterNetworkPolicies = append(snap.Admin.ClusterNetworkPolicies, *o)
		default:
			t.Fatalf("%s: %T is not a kind the conformance tests use", path, obj)
		}
	}
}

// manifestObjects decodes a multi-document manifest, rendered as the suite renders it (Go
// templates over HostNetworkPorts).
func manifestObjects(t *testing.T, path string) []any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New(path).Parse(string(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var rendered bytes.Buffer
	if err := tmpl.Execute(&rendered, map[string]any{"HostNetworkPorts": hostNetworkPorts}); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&rendered, 4096)
	var out []any
	for {
		var doc json.RawMessage
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(doc) == 0 || string(doc) == "null" {
			continue
		}
		var tm metav1.TypeMeta
		if err := json.Unmarshal(doc, &tm); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var obj any
		switch tm.Kind {
		case "Namespace":
			obj = &corev1.Namespace{}
		case "StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		case cluster.KindAdminNetworkPolicy:
			obj = &cluster.AdminNetworkPolicy{}
		case cluster.KindBaselineAdminNetworkPolicy:
			obj = &cluster.BaselineAdminNetworkPolicy{}
		case cluster.KindClusterNetworkPolicy:
			obj = &cluster.ClusterNetworkPolicy{}
		default:
			t.Fatalf("%s: unexpected kind %q", path, tm.Kind)
		}
		if err := json.Unmarshal(doc, obj); err != nil {
			t.Fatalf("%s: %s: %v", path, tm.Kind, err)
		}
		out = append(out, obj)
	}
	return out
}

// applyOp changes the objects as the upstream test does between its checks.
func applyOp(t *testing.T, snap *cluster.Snapshot, where string, op conformanceOp) {
	t.Helper()
	switch {
	case op.Swap != nil:
		rules := policyRules(t, snap, where, op.Swap.policyRule)
		reflect.Swapper(rules.Interface())(op.Swap.Rules[0], op.Swap.Rules[1])
	case op.SetAction != nil:
		rules := policyRules(t, snap, where, op.SetAction.policyRule)
		action := op.SetAction.Action
		if op.SetAction.Kind != cluster.KindClusterNetworkPolicy && action == "Accept" {
			action = "Allow"
		}
		rules.Index(op.SetAction.Rule).FieldByName("Action").SetString(action)
	case op.SetPriority != nil:
		spec := policySpec(t, snap, where, op.SetPriority.policyRule)
		spec.FieldByName("Priority").SetInt(int64(op.SetPriority.Priority))
	case op.SetNamedPort != nil:
		rule := policyRules(t, snap, where, op.SetNamedPort.policyRule).Index(op.SetNamedPort.Rule)
		name := op.SetNamedPort.Port
		if op.SetNamedPort.Kind == cluster.KindClusterNetworkPolicy {
			rule.FieldByName("Protocols").Set(reflect.ValueOf([]cluster.ClusterProtocol{{DestinationNamedPort: name}}))
		} else {
			rule.FieldByName("Ports").Set(reflect.ValueOf(&[]cluster.AdminPort{{NamedPort: &name}}))
		}
	case op.InsertRule != nil:
		rules := policyRules(t, snap, where, op.InsertRule.policyRule)
		rule := reflect.New(rules.Type().Elem())
		js, err := json.Marshal(op.InsertRule.Rule)
		if err != nil {
			t.Fatal(err)
		}
		js = podAddresses(t, snap, js)
		if err := json.Unmarshal(js, rule.Interface()); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		grown := reflect.MakeSlice(rules.Type(), 0, rules.Len()+1)
		grown = reflect.AppendSlice(grown, rules.Slice(0, op.InsertRule.At))
		grown = reflect.Append(grown, rule.Elem())
		grown = reflect.AppendSlice(grown, rules.Slice(op.InsertRule.At, rules.Len()))
		rules.Set(grown)
	case op.NamespaceLabels != nil:
		ns := conformancePrefix + op.NamespaceLabels.Namespace
		for i := range snap.Namespaces {
			if snap.Namespaces[i].Name == ns {
				// The API server keeps the name label, whatever the patch says.
				snap.Namespaces[i] = makeNamespace(ns, flatten(op.NamespaceLabels.Labels)...)
			}
		}
	case op.SetPodLabel != nil:
		conformancePod(t, snap, op.SetPodLabel.Pod).Labels[op.SetPodLabel.Key] = op.SetPodLabel.Value
	case op.RemovePodLabel != nil:
		delete(conformancePod(t, snap, op.RemovePodLabel.Pod).Labels, op.RemovePodLabel.Key)
	case op.DeleteNetworkPolicy != "":
		ns, name, _ := strings.Cut(op.DeleteNetworkPolicy, "/")
		kept := snap.NetworkPolicies[:0]
		for _, np := range snap.NetworkPolicies {
			if np.Namespace != conformancePrefix+ns || np.Name != name {
				kept = append(kept, np)
			}
		}
		if len(kept) == len(snap.NetworkPolicies) {
			t.Fatalf("%s: no NetworkPolicy %s to delete", where, op.DeleteNetworkPolicy)
		}
		snap.NetworkPolicies = kept
	default:
		t.Fatalf("%s: an op this harness does not know", where)
	}
}

var podAddressRef = regexp.MustCompile(`\{([a-z-]+)/([a-z0-9-]+)\}`)

// podAddresses replaces {ns/pod} with the pod's address as a host prefix.
func podAddresses(t *testing.T, snap *cluster.Snapshot, js []byte) []byte {
	return podAddressRef.ReplaceAllFunc(js, func(m []byte) []byte {
		sub := podAddressRef.FindSubmatch(m)
		return []byte(conformancePod(t, snap, string(sub[1])+"/"+string(sub[2])).Status.PodIP + "/32")
	})
}

// policySpec returns the named policy's spec, settable.
func policySpec(t *testing.T, snap *cluster.Snapshot, where string, r policyRule) reflect.Value {
	t.Helper()
	var list reflect.Value
	switch r.Kind {
	case cluster.KindAdminNetworkPolicy:
		list = reflect.ValueOf(snap.Admin.AdminNetworkPolicies)
	case cluster.KindBaselineAdminNetworkPolicy:
		list = reflect.ValueOf(snap.Admin.BaselineAdminNetworkPolicies)
	case cluster.KindClusterNetworkPolicy:
		list = reflect.ValueOf(snap.Admin.ClusterNetworkPolicies)
	default:
		t.Fatalf("%s: kind %q", where, r.Kind)
	}
	for i := range list.Len() {
		if list.Index(i).FieldByName("Name").String() == r.Policy {
			return list.Index(i).FieldByName("Spec")
		}
	}
	t.Fatalf("%s: no %s %s", where, r.Kind, r.Policy)
	return reflect.Value{}
}

// policyRules returns the named policy's ingress or egress rules, settable.
func policyRules(t *testing.T, snap *cluster.Snapshot, where string, r policyRule) reflect.Value {
	t.Helper()
	field := map[string]string{"ingress": "Ingress", "egress": "Egress"}[r.Direction]
	if field == "" {
		t.Fatalf("%s: direction %q", where, r.Direction)
	}
	return policySpec(t, snap, where, r).FieldByName(field)
}

// TestAdminOrderDoesNotMatter: on every conformance test's objects, the order the policies
// come in changes no decision (but where two of one priority disagree, which a note says).
func TestAdminOrderDoesNotMatter(t *testing.T) {
	for _, dir := range []string{"testdata/npapi/v0.1.8", "testdata/npapi/v0.3.0"} {
		var tests []conformanceTest
		readYAML(t, filepath.Join(dir, "cases.yaml"), &tests)
		for _, ct := range tests {
			snap := conformanceBase(t, dir)
			for _, m := range ct.Manifests {
				addManifest(t, snap, filepath.Join(dir, m))
			}
			// The same objects: the lists share the pods and namespaces, in other orders.
			reversed := &cluster.Snapshot{Pods: snap.Pods, Nodes: snap.Nodes, Namespaces: snap.Namespaces}
			reversed.Admin = cluster.AdminPolicies{
				AdminNetworkPolicies:         reverse(snap.Admin.AdminNetworkPolicies),
				BaselineAdminNetworkPolicies: reverse(snap.Admin.BaselineAdminNetworkPolicies),
				ClusterNetworkPolicies:       reverse(snap.Admin.ClusterNetworkPolicies),
			}
			reversed.NetworkPolicies = reverse(snap.NetworkPolicies)
			a, b := NewEvaluator(snap), NewEvaluator(reversed)
			for i := range snap.Pods {
				for j := range snap.Pods {
					for _, probe := range []struct {
						proto model.Protocol
						port  uint16
					}{{model.TCP, 80}, {model.UDP, 53}, {model.SCTP, 9003}} {
						src, dst := PodPeer(&snap.Pods[i]), PodPeer(&snap.Pods[j])
						da, db := a.Evaluate(src, dst, probe.proto, probe.port), b.Evaluate(src, dst, probe.proto, probe.port)
						if da.Allowed != db.Allowed && !slices.ContainsFunc(da.Notes, func(n string) bool { return strings.Contains(n, "same priority") }) {
							t.Errorf("%s: %s -> %s %s/%d: %t in one order, %t in the other\n  %s / %s", ct.Test, snap.Pods[i].Name, snap.Pods[j].Name,
								probe.proto, probe.port, da.Allowed, db.Allowed, da.Ingress.Explain(), db.Ingress.Explain())
						}
					}
				}
			}
		}
	}
}

func reverse[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
