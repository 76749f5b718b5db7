package diagnose

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

var updateReports = flag.Bool("update", false, "rewrite the golden reports in testdata/report from the recorded snapshots")

// recordedPaths are questions asked of the snapshot folders the repository records in its
// top-level testdata/ (written from the fixtures by the root package's tests), or, with a
// fault, of the two-node vxlan fixture broken by it.
var recordedPaths = map[string]struct {
	dir, src, dst string
	port          uint16
	fault         func(*fixture.Cluster)
}{
	// Two endpoints of shop/web, one on the client's node and one across the vxlan tunnel.
	"service-two-endpoints": {dir: "flannel-vxlan", src: "pod:shop/client", dst: "service:shop/web", port: 80},
	// A DROP in node-1's FORWARD chain stops the client's packets to db.
	"forward-drop": {dir: "flannel-host-gw-forward-drop", src: "pod:shop/client", dst: "pod:shop/db", port: 5432},
	// The service's endpoint on node-1 is cut off by a DROP there: one branch of two fails.
	"service-one-branch-dropped": {src: "pod:default/client", dst: "service:default/web", port: 80, fault: func(c *fixture.Cluster) {
		fixture.InsertRule(c.Host("node-1"), "filter", "FORWARD -d 10.244.1.0/24 -p tcp -m tcp --dport 8080 -j DROP")
	}},
	// node-1 drops what web-1 answers: the packet arrives and the reply does not come back.
	"service-reply-dropped": {src: "pod:default/client", dst: "service:default/web", port: 80, fault: func(c *fixture.Cluster) {
		fixture.InsertRule(c.Host("node-1"), "filter", "FORWARD -s 10.244.1.0/24 -p tcp -m tcp --sport 8080 -j DROP")
	}},
}

func diagnoseRecorded(t *testing.T, name string) (model.Question, *Result) {
	t.Helper()
	c := recordedPaths[name]
	dir := filepath.Join("..", "..", "testdata", c.dir)
	var snap *cluster.Snapshot
	var nodes map[string]*netstack.NodeSnapshot
	if c.fault != nil {
		fc := twoNodes(flanneltest.VXLAN)
		c.fault(fc)
		snap, nodes = fc.Snapshot, fc.Nodes
	} else {
		var err error
		if snap, nodes, err = snapshotdir.Load(dir); err != nil {
			t.Fatal(err)
		}
	}
	resolve := func(s string) model.Endpoint { return endpoint(t, snap, s) }
	q := model.Question{Source: resolve(c.src), Destination: resolve(c.dst), Protocol: model.TCP, Port: c.port}
	res, err := Diagnose(Input{Cluster: snap, Nodes: nodes, Question: q})
	if err != nil {
		t.Fatal(err)
	}
	return q, res
}

// reportOf is the text report of a recorded path.
func reportOf(t *testing.T, name string) string {
	t.Helper()
	q, res := diagnoseRecorded(t, name)
	return textOf(t, q, res)
}

func textOf(t *testing.T, q model.Question, res *Result) string {
	t.Helper()
	var b strings.Builder
	if err := WriteText(&b, q, res); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestTextReportGolden holds the text reports of the recorded paths:
// go test ./internal/diagnose -run TestTextReportGolden -update rewrites them.
func TestTextReportGolden(t *testing.T) {
	for name := range recordedPaths {
		t.Run(name, func(t *testing.T) {
			got := reportOf(t, name)
			path := filepath.Join("testdata", "report", name+".txt")
			if *updateReports {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./internal/diagnose -run TestTextReportGolden -update writes it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s is stale (-want +got):\n%s", path, diff)
			}
		})
	}
}

// outline is the shape of a text report: its sections in order ("answer", "branch 1",
// "branch 1 forward", ...), each way's hops, and the lines that name a hop.
type outline struct {
	sections []string
	hops     map[string][]string
	lines    map[string]string
}

var (
	branchHeading = regexp.MustCompile(`^Branch (\d+) of \d+: `)
	hopLine       = regexp.MustCompile(`^    ((?:pod|node|service|external)/\S+)\s`)
)

func outlineOf(text string) outline {
	o := outline{hops: map[string][]string{}, lines: map[string]string{}}
	section, branch := "", ""
	for _, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		switch m := branchHeading.FindStringSubmatch(l); {
		case strings.HasPrefix(l, "Verdict:"):
			section = "answer"
		case strings.HasPrefix(l, "Suspicions:"):
			section = "suspicions"
		case m != nil:
			branch = "branch " + m[1]
			section = branch
		case strings.HasPrefix(l, "  forward"), strings.HasPrefix(l, "  reply"):
			section = branch + " " + strings.Fields(l)[0]
		default:
			if m := hopLine.FindStringSubmatch(l); m != nil {
				o.hops[section] = append(o.hops[section], m[1])
				o.lines[section+" "+m[1]] = l
			}
			continue
		}
		o.sections = append(o.sections, section)
	}
	return o
}

// TestTextReportReadsInOrder checks what a person reads in the report of a service with two
// endpoints: a short answer first, then each branch forward and then back, hop after hop,
// the service's choice at the node that made it and no service among the hops, all in
// fewer than 40 lines.
func TestTextReportReadsInOrder(t *testing.T) {
	text := reportOf(t, "service-two-endpoints")
	if n := strings.Count(text, "\n"); n >= 40 {
		t.Errorf("the report is %d lines, want fewer than 40:\n%s", n, text)
	}
	o := outlineOf(text)
	wantSections := []string{"answer", "branch 1", "branch 1 forward", "branch 1 reply", "branch 2", "branch 2 forward", "branch 2 reply"}
	if diff := cmp.Diff(wantSections, o.sections); diff != "" {
		t.Errorf("sections (-want +got):\n%s\n%s", diff, text)
	}
	wantHops := map[string][]string{
		"branch 1 forward": {"pod/shop/client", "node/node-0", "pod/shop/web-0"},
		"branch 1 reply":   {"pod/shop/web-0", "node/node-0", "pod/shop/client"},
		"branch 2 forward": {"pod/shop/client", "node/node-0", "node/node-1", "pod/shop/web-1"},
		"branch 2 reply":   {"pod/shop/web-1", "node/node-1", "node/node-0", "pod/shop/client"},
	}
	if diff := cmp.Diff(wantHops, o.hops); diff != "" {
		t.Errorf("hops (-want +got):\n%s\n%s", diff, text)
	}
	for section, endpoint := range map[string]string{"branch 1 forward": "10.244.0.11:8080", "branch 2 forward": "10.244.1.10:8080"} {
		line := o.lines[section+" node/node-0"]
		if !strings.Contains(line, "DNAT to "+endpoint+" (50% of new connections)") {
			t.Errorf("%s: node-0's line %q does not show the service's choice of %s with its share", section, line, endpoint)
		}
	}
	for section, endpoint := range map[string]string{"branch 1 reply": "10.244.0.11:8080", "branch 2 reply": "10.244.1.10:8080"} {
		if line := o.lines[section+" node/node-0"]; !strings.Contains(line, "un-DNAT "+endpoint+" -> 10.96.0.10:80") {
			t.Errorf("%s: node-0's line %q does not show the reply's translation back from %s", section, line, endpoint)
		}
	}
	if !strings.HasPrefix(text, "Verdict:  Reachable\n") || !strings.Contains(text, "Branch 2 of 2: to pod/shop/web-1, 50% of new connections: Delivered") {
		t.Errorf("the answer or the second branch's heading is missing:\n%s", text)
	}
}

// TestTextReportFailing checks the report of a path that stops: the answer says where, why
// and what to do before the path, and the branch ends at the hop marked, with no reply.
func TestTextReportFailing(t *testing.T) {
	text := reportOf(t, "forward-drop")
	o := outlineOf(text)
	if diff := cmp.Diff([]string{"answer", "branch 1", "branch 1 forward", "suspicions"}, o.sections); diff != "" {
		t.Errorf("sections (-want +got):\n%s\n%s", diff, text)
	}
	if diff := cmp.Diff([]string{"pod/shop/client", "node/node-0", "node/node-1"}, o.hops["branch 1 forward"]); diff != "" {
		t.Errorf("forward hops (-want +got):\n%s\n%s", diff, text)
	}
	if line := o.lines["branch 1 forward node/node-1"]; !strings.Contains(line, "node/node-1  ✗ stops here") {
		t.Errorf("node-1 is not marked where the branch stops: %q", line)
	}
	answer, _, _ := strings.Cut(text, "\nBranch 1")
	for _, want := range []string{"Verdict:  Unreachable", "Where:    node/node-1", "Why:      IPTablesDrop: ", "Do:       Read the rule"} {
		if !strings.Contains(answer, want) {
			t.Errorf("the short answer lacks %q:\n%s", want, answer)
		}
	}
}

// TestReportTextFromJSON draws the text of a report read back from its JSON, as a client
// reading a stored report does, and gets the same text.
func TestReportTextFromJSON(t *testing.T) {
	q, res := diagnoseRecorded(t, "service-two-endpoints")
	data, err := json.Marshal(NewReport(q, res))
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteReportText(&b, r, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(textOf(t, q, res), b.String()); diff != "" {
		t.Errorf("text from the JSON report (-direct +from JSON):\n%s", diff)
	}
}

// TestTextReportReplyDropped checks a branch whose packet arrives and whose reply is
// dropped: the branch reads forward to the endpoint, then back until the hop that drops the
// reply, which is marked; the other branch reads as a healthy one.
func TestTextReportReplyDropped(t *testing.T) {
	text := reportOf(t, "service-reply-dropped")
	o := outlineOf(text)
	want := []string{"answer", "branch 1", "branch 1 forward", "branch 1 reply", "branch 2", "branch 2 forward", "branch 2 reply", "suspicions"}
	if diff := cmp.Diff(want, o.sections); diff != "" {
		t.Errorf("sections (-want +got):\n%s\n%s", diff, text)
	}
	if diff := cmp.Diff([]string{"pod/default/web-1", "node/node-1"}, o.hops["branch 2 reply"]); diff != "" {
		t.Errorf("the reply's hops (-want +got):\n%s\n%s", diff, text)
	}
	if line := o.lines["branch 2 reply node/node-1"]; !strings.Contains(line, "✗ stops here") {
		t.Errorf("node-1 is not marked where the reply stops: %q\n%s", line, text)
	}
	if !strings.Contains(text, "Branch 2 of 2: to pod/default/web-1, 50% of new connections: Dropped at node/node-1 (the reply: ") {
		t.Errorf("the second branch's heading does not say its reply stops at node-1:\n%s", text)
	}
}

// TestReportsDoc keeps the example of docs/reports.md the golden report it shows:
// go test ./internal/diagnose -run TestReportsDoc -update rewrites it.
func TestReportsDoc(t *testing.T) {
	path := filepath.Join("..", "..", "docs", "reports.md")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)(<!-- report: ([a-z-]+) -->\n)```text\n.*?```\n(<!-- /report -->)")
	got := block.ReplaceAllStringFunc(string(doc), func(m string) string {
		parts := block.FindStringSubmatch(m)
		return parts[1] + "```text\n" + reportOf(t, parts[2]) + "```\n" + parts[3]
	})
	if !block.MatchString(string(doc)) {
		t.Fatalf("%s has no report example", path)
	}
	if *updateReports {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(string(doc), got); diff != "" {
		t.Errorf("%s's example is stale (go test ./internal/diagnose -run TestReportsDoc -update) (-doc +report):\n%s", path, diff)
	}
}
