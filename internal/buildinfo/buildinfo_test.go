package buildinfo

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func TestFromBuildInfo(t *testing.T) {
	recorded := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/netdiag/netdiag", Version: "v0.3.0"},
		Deps: []*debug.Module{
			{Path: "k8s.io/client-go", Version: "v0.37.2"},
			{Path: "k8s.io/api", Version: "v0.37.1", Replace: &debug.Module{Path: "k8s.io/api", Version: "v0.37.2"}},
			{Path: "github.com/spf13/cobra", Version: "v1.10.2"},
		},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}},
	}
	cases := map[string]struct {
		version, commit string
		bi              *debug.BuildInfo
		want            Info
	}{
		"linker flags win over the record": {
			version: "v0.4.0-3-gdeadbee", commit: "deadbee", bi: recorded,
			want: Info{Version: "v0.4.0-3-gdeadbee", Commit: "deadbee", GoVersion: "go1.26.0",
				Libraries: map[string]string{"k8s.io/client-go": "v0.37.2", "k8s.io/api": "v0.37.2"}},
		},
		"go install records the module version and revision": {
			bi: recorded,
			want: Info{Version: "v0.3.0", Commit: "abc123", GoVersion: "go1.26.0",
				Libraries: map[string]string{"k8s.io/client-go": "v0.37.2", "k8s.io/api": "v0.37.2"}},
		},
		"a plain go build in a tree says so": {
			bi:   &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"}},
			want: Info{Version: "dev", Commit: "unknown", GoVersion: "go1.26.0"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got := fromBuildInfo(c.version, c.commit, c.bi)
			got.Platform = ""
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("fromBuildInfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	info := Info{Version: "v0.4.0", Commit: "deadbee", GoVersion: "go1.26.0", Platform: "linux/amd64",
		Libraries: map[string]string{"k8s.io/client-go": "v0.37.2", "sigs.k8s.io/controller-runtime": "v0.25.2"}}
	var text bytes.Buffer
	if err := info.Write(&text, "text"); err != nil {
		t.Fatal(err)
	}
	want := `Version:    v0.4.0
Commit:     deadbee
Go:         go1.26.0
Platform:   linux/amd64
Library:    k8s.io/client-go v0.37.2
Library:    sigs.k8s.io/controller-runtime v0.25.2
`
	if diff := cmp.Diff(want, text.String()); diff != "" {
		t.Errorf("text (-want +got):\n%s", diff)
	}
	for _, format := range []string{"json", "yaml"} {
		var out bytes.Buffer
		if err := info.Write(&out, format); err != nil {
			t.Fatal(err)
		}
		var back Info
		if err := yaml.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatalf("%s output does not decode: %v\n%s", format, err, out.String())
		}
		if diff := cmp.Diff(info, back); diff != "" {
			t.Errorf("%s round trip (-want +got):\n%s", format, diff)
		}
	}
	if err := info.Write(&text, "table"); err == nil || !strings.Contains(err.Error(), "want text, yaml or json") {
		t.Errorf("Write(table) = %v, want an error naming the formats", err)
	}
}
