package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// TestParseFlagHelp reads the usage pflag itself writes, for each kind of flag the manager
// has, and writes each default as values.yaml shows it.
func TestParseFlagHelp(t *testing.T) {
	fs := pflag.NewFlagSet("manager", pflag.ContinueOnError)
	fs.String("collector-image", "", "image of the collector pods")
	fs.String("calico-mode", "auto", "calico data plane to simulate")
	fs.String("health-probe-bind-address", ":8081", "address the probes bind to")
	fs.Int("max-diagnoses", 50, "diagnoses at once (0: no cap)")
	fs.Int("zero", 0, "an int whose default pflag does not print")
	fs.Bool("leader-elect", false, "elect a leader")
	fs.Bool("metrics-secure", true, "serve metrics over HTTPS")
	fs.StringSlice("system-namespaces", []string{"kube-system", "calico-system"}, "namespaces detection reads")
	fs.Duration("wait", time.Minute, "how long to wait")
	fs.IntP("v", "v", 0, "log verbosity")
	fs.String("namespace", "", "set by the chart itself")
	help := "Usage:\n  netdiag manager [flags]\n\nFlags:\n" + fs.FlagUsages() + "  -h, --help   help for manager\n"

	flags, err := parseFlagHelp(help)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]string{}
	for _, f := range flags {
		got[f.Name] = [2]string{f.YAMLValue(), f.Usage}
	}
	want := map[string][2]string{
		"collector-image":           {`""`, "image of the collector pods"},
		"calico-mode":               {`"auto"`, "calico data plane to simulate"},
		"health-probe-bind-address": {`":8081"`, "address the probes bind to"},
		"max-diagnoses":             {"50", "diagnoses at once (0: no cap)"},
		"zero":                      {"0", "an int whose default pflag does not print"},
		"leader-elect":              {"false", "elect a leader"},
		"metrics-secure":            {"true", "serve metrics over HTTPS"},
		"system-namespaces":         {"[kube-system, calico-system]", "namespaces detection reads"},
		"wait":                      {`"1m0s"`, "how long to wait"},
		"v":                         {"0", "log verbosity"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
}

func TestTreeValuesShowAsConfigGivesThem(t *testing.T) {
	sections := []flagSection{{Key: "manager.flags", Flags: []managerFlag{
		{Name: "leader-elect", Usage: "elect a leader"},
		{Name: "health-probe-bind-address", Type: "string", Default: `":8081"`},
		{Name: "v", Type: "int"},
	}}}
	setTree(sections, []string{"manager", "--leader-elect", "--health-probe-bind-address=:9000"})
	got := map[string]string{}
	for _, f := range sections[0].Flags {
		got[f.Name] = f.YAMLValue() + " " + f.YAMLDefault()
	}
	want := map[string]string{"leader-elect": "true false", "health-probe-bind-address": `":9000" ":8081"`, "v": "0 0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("value and default (-want +got):\n%s", diff)
	}
}

func TestSplitImage(t *testing.T) {
	for image, want := range map[string]imageValues{
		"netdiag:latest":                     {Repository: "netdiag", Tag: "latest"},
		"netdiag":                            {Repository: "netdiag"},
		"registry.example:5000/netdiag":      {Repository: "registry.example:5000/netdiag"},
		"registry.example:5000/netdiag:v1.2": {Repository: "registry.example:5000/netdiag", Tag: "v1.2"},
		"r.example/netdiag:v1@sha256:ab":     {Repository: "r.example/netdiag", Tag: "v1", Digest: "sha256:ab"},
		"r.example/netdiag@sha256:ab":        {Repository: "r.example/netdiag", Digest: "sha256:ab"},
	} {
		if got := splitImage(image); got != want {
			t.Errorf("splitImage(%q) = %+v, want %+v", image, got, want)
		}
	}
}

// TestTemplatesRenderTextAsWritten writes the chart for a small tree whose strings look like
// Helm actions and name the namespace inside longer text, and renders it with the real helm
// and the chart's helpers: the text comes out as config/ wrote it, the namespace replaced.
func TestTemplatesRenderTextAsWritten(t *testing.T) {
	helm, err := filepath.Abs("../../bin/helm/current/helm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(helm); err != nil {
		t.Skip("no bin/helm: run hack/build-helm.sh")
	}
	tree := `apiVersion: v1
kind: Namespace
metadata:
  name: netdiag-system
  annotations: {config.kubernetes.io/origin: "path: config/manager/manager.yaml"}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: netdiag-manager
  namespace: netdiag-system
  annotations: {config.kubernetes.io/origin: "path: config/manager/manager.yaml"}
spec:
  template:
    spec:
      containers:
      - name: manager
        image: netdiag:latest
        args: [manager, --leader-elect]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: text
  namespace: netdiag-system
  annotations: {config.kubernetes.io/origin: "path: config/other/text.yaml"}
data:
  action: "{{ .Values.secret }} and {{- trimmed -}}"
  user: system:serviceaccount:netdiag-system:netdiag-collector
`
	dir := t.TempDir()
	objs, err := readObjects(strings.NewReader(tree), dir, filepath.Join(dir, "config"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newChart(objs, []managerFlag{{Name: "v", Type: "int"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	chart := filepath.Join(dir, "chart")
	for _, f := range []string{"Chart.yaml", "templates/_helpers.tpl"} {
		raw, err := os.ReadFile(filepath.Join("../../dist/chart", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(chart, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(chart, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.write(chart); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helm, "template", "x", chart, "--set", "namespace.name=diag").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	for doc := range strings.SplitSeq(string(out), "\n---\n") {
		if strings.Contains(doc, "kind: ConfigMap") {
			if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := map[string]string{
		"action": "{{ .Values.secret }} and {{- trimmed -}}",
		"user":   "system:serviceaccount:diag:netdiag-collector",
	}
	if diff := cmp.Diff(want, cm.Data); diff != "" {
		t.Errorf("the ConfigMap's data (-config +helm):\n%s", diff)
	}
}
