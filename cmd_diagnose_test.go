package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/netdiag/netdiag/internal/fixture"
	"github.com/netdiag/netdiag/internal/plugin/calico/calicotest"
	"github.com/netdiag/netdiag/internal/plugin/flannel/flanneltest"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

var update = flag.Bool("update", false, "rewrite the snapshot folders in testdata/ from the fixtures")

// snapshotFolders are the folders in testdata/, made from clusters built in code.
var snapshotFolders = map[string]func() *fixture.Cluster{
	"flannel-vxlan": func() *fixture.Cluster { return demoCluster(flanneltest.VXLAN) },
	"flannel-host-gw-forward-drop": func() *fixture.Cluster {
		c := demoCluster(flanneltest.HostGW)
		fixture.InsertRule(c.Host("node-1"), "filter", "FORWARD -d 10.244.1.0/24 -p tcp -m tcp --dport 5432 -j DROP")
		return c
	},
	// Calico routed: pods on /32 cali veths, the peer's block via BGP; shop/deny-db isolates db
	// for ingress and felix's chain on node-1 drops what no policy passed.
	"calico-routed": func() *fixture.Cluster {
		return calicotest.New(calicotest.Routed, 2).
			Pod("shop", "client", 0, map[string]string{"app": "client"}).
			Pod("shop", "web-0", 0, map[string]string{"app": "web"}, 8080).
			Pod("shop", "web-1", 1, map[string]string{"app": "web"}, 8080).
			Pod("shop", "db", 1, map[string]string{"app": "db"}, 5432).
			Service("shop", "web", map[string]string{"app": "web"}, 80, 8080).
			Build().
			DenyIngress("shop", "db", "deny-db")
	},
}

func demoCluster(backend string) *fixture.Cluster {
	return flanneltest.New(backend, 2).
		Pod("shop", "client", 0, map[string]string{"app": "client"}).
		Pod("shop", "web-0", 0, map[string]string{"app": "web"}, 8080).
		Pod("shop", "web-1", 1, map[string]string{"app": "web"}, 8080).
		Pod("shop", "db", 1, map[string]string{"app": "db"}, 5432).
		Service("shop", "web", map[string]string{"app": "web"}, 80, 8080).
		Build()
}

func TestSnapshotFoldersAreCurrent(t *testing.T) {
	for name, build := range snapshotFolders {
		dir := filepath.Join("testdata", name)
		c := build()
		if *update {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := snapshotdir.Write(dir, c.Snapshot, c.Nodes); err != nil {
				t.Fatal(err)
			}
		}
		tmp := t.TempDir()
		if err := snapshotdir.Write(tmp, c.Snapshot, c.Nodes); err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(tmp)
		for _, e := range entries {
			want, _ := os.ReadFile(filepath.Join(tmp, e.Name()))
			got, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s/%s is stale: go test . -run TestSnapshotFoldersAreCurrent -update", dir, e.Name())
			}
		}
	}
}

func TestDiagnoseCommand(t *testing.T) {
	cases := map[string]struct {
		opts diagnoseOptions
		// want are substrings of the output, wantErr of the error.
		want    []string
		wantErr string
	}{
		"service across the vxlan tunnel": {
			opts: diagnoseOptions{snapshot: "testdata/flannel-vxlan", source: "pod:shop/client", destination: "service:shop/web", protocol: "tcp", port: 80, output: "wide"},
			want: []string{"Verdict:  Reachable", "Plugin:   flannel", "kube-proxy iptables DNAT to 10.244.1.10:8080 (50% of new connections)", "vxlan      encapsulate: flannel.1", "Branch 2 of 2: to pod/shop/web-1", "listening: 0.0.0.0:8080"},
		},
		"a DROP in FORWARD is named with its rule": {
			opts: diagnoseOptions{snapshot: "testdata/flannel-host-gw-forward-drop", source: "pod:shop/client", destination: "pod:shop/db", protocol: "tcp", port: 5432, output: "text"},
			want: []string{"Verdict:  Unreachable", "node/node-1  ✗ stops here", "IPTablesDrop", "rule: -A FORWARD -d 10.244.1.0/24 -p tcp -m tcp --dport 5432 -j DROP"},
		},
		"node to node by ip, yaml": {
			opts: diagnoseOptions{snapshot: "testdata/flannel-vxlan", source: "node:node-0", destination: "ip:172.18.1.3", protocol: "tcp", port: 10250, output: "yaml"},
			want: []string{"verdict: Reachable", "id: node/node-1"},
		},
		"calico routed: a service across nodes, the pod's gateway by its static entry": {
			opts: diagnoseOptions{snapshot: "testdata/calico-routed", source: "pod:shop/client", destination: "service:shop/web", protocol: "tcp", port: 80, output: "wide"},
			want: []string{"Verdict:  Reachable", "Plugin:   calico", "default via 169.254.1.1 dev eth0",
				"neighbour: 169.254.1.1 lladdr ee:ee:ee:ee:ee:ee PERMANENT on eth0", "10.244.1.0/26 via 172.18.1.3 dev eth0", "Branch 2 of 2: to pod/shop/web-1"},
		},
		"calico routed: felix's policy chain drops, and the policy is named": {
			opts: diagnoseOptions{snapshot: "testdata/calico-routed", source: "pod:shop/client", destination: "pod:shop/db", protocol: "tcp", port: 5432, output: "text"},
			want: []string{"Verdict:  Unreachable", "node/node-1  ✗ stops here", "IPTablesDrop", "Calico's chain cali-tw-", "(the policy to pod shop/db)",
				"Drop if no policies passed packet", "NetworkPolicyDenied", "isolated for ingress by shop/deny-db"},
		},
		"unknown pod": {
			opts:    diagnoseOptions{snapshot: "testdata/flannel-vxlan", source: "pod:shop/nope", destination: "pod:shop/db", protocol: "tcp", port: 5432, output: "text"},
			wantErr: "--source pod:shop/nope in snapshot testdata/flannel-vxlan: pod shop/nope: not found",
		},
		"bad endpoint": {
			opts:    diagnoseOptions{snapshot: "testdata/flannel-vxlan", source: "shop/client", destination: "pod:shop/db", protocol: "tcp", port: 5432, output: "text"},
			wantErr: `--source: endpoint "shop/client": want pod:NAMESPACE/NAME`,
		},
		"missing folder": {
			opts:    diagnoseOptions{snapshot: "testdata/nope", source: "pod:shop/client", destination: "pod:shop/db", protocol: "tcp", port: 5432, output: "text"},
			wantErr: "read snapshot folder: open testdata/nope",
		},
		"port missing for tcp": {
			opts:    diagnoseOptions{snapshot: "testdata/flannel-vxlan", source: "pod:shop/client", destination: "pod:shop/db", protocol: "tcp", output: "text"},
			wantErr: "--port is required for tcp",
		},
		"the path as a picture": {
			opts: diagnoseOptions{snapshot: "testdata/flannel-host-gw-forward-drop", source: "pod:shop/client", destination: "pod:shop/db", protocol: "tcp", port: 5432, output: "mermaid"},
			want: []string{"flowchart LR", `subgraph g1["node node-1"]`, "✗ stops here: IPTablesDrop", "10.244.0.10:40000 → 10.244.1.11:5432"},
		},
		"bad output": {
			opts:    diagnoseOptions{snapshot: "testdata/flannel-vxlan", source: "pod:shop/client", destination: "pod:shop/db", protocol: "tcp", port: 1, output: "xml"},
			wantErr: `--output "xml"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if tc.opts.plugin == "" {
				tc.opts.plugin = "auto"
			}
			err := runDiagnose(&out, tc.opts)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestDiagnoseCommandWrongVersion(t *testing.T) {
	dir := t.TempDir()
	c := demoCluster(flanneltest.VXLAN)
	if err := snapshotdir.Write(dir, c.Snapshot, c.Nodes); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "node-0.json"))
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["version"] = "netstack.netdiag.dev/v0"
	data, _ = json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, "node-0.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	err := runDiagnose(&bytes.Buffer{}, diagnoseOptions{snapshot: dir, source: "pod:shop/client", destination: "pod:shop/db", protocol: "tcp", port: 5432, output: "text", plugin: "auto"})
	if err == nil || !strings.Contains(err.Error(), "node-0.json") || !strings.Contains(err.Error(), "netstack.netdiag.dev/v0") {
		t.Fatalf("error %v, want one naming the file and the wrong version", err)
	}
}

// TestDiagnoseCommandPluginOptions runs `netdiag diagnose` as a user types it: a plugin's
// option on the command line changes what is simulated, and a plugin it does not simulate
// is refused with the ones it does.
func TestDiagnoseCommandPluginOptions(t *testing.T) {
	run := func(args ...string) (string, error) {
		cmd := newDiagnoseCommand()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs(append([]string{"--snapshot", "testdata/calico-routed", "--source", "pod:shop/client", "--destination", "service:shop/web", "--port", "80"}, args...))
		err := cmd.Execute()
		return out.String(), err
	}
	routed, err := run()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(routed, "Verdict:  Reachable") || strings.Contains(routed, "InterfaceMissing") {
		t.Fatalf("calico routed as detected:\n%s", routed)
	}
	vxlan, err := run("--calico-mode", "vxlan")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(vxlan, "InterfaceMissing") || !strings.Contains(vxlan, "vxlan.calico") {
		t.Errorf("--calico-mode vxlan on a routed cluster does not miss felix's vxlan device:\n%s", vxlan)
	}
	if _, err := run("--calico-mode", "bgp"); err == nil || !strings.Contains(err.Error(), `--calico-mode "bgp"`) {
		t.Errorf("--calico-mode bgp: %v, want it refused", err)
	}
	_, err = run("--network-plugin", "antrea")
	if err == nil || !strings.Contains(err.Error(), `"antrea" is recognised but not simulated (supported: `+strings.Join(plugins.Registry().Simulated(), ", ")+")") {
		t.Errorf("--network-plugin antrea: %v", err)
	}
}

// TestDiagnoseIgnoresTenantDaemonSets checks that a tenant's copy of calico-node, saying
// vxlan where the cluster routes, changes nothing: the folder holds every namespace's
// DaemonSets, as `kubectl get daemonsets -A` writes them.
func TestDiagnoseIgnoresTenantDaemonSets(t *testing.T) {
	opts := diagnoseOptions{snapshot: "testdata/calico-routed", source: "pod:shop/client", destination: "pod:shop/db", protocol: "tcp", port: 5432, output: "yaml", plugin: "auto"}
	var want bytes.Buffer
	if err := runDiagnose(&want, opts); err != nil {
		t.Fatal(err)
	}
	snap, nodes, err := snapshotdir.Load(opts.snapshot)
	if err != nil {
		t.Fatal(err)
	}
	var lookalike *appsv1.DaemonSet
	for i := range snap.DaemonSets {
		if snap.DaemonSets[i].Name == "calico-node" {
			lookalike = snap.DaemonSets[i].DeepCopy()
		}
	}
	if lookalike == nil {
		t.Fatal("no calico-node DaemonSet in the folder")
	}
	lookalike.Namespace = "tenant-a"
	for i, e := range lookalike.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "CALICO_IPV4POOL_VXLAN" {
			lookalike.Spec.Template.Spec.Containers[0].Env[i].Value = "Always"
		}
	}
	snap.DaemonSets = append([]appsv1.DaemonSet{*lookalike}, snap.DaemonSets...)
	opts.snapshot = t.TempDir()
	if err := snapshotdir.Write(opts.snapshot, snap, nodes); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := runDiagnose(&got, opts); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("a tenant's DaemonSet changed the answer:\n%s\nwant:\n%s", got.String(), want.String())
	}
}
