package kubectlcmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"sigs.k8s.io/yaml"
)

// The krew manifest is a template krew-release-bot renders for a tag; this renders it as
// the bot does (addURIAndSha renders the URI for the tag and adds the archive's sha256) and
// checks that krew would get a plugin that installs this binary on each platform.
func TestKrewManifest(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "krew", "netdiag.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const tag = "v1.2.3"
	funcs := template.FuncMap{"addURIAndSha": func(uri, tagName string) (string, error) {
		var b strings.Builder
		if err := template.Must(template.New("uri").Parse(uri)).Execute(&b, map[string]string{"TagName": tagName}); err != nil {
			return "", err
		}
		return "uri: " + b.String() + "\n    sha256: " + strings.Repeat("ab", 32), nil
	}}
	tmpl, err := template.New("krew").Funcs(funcs).Parse(string(raw))
	if err != nil {
		t.Fatalf("krew/netdiag.yaml is no template krew-release-bot can render: %v", err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]string{"TagName": tag}); err != nil {
		t.Fatal(err)
	}
	var plugin struct {
		APIVersion string                `json:"apiVersion"`
		Kind       string                `json:"kind"`
		Metadata   struct{ Name string } `json:"metadata"`
		Spec       struct {
			Version          string `json:"version"`
			Homepage         string `json:"homepage"`
			ShortDescription string `json:"shortDescription"`
			Description      string `json:"description"`
			Caveats          string `json:"caveats"`
			Platforms        []struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				URI    string `json:"uri"`
				Sha256 string `json:"sha256"`
				Bin    string `json:"bin"`
			} `json:"platforms"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(out.Bytes(), &plugin); err != nil {
		t.Fatalf("rendered manifest does not decode: %v\n%s", err, out.String())
	}
	if plugin.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || plugin.Kind != "Plugin" || plugin.Metadata.Name != "netdiag" {
		t.Errorf("manifest is %s %s %q, want a krew v1alpha2 Plugin named netdiag (kubectl netdiag)", plugin.APIVersion, plugin.Kind, plugin.Metadata.Name)
	}
	if plugin.Spec.Version != tag || plugin.Spec.ShortDescription == "" {
		t.Errorf("version %q, short description %q: want the tag and a description", plugin.Spec.Version, plugin.Spec.ShortDescription)
	}
	if len(plugin.Spec.Platforms) == 0 {
		t.Fatal("no platforms")
	}
	for _, p := range plugin.Spec.Platforms {
		osArch := p.Selector.MatchLabels["os"] + "_" + p.Selector.MatchLabels["arch"]
		if want := "/" + tag + "/kubectl-netdiag_" + tag + "_" + osArch + ".tar.gz"; !strings.HasSuffix(p.URI, want) {
			t.Errorf("platform %s: uri %q, want it to end in %q", osArch, p.URI, want)
		}
		if p.Bin != "kubectl-netdiag" || len(p.Sha256) != 64 {
			t.Errorf("platform %s: bin %q, sha256 %q: want kubectl-netdiag and the archive's sum", osArch, p.Bin, p.Sha256)
		}
	}
}
