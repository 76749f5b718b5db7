package main

import (
	"bytes"
	"strings"
	"testing"
)

// nd is a NetworkDiagnosis as `kubectl get nd -o json` prints one that failed at node-1.
const nd = `{"apiVersion":"diagnosis.netdiag.dev/v1alpha1","kind":"NetworkDiagnosis","metadata":{"name":"web-to-db","namespace":"shop"},
"status":{"source":"pod/shop/web (10.244.0.5)","destination":"service/shop/db (10.96.0.20)","verdict":"Unreachable",
"summary":"Unreachable: TCP/5432 from pod/shop/web to service/shop/db stops at node/node-1","suspicions":[{"level":"Critical","reason":"IPTablesDrop","node":"node-1","message":"A rule drops it"}],
"packetPath":{"hops":[{"id":"pod/shop/web","type":"Pod","name":"shop/web","node":"node-0"},{"id":"node/node-0","type":"Node","name":"node-0","node":"node-0"},{"id":"node/node-1","type":"Node","name":"node-1","node":"node-1","failed":true}],
"links":[{"from":"pod/shop/web","to":"node/node-0","type":"veth","fromInterface":"eth0","packet":"TCP 10.244.0.5:40000 -> 10.96.0.20:5432"},{"from":"node/node-0","to":"node/node-1","type":"vxlan","fromInterface":"flannel.1","packet":"TCP 10.244.0.5:40000 -> 10.244.1.7:5432"}]}}}`

func TestPicture(t *testing.T) {
	for format, want := range map[string][]string{
		"svg":     {"<svg", "pod shop/web", "✗ stops here: IPTablesDrop", "10.244.0.5:40000 → 10.244.1.7:5432"},
		"mermaid": {"flowchart LR", `subgraph g1["node node-1"]`, "class h2 hopFailed"},
		"dot":     {"digraph packetpath", "subgraph cluster_1", `label="node node-1"`},
	} {
		var out bytes.Buffer
		if err := run(strings.NewReader(nd), &out, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s lacks %q:\n%s", format, w, out.String())
			}
		}
	}
	for in, wantErr := range map[string]string{
		nd:               `-o "png"`,
		`{"kind":"Pod"}`: `got kind "Pod"`,
		"{":              "decode the NetworkDiagnosis",
	} {
		format := "svg"
		if in == nd {
			format = "png"
		}
		if err := run(strings.NewReader(in), &bytes.Buffer{}, format); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("error %v, want one containing %q", err, wantErr)
		}
	}
}
