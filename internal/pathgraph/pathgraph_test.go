package pathgraph

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

var update = flag.Bool("update", false, "rewrite the golden pictures in testdata/ from the writers")

// question is a diagnosis of one of the repo's recorded snapshot folders (../../testdata),
// with the faults, if any, added to its nodes' rules.
type question struct {
	folder, src, dst string
	port             uint16
	// drops are FORWARD rules inserted into a node's filter table, by node.
	drops map[string]string
}

// cases are the pictures the golden files hold: the healthy two-endpoint ClusterIP path, a
// pod-to-pod path dropped in FORWARD, and the same service with one branch dropped.
var cases = map[string]question{
	"service-healthy":      {folder: "flannel-vxlan", src: "pod:shop/client", dst: "service:shop/web", port: 80},
	"pod-forward-drop":     {folder: "flannel-host-gw-forward-drop", src: "pod:shop/client", dst: "pod:shop/db", port: 5432},
	"service-branch-drop":  {folder: "flannel-host-gw-forward-drop", src: "pod:shop/client", dst: "service:shop/web", port: 80, drops: map[string]string{"node-1": "FORWARD -d 10.244.1.0/24 -p tcp -m tcp --dport 8080 -j DROP"}},
	"service-branch-fixed": {folder: "flannel-host-gw-forward-drop", src: "pod:shop/client", dst: "service:shop/web", port: 80},
}

func diagnosed(t *testing.T, c question) (model.Question, *diagnose.Result) {
	t.Helper()
	snap, nodes, err := snapshotdir.Load(filepath.Join("..", "..", "testdata", c.folder))
	if err != nil {
		t.Fatal(err)
	}
	for node, rule := range c.drops {
		fixture.InsertRule(&nodes[node].Host, "filter", rule)
	}
	resolve := func(ref string) model.Endpoint {
		r, err := diagnose.ParseEndpointRef(ref)
		if err != nil {
			t.Fatal(err)
		}
		e, err := snap.Resolve(r)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	q := model.Question{Source: resolve(c.src), Destination: resolve(c.dst), Protocol: model.TCP, Port: c.port}
	res, err := diagnose.Diagnose(diagnose.Input{Cluster: snap, Nodes: nodes, Question: q})
	if err != nil {
		t.Fatal(err)
	}
	return q, res
}

func graphOf(t *testing.T, name string) *Graph {
	t.Helper()
	q, res := diagnosed(t, cases[name])
	return FromResult(q, res)
}

var writers = map[string]func(io.Writer, *Graph) error{"dot": WriteDOT, "mmd": WriteMermaid, "svg": WriteSVG}

// TestGolden keeps each writer's picture of each case in testdata/NAME.EXT; `go test
// ./internal/pathgraph -update` rewrites them.
func TestGolden(t *testing.T) {
	for name := range cases {
		g := graphOf(t, name)
		for ext, write := range writers {
			t.Run(name+"."+ext, func(t *testing.T) {
				var got bytes.Buffer
				if err := write(&got, g); err != nil {
					t.Fatal(err)
				}
				var again bytes.Buffer
				if err := write(&again, graphOf(t, name)); err != nil {
					t.Fatal(err)
				}
				if got.String() != again.String() {
					t.Fatal("two writes of the same path differ")
				}
				file := filepath.Join("testdata", name+"."+ext)
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(file, got.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (go test ./internal/pathgraph -update writes it)", err)
				}
				if d := cmp.Diff(string(want), got.String()); d != "" {
					t.Errorf("%s is not what the writer draws now; run `go test ./internal/pathgraph -update` if the change is meant (-want +got):\n%s", file, d)
				}
			})
		}
	}
}

// statusOf is the answer as the controller stores it: the report's strings in the status's
// fields.
func statusOf(q model.Question, res *diagnose.Result) *diagv1alpha1.NetworkDiagnosisStatus {
	r := diagnose.NewReport(q, res)
	st := &diagv1alpha1.NetworkDiagnosisStatus{SourceSummary: q.Source.String(), DestinationSummary: q.Destination.String(),
		Verdict: diagv1alpha1.Verdict(res.Verdict), Summary: res.Summary, PacketPath: &diagv1alpha1.PacketPath{}}
	for _, s := range r.Suspicions {
		st.Suspicions = append(st.Suspicions, diagv1alpha1.Suspicion{Level: diagv1alpha1.SuspicionLevel(s.Level), Reason: s.Reason, Node: s.Node, Pod: s.Pod, Interface: s.Interface, Rule: s.Rule, Message: s.Message})
	}
	for _, h := range r.Hops {
		st.PacketPath.Hops = append(st.PacketPath.Hops, diagv1alpha1.Hop{ID: h.ID, Type: diagv1alpha1.HopType(h.Type), Name: h.Name, Node: h.Node, Failed: h.Failed})
	}
	for _, l := range r.Links {
		st.PacketPath.Links = append(st.PacketPath.Links, diagv1alpha1.Link{From: l.From, To: l.To, Type: l.Type, FromInterface: l.FromInterface, ToInterface: l.ToInterface, Packet: l.Packet})
	}
	return st
}

// TestFromStatusIsFromResult: the kubectl plugin, which has only the status, draws the
// picture `netdiag diagnose` draws from the engine's answer.
func TestFromStatusIsFromResult(t *testing.T) {
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			q, res := diagnosed(t, c)
			if d := cmp.Diff(FromResult(q, res), FromStatus(statusOf(q, res))); d != "" {
				t.Errorf("(-from result +from status):\n%s", d)
			}
		})
	}
}

// TestWays checks what a reader is to see in the two-endpoint service path: the forward way
// and the reply told apart, each endpoint a branch of its own, and the failure where it is.
func TestWays(t *testing.T) {
	g := graphOf(t, "service-healthy")
	if len(g.Branches) != 2 {
		t.Fatalf("branches %+v, want one per endpoint of shop/web", g.Branches)
	}
	ways := map[string]string{}
	for _, l := range g.Links {
		ways[l.From+" > "+l.To+" "+l.Packet] = fmt.Sprintf("%s %d", l.Direction, l.Branch)
	}
	want := map[string]string{
		"pod/shop/client > node/node-0 10.244.0.10:40000 → 10.96.0.10:80":        "forward 0",
		"node/node-0 > service/shop/web 10.244.0.10:40000 → 10.244.0.11:8080":    "forward 1",
		"service/shop/web > pod/shop/web-0 10.244.0.10:40000 → 10.244.0.11:8080": "forward 1",
		"pod/shop/web-0 > node/node-0 10.244.0.11:8080 → 10.244.0.10:40000":      "reply 1",
		"service/shop/web > node/node-1 10.244.0.10:40000 → 10.244.1.10:8080":    "forward 2",
		"node/node-1 > pod/shop/web-1 10.244.0.10:40000 → 10.244.1.10:8080":      "forward 2",
		"pod/shop/web-1 > node/node-1 10.244.1.10:8080 → 10.244.0.10:40000":      "reply 2",
		"node/node-1 > node/node-0 10.244.1.10:8080 → 10.244.0.10:40000":         "reply 2",
		"node/node-0 > pod/shop/client 10.96.0.10:80 → 10.244.0.10:40000":        "reply 0",
	}
	for k, w := range want {
		if ways[k] != w {
			t.Errorf("%s: %q, want %q (all: %v)", k, ways[k], w, ways)
		}
	}
	for i, l := range g.Links {
		if l.N != i+1 {
			t.Errorf("link %d numbered %d", i, l.N)
		}
	}
	if f := g.Failed(); len(f) != 0 {
		t.Errorf("a healthy path fails at %v", f)
	}
	drop := graphOf(t, "service-branch-drop")
	f := drop.Failed()
	if len(f) != 1 || f[0].ID != "node/node-1" || f[0].Reason != string(model.ReasonIPTablesDrop) {
		t.Fatalf("failed hops %+v, want node/node-1 for IPTablesDrop", f)
	}
	var dot, mmd, svg bytes.Buffer
	for w, out := range map[*bytes.Buffer]func(io.Writer, *Graph) error{&dot: WriteDOT, &mmd: WriteMermaid, &svg: WriteSVG} {
		if err := out(w, drop); err != nil {
			t.Fatal(err)
		}
	}
	for name, out := range map[string]string{"dot": dot.String(), "mermaid": mmd.String(), "svg": svg.String()} {
		if !strings.Contains(out, failColour) || !strings.Contains(out, "IPTablesDrop") {
			t.Errorf("%s lacks the failure's colour or reason:\n%s", name, out)
		}
	}
}

// escapesGraph has names holding what mermaid, DOT and XML read as syntax.
func escapesGraph() *Graph {
	return &Graph{Title: `a "quoted" title`, Hops: []Hop{{ID: "pod/a/b", Type: "Pod", Name: `a/"b"<c>#1;|x|`}, {ID: "node/n", Type: "Node", Name: "end", Failed: true, Reason: "R"}},
		Links: []Link{{N: 1, From: "pod/a/b", To: "node/n", Type: "veth", FromInterface: "eth0", Packet: "[fd00::1]:1 → [fd00::2]:2"}}}
}

func TestMermaidEscapes(t *testing.T) {
	g := escapesGraph()
	var b bytes.Buffer
	if err := WriteMermaid(&b, g); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{`"b"`, "<c>", "#1;", "|x|"} {
		if strings.Contains(out, bad) {
			t.Errorf("mermaid keeps %q unescaped:\n%s", bad, out)
		}
	}
	for _, want := range []string{`h0["pod a/#quot;b#quot;#lt;c#gt;#35;1;#124;x#124;"]`, `h0 -->|"1. veth eth0<br/>[fd00::1]:1 → [fd00::2]:2"| h1`, `title: "a \"quoted\" title"`} {
		if !strings.Contains(out, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, out)
		}
	}
}

const picturesDoc = "../../docs/pictures.md"

// TestPicturesDoc keeps docs/pictures.md's example the writer's own output: the mermaid
// block after the marker is the golden file it names.
func TestPicturesDoc(t *testing.T) {
	const marker = "<!-- the golden file internal/pathgraph/testdata/service-branch-drop.mmd"
	golden, err := os.ReadFile(filepath.Join("testdata", "service-branch-drop.mmd"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(picturesDoc)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(doc), marker)
	if !ok {
		t.Fatalf("%s lacks the example's marker %q", picturesDoc, marker)
	}
	comment, rest, _ := strings.Cut(rest, "\n")
	_, rest, ok = strings.Cut(rest, "```mermaid\n")
	block, tail, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatalf("%s has no ```mermaid block after the marker", picturesDoc)
	}
	if *update {
		out := head + marker + comment + "\n```mermaid\n" + string(golden) + "```\n" + tail
		if err := os.WriteFile(picturesDoc, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		block = string(golden)
	}
	if block != string(golden) {
		t.Errorf("%s's example is not testdata/service-branch-drop.mmd; run `go test ./internal/pathgraph -run TestPicturesDoc -update`", picturesDoc)
	}
}

// TestFromStatusCut draws what a status cut short holds: a link to a hop it dropped draws
// that hop by its ID, a packet text it cannot read is shown as written, and the picture says
// the path was cut.
func TestFromStatusCut(t *testing.T) {
	st := &diagv1alpha1.NetworkDiagnosisStatus{Verdict: diagv1alpha1.VerdictUnknown, PacketPath: &diagv1alpha1.PacketPath{Truncated: true,
		Hops: []diagv1alpha1.Hop{{ID: "pod/a/web", Type: diagv1alpha1.HopPod, Name: "a/web", Node: "n0"}},
		Links: []diagv1alpha1.Link{
			{From: "pod/a/web", To: "node/n0", Type: "veth", Packet: "TCP 10.244.0.5:40000 -> 10.96.0.10:80"},
			{From: "node/n0", To: "external/1.1.1.1", Type: "external", Packet: "TCP 10.244.0.5:40000 -> 1.1.1.1:443 (cut"},
		}}}
	g := FromStatus(st)
	if h := g.Hop("node/n0"); h == nil || h.Type != "Node" || h.Group != "" {
		t.Errorf("hop node/n0 %+v, want a Node drawn by its ID", h)
	}
	if h := g.Hop("external/1.1.1.1"); h == nil || h.Type != "External" {
		t.Errorf("hop external/1.1.1.1 %+v, want an External", h)
	}
	if g.Links[1].Packet != "TCP 10.244.0.5:40000 -> 1.1.1.1:443 (cut" || g.Links[1].Direction != Forward {
		t.Errorf("link %+v, want the packet as written, forward", g.Links[1])
	}
	var b bytes.Buffer
	if err := WriteSVG(&b, g); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "the path was cut") || !strings.Contains(b.String(), "(cut") {
		t.Errorf("the SVG does not say the path was cut:\n%s", b.String())
	}
}
