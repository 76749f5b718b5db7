package chart

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

const (
	root      = "../.."
	chartDir  = root + "/dist/chart"
	namespace = "netdiag-system"
)

// helmOnly are the metadata the chart adds to config/default's objects, and the only
// difference the tests allow: Helm's labels on every object, and on the CRD the annotation
// that keeps it when the release is uninstalled (crd.keep).
var (
	helmLabels      = []string{"helm.sh/chart", "app.kubernetes.io/managed-by"}
	helmAnnotations = map[string][]string{"CustomResourceDefinition": {"helm.sh/resource-policy"}}
)

// tool is the path of a binary the repo's scripts build under bin/; the test is skipped
// without it, except in CI, where hack/install-deps.sh has built it.
func tool(t *testing.T, rel, script string) string {
	t.Helper()
	path, err := filepath.Abs(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode()&0o111 == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: hack/install-deps.sh runs %s", rel, script)
		}
		t.Skipf("%s is missing: run %s", rel, script)
	}
	return path
}

func helmBin(t *testing.T) string { return tool(t, "bin/helm/current/helm", "hack/build-helm.sh") }
func kubectlBin(t *testing.T) string {
	return tool(t, "bin/k8s/current/kubectl", "hack/build-controlplane.sh")
}

// obj is one Kubernetes object as YAML decodes it.
type obj = map[string]any

func key(o obj) string {
	meta, _ := o["metadata"].(obj)
	return strings.Join([]string{str(o["apiVersion"]), str(o["kind"]), str(meta["namespace"]), str(meta["name"])}, " ")
}

func str(v any) string { s, _ := v.(string); return s }

// decode splits a YAML stream into objects, by key.
func decode(t *testing.T, stream []byte) map[string]obj {
	t.Helper()
	objs := map[string]obj{}
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(stream)))
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("split the stream: %v", err)
		}
		var o obj
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("decode %s: %v", doc, err)
		}
		if len(o) == 0 {
			continue
		}
		if _, dup := objs[key(o)]; dup {
			t.Fatalf("%s is rendered twice", key(o))
		}
		objs[key(o)] = o
	}
}

func run(t *testing.T, name string, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func kustomize(t *testing.T) map[string]obj {
	t.Helper()
	out, err := run(t, kubectlBin(t), "kustomize", filepath.Join(root, "config/default"))
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v", err)
	}
	return decode(t, out)
}

// render is the chart as `helm template` renders it with the values given by --set.
func render(t *testing.T, set ...string) (map[string]obj, string, error) {
	t.Helper()
	args := []string{"template", "netdiag", chartDir, "--namespace", namespace}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	out, err := run(t, helmBin(t), args...)
	if err != nil {
		return nil, "", err
	}
	return decode(t, out), string(out), nil
}

func mustRender(t *testing.T, set ...string) (map[string]obj, string) {
	t.Helper()
	objs, text, err := render(t, set...)
	if err != nil {
		t.Fatalf("helm template --set %v: %v", set, err)
	}
	return objs, text
}

// chartVersion is Chart.yaml's version, which helm.sh/chart carries.
func chartVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ Name, Version string }
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Name + "-" + c.Version
}

// stripHelm checks that o carries Helm's labels (and annotations) with their values and
// takes them off, so that what is left compares with config/default's object.
func stripHelm(t *testing.T, o obj, chart string) {
	t.Helper()
	meta := o["metadata"].(obj)
	labels, _ := meta["labels"].(obj)
	want := map[string]string{"helm.sh/chart": chart, "app.kubernetes.io/managed-by": "Helm"}
	for _, l := range helmLabels {
		if labels[l] != want[l] {
			t.Errorf("%s: label %s is %v, want %s", key(o), l, labels[l], want[l])
		}
		delete(labels, l)
	}
	if len(labels) == 0 {
		delete(meta, "labels")
	}
	ann, _ := meta["annotations"].(obj)
	for _, a := range helmAnnotations[str(o["kind"])] {
		if ann[a] != "keep" {
			t.Errorf("%s: annotation %s is %v, want keep", key(o), a, ann[a])
		}
		delete(ann, a)
	}
	if ann != nil && len(ann) == 0 {
		delete(meta, "annotations")
	}
}

func TestDefaultValuesRenderTheKustomizeTree(t *testing.T) {
	want := kustomize(t)
	got, _ := mustRender(t)
	chart := chartVersion(t)
	for _, o := range got {
		stripHelm(t, o, chart)
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s is in config/default but not in the chart", k)
			continue
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("%s differs from config/default's (-kustomize +helm):\n%s", k, diff)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s is in the chart but not in config/default", k)
		}
	}
	if len(want) == 0 {
		t.Error("config/default builds no objects")
	}
}

// manager is the rendered manager container.
func manager(t *testing.T, objs map[string]obj) obj {
	t.Helper()
	dep, ok := objs["apps/v1 Deployment "+namespace+" netdiag-manager"]
	if !ok {
		for k, o := range objs {
			if str(o["kind"]) == "Deployment" {
				dep = objs[k]
			}
		}
	}
	if dep == nil {
		t.Fatal("no manager Deployment rendered")
	}
	ctrs := dep["spec"].(obj)["template"].(obj)["spec"].(obj)["containers"].([]any)
	for _, c := range ctrs {
		if c.(obj)["name"] == "manager" {
			return c.(obj)
		}
	}
	t.Fatal("the Deployment has no manager container")
	return nil
}

func args(t *testing.T, objs map[string]obj) []string {
	t.Helper()
	var out []string
	for _, a := range manager(t, objs)["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

// replaced is list with the item that starts with prefix replaced by item.
func replaced(t *testing.T, list []string, prefix, item string) []string {
	t.Helper()
	out := append([]string(nil), list...)
	for i, a := range out {
		if strings.HasPrefix(a, prefix) {
			out[i] = item
			return out
		}
	}
	t.Fatalf("config/manager passes no %s... argument: %v", prefix, list)
	return nil
}

func kinds(objs map[string]obj, kind string) []string {
	var names []string
	for _, o := range objs {
		if str(o["kind"]) == kind {
			names = append(names, str(o["metadata"].(obj)["name"]))
		}
	}
	return names
}

// aCap is a load cap the chart offers, an integer flag, as values.schema.json lists them.
func aCap(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties struct {
			Caps struct {
				Properties map[string]struct{ Type any }
			}
		}
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	var names []string
	for name, p := range schema.Properties.Caps.Properties {
		if p.Type == "integer" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		t.Fatal("values.schema.json offers no cap")
	}
	slices.Sort(names)
	return names[0]
}

func TestValuesChangeWhatTheyName(t *testing.T) {
	tree := kustomize(t)
	treeArgs := args(t, tree)
	capFlag := aCap(t)
	digest := "sha256:" + strings.Repeat("ab", 32)
	cases := map[string]struct {
		set   []string
		check func(t *testing.T, objs map[string]obj, text string)
	}{
		"image by tag": {
			set: []string{"image.repository=registry.example/netdiag", "image.tag=v1.2.3"},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				if got := manager(t, objs)["image"]; got != "registry.example/netdiag:v1.2.3" {
					t.Errorf("image %v, want registry.example/netdiag:v1.2.3", got)
				}
			},
		},
		"image by digest": {
			set: []string{"image.repository=registry.example:5000/netdiag", "image.digest=" + digest},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				if got, want := manager(t, objs)["image"], "registry.example:5000/netdiag@"+digest; got != want {
					t.Errorf("image %v, want %s", got, want)
				}
			},
		},
		"namespace": {
			set: []string{"namespace.name=diag"},
			check: func(t *testing.T, objs map[string]obj, text string) {
				if strings.Contains(text, namespace) {
					t.Errorf("%s is still named in the chart rendered for namespace diag", namespace)
				}
				if got := kinds(objs, "Namespace"); !cmp.Equal(got, []string{"diag"}) {
					t.Errorf("namespaces %v, want [diag]", got)
				}
				for _, want := range tree {
					wantNS := str(want["metadata"].(obj)["namespace"])
					got := objs[strings.ReplaceAll(key(want), namespace, "diag")]
					switch {
					case got == nil:
						t.Errorf("%s is not rendered in namespace diag", key(want))
					case wantNS != "" && str(got["metadata"].(obj)["namespace"]) != "diag":
						t.Errorf("%s is in namespace %v", key(want), got["metadata"].(obj)["namespace"])
					}
					for _, s := range subjects(got) {
						if s["kind"] == "ServiceAccount" && s["namespace"] != "diag" {
							t.Errorf("%s binds service account %s of namespace %v", key(want), s["name"], s["namespace"])
						}
					}
				}
			},
		},
		"a cap": {
			set: []string{"caps." + capFlag + "=3"},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				if diff := cmp.Diff(append(treeArgs, "--"+capFlag+"=3"), args(t, objs)); diff != "" {
					t.Errorf("args (-want +got):\n%s", diff)
				}
			},
		},
		"a plugin default": {
			set: []string{"plugins.flannel-backend=host-gw"},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				if diff := cmp.Diff(append(treeArgs, "--flannel-backend=host-gw"), args(t, objs)); diff != "" {
					t.Errorf("args (-want +got):\n%s", diff)
				}
			},
		},
		"a flag config/manager sets is replaced where it stands": {
			set: []string{"manager.flags.health-probe-bind-address=:9090", "manager.flags.v=2"},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				want := append(replaced(t, treeArgs, "--health-probe-bind-address", "--health-probe-bind-address=:9090"), "--v=2")
				if diff := cmp.Diff(want, args(t, objs)); diff != "" {
					t.Errorf("args (-want +got):\n%s", diff)
				}
			},
		},
		"metrics off": {
			set: []string{"metrics.enable=false"},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				want := replaced(t, treeArgs, "--metrics-bind-address", "--metrics-bind-address=0")
				if diff := cmp.Diff(want, args(t, objs)); diff != "" {
					t.Errorf("args (-want +got):\n%s", diff)
				}
				for k := range tree {
					_, rendered := objs[k]
					if rendered == strings.Contains(k, "metrics") {
						t.Errorf("%s rendered: %v, want %v", k, rendered, !rendered)
					}
				}
			},
		},
		"no namespace, no CRD": {
			set: []string{"namespace.create=false", "crd.enable=false"},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				for k := range tree {
					_, rendered := objs[k]
					kind := strings.Fields(k)[1]
					if want := kind != "Namespace" && kind != "CustomResourceDefinition"; rendered != want {
						t.Errorf("%s rendered: %v, want %v", k, rendered, want)
					}
				}
			},
		},
		"replicas and resources": {
			set: []string{"manager.replicas=2", "manager.resources.limits.memory=4Gi"},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				dep := objs["apps/v1 Deployment "+namespace+" netdiag-manager"]
				if got := dep["spec"].(obj)["replicas"]; got != float64(2) {
					t.Errorf("replicas %v, want 2", got)
				}
				limits := manager(t, objs)["resources"].(obj)["limits"].(obj)
				if limits["memory"] != "4Gi" || limits["cpu"] == nil {
					t.Errorf("limits %v, want memory 4Gi and config/manager's cpu", limits)
				}
			},
		},
	}
	if len(kinds(tree, "PriorityClass")) > 0 {
		cases["no collector PriorityClass"] = struct {
			set   []string
			check func(t *testing.T, objs map[string]obj, text string)
		}{
			set: []string{"collector.priorityClass.create=false"},
			check: func(t *testing.T, objs map[string]obj, _ string) {
				if got := kinds(objs, "PriorityClass"); len(got) != 0 {
					t.Errorf("PriorityClasses %v rendered", got)
				}
				if diff := cmp.Diff(append(treeArgs, "--collector-priority-class="), args(t, objs)); diff != "" {
					t.Errorf("args (-want +got):\n%s", diff)
				}
			},
		}
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			objs, text := mustRender(t, tc.set...)
			tc.check(t, objs, text)
		})
	}
}

func subjects(o obj) []obj {
	list, _ := o["subjects"].([]any)
	var out []obj
	for _, s := range list {
		out = append(out, s.(obj))
	}
	return out
}

// TestValuesOutsideTheSchemaAreRefused: a misspelt flag would reach the manager, which
// exits on flags it does not know; helm says which value is wrong instead.
func TestValuesOutsideTheSchemaAreRefused(t *testing.T) {
	for name, set := range map[string]string{
		"unknown cap":           "caps.max-diagnosis-typo=3",
		"plugin flag as a cap":  "caps.flannel-backend=vxlan",
		"cap of the wrong type": "caps." + aCap(t) + "=many",
		"unknown flag":          "manager.flags.metrics-bind=:1",
		"digest without sha256": "image.digest=abc",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := render(t, set)
			if err == nil {
				t.Fatalf("helm template --set %s succeeded", set)
			}
			if !strings.Contains(err.Error(), "schema") {
				t.Errorf("helm template --set %s: %v, want a schema error", set, err)
			}
		})
	}
}

// TestChartIsGenerated runs hack/gen-chart.sh on a copy of the chart: a change to config/ or
// to the manager's flags without `make chart` fails here.
func TestChartIsGenerated(t *testing.T) {
	kubectlBin(t)
	if testing.Short() {
		t.Skip("builds netdiag")
	}
	tmp := filepath.Join(t.TempDir(), "chart")
	if err := os.CopyFS(tmp, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, filepath.Join(root, "hack/gen-chart.sh"), tmp); err != nil {
		t.Fatalf("hack/gen-chart.sh: %v", err)
	}
	want, got := files(t, tmp), files(t, chartDir)
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("dist/chart/%s is not committed; run make chart", name)
		}
	}
	for name, text := range got {
		w, ok := want[name]
		switch {
		case !ok:
			t.Errorf("dist/chart/%s is not written by hack/gen-chart.sh any more; run make chart", name)
		case w != text:
			t.Errorf("dist/chart/%s is stale; run make chart (-generated +committed):\n%s", name, cmp.Diff(w, text))
		}
	}
}

func files(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		raw, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(raw)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestChartLints(t *testing.T) {
	out, err := run(t, helmBin(t), "lint", "--strict", chartDir, "--namespace", namespace)
	if err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
}
