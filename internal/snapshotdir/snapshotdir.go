package snapshotdir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/policy/calico/crd"
)

// Load reads a snapshot folder, or a tarball of one (a path ending in .tar.gz or .tgz).
// Objects of kinds the engine does not read are skipped; a file that does not parse, an
// object without kind, or two snapshots of one node are errors naming the file.
func Load(path string) (*cluster.Snapshot, map[string]*netstack.NodeSnapshot, error) {
	files, err := Files(path)
	if err != nil {
		return nil, nil, err
	}
	return Parse(path, files)
}

// Parse reads the files of a snapshot folder (or tarball) at where, the name errors give.
func Parse(where string, files []File) (*cluster.Snapshot, map[string]*netstack.NodeSnapshot, error) {
	snap := &cluster.Snapshot{}
	nodes := map[string]*netstack.NodeSnapshot{}
	objects := 0
	for _, f := range files {
		path := filepath.Join(where, f.Name)
		switch strings.ToLower(filepath.Ext(f.Name)) {
		case ".yaml", ".yml":
			n, err := readObjects(path, bytes.NewReader(f.Data), snap)
			if err != nil {
				return nil, nil, err
			}
			objects += n
		case ".json":
			ns, err := netstack.ParseNodeSnapshot(f.Data)
			if err != nil {
				return nil, nil, fmt.Errorf("node snapshot %s: %w", path, err)
			}
			if ns.Node == "" {
				return nil, nil, fmt.Errorf("node snapshot %s names no node", path)
			}
			// A folder's rules may have been edited by hand since collection.
			ns.ForgetDigests()
			if _, dup := nodes[ns.Node]; dup {
				return nil, nil, fmt.Errorf("node snapshot %s: node %s has another snapshot in the folder", path, ns.Node)
			}
			nodes[ns.Node] = ns
		}
	}
	if objects == 0 {
		return nil, nil, fmt.Errorf("snapshot folder %s holds no Kubernetes objects (*.yaml as kubectl get -o yaml prints them)", where)
	}
	return snap, nodes, nil
}

type typeMeta struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
}

// ReadObjects adds the objects of one YAML file (single objects or Lists, as `kubectl get -o
// yaml` prints them) to snap and returns how many it kept; kinds the engine does not read are
// skipped.
func ReadObjects(path string, snap *cluster.Snapshot) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	return readObjects(path, f, snap)
}

// readObjects is ReadObjects on the file's content; path names it in errors.
func readObjects(path string, in io.Reader, snap *cluster.Snapshot) (int, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(in))
	n := 0
	for doc := 1; ; doc++ {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return n, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
		if string(js) == "null" {
			continue
		}
		k, err := add(snap, js)
		if err != nil {
			return n, fmt.Errorf("%s: document %d: %w", path, doc, err)
		}
		n += k
	}
}

// add decodes one object or List into the snapshot and returns how many objects it held.
func add(snap *cluster.Snapshot, js []byte) (int, error) {
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return 0, err
	}
	if tm.Kind == "" {
		return 0, errors.New("object has no kind")
	}
	if strings.HasSuffix(tm.Kind, "List") {
		n := 0
		for i, item := range tm.Items {
			k, err := add(snap, item)
			if err != nil {
				return n, fmt.Errorf("item %d: %w", i, err)
			}
			n += k
		}
		return n, nil
	}
	if strings.HasPrefix(tm.APIVersion, crd.Group+"/") && tm.Kind != cluster.KindFelixConfiguration {
		// Calico's objects share kind names with Kubernetes' (NetworkPolicy).
		ok, err := snap.Calico.Add(js)
		if !ok || err != nil {
			return 0, err
		}
		return 1, nil
	}
	i := slices.IndexFunc(kinds, func(k kind) bool { return k.name == tm.Kind })
	if i < 0 {
		return 0, nil
	}
	if err := kinds[i].add(snap, js); err != nil {
		return 0, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	return 1, nil
}

// kind is one kind of object a snapshot folder holds: the file Write puts them in, how they
// are named, and the snapshot's list of them.
type kind struct {
	file, name, apiVersion string
	// add decodes one object onto the list; items are the list's objects stamped with
	// apiVersion and kind, as kubectl prints them.
	add   func(snap *cluster.Snapshot, js []byte) error
	items func(snap *cluster.Snapshot) []map[string]any
}

func kindOf[T any](file, name, apiVersion string, list func(*cluster.Snapshot) *[]T) kind {
	return kind{file: file, name: name, apiVersion: apiVersion,
		add:   func(snap *cluster.Snapshot, js []byte) error { return decode(js, list(snap)) },
		items: func(snap *cluster.Snapshot) []map[string]any { return withKind(*list(snap), apiVersion, name) },
	}
}

// kinds are every kind the engine reads, in the order Write writes them; Load and
// ReadObjects skip the others.
var kinds = []kind{
	kindOf("namespaces.yaml", "Namespace", "v1", func(s *cluster.Snapshot) *[]corev1.Namespace { return &s.Namespaces }),
	kindOf("nodes.yaml", "Node", "v1", func(s *cluster.Snapshot) *[]corev1.Node { return &s.Nodes }),
	kindOf("pods.yaml", "Pod", "v1", func(s *cluster.Snapshot) *[]corev1.Pod { return &s.Pods }),
	kindOf("services.yaml", "Service", "v1", func(s *cluster.Snapshot) *[]corev1.Service { return &s.Services }),
	kindOf("endpointslices.yaml", "EndpointSlice", "discovery.k8s.io/v1", func(s *cluster.Snapshot) *[]discoveryv1.EndpointSlice { return &s.EndpointSlices }),
	kindOf("networkpolicies.yaml", "NetworkPolicy", "networking.k8s.io/v1", func(s *cluster.Snapshot) *[]networkingv1.NetworkPolicy { return &s.NetworkPolicies }),
	kindOf("daemonsets.yaml", "DaemonSet", "apps/v1", func(s *cluster.Snapshot) *[]appsv1.DaemonSet { return &s.DaemonSets }),
	kindOf("adminnetworkpolicies.yaml", cluster.KindAdminNetworkPolicy, cluster.AdminPolicyGroup+"/v1alpha1", func(s *cluster.Snapshot) *[]cluster.AdminNetworkPolicy { return &s.Admin.AdminNetworkPolicies }),
	kindOf("baselineadminnetworkpolicies.yaml", cluster.KindBaselineAdminNetworkPolicy, cluster.AdminPolicyGroup+"/v1alpha1", func(s *cluster.Snapshot) *[]cluster.BaselineAdminNetworkPolicy {
		return &s.Admin.BaselineAdminNetworkPolicies
	}),
	kindOf("clusternetworkpolicies.yaml", cluster.KindClusterNetworkPolicy, cluster.AdminPolicyGroup+"/v1beta1", func(s *cluster.Snapshot) *[]cluster.ClusterNetworkPolicy { return &s.Admin.ClusterNetworkPolicies }),
	kindOf("configmaps.yaml", "ConfigMap", "v1", func(s *cluster.Snapshot) *[]corev1.ConfigMap { return &s.ConfigMaps }),
	kindOf("felixconfigurations.yaml", cluster.KindFelixConfiguration, cluster.FelixConfigurationGroup+"/"+cluster.FelixConfigurationVersion, func(s *cluster.Snapshot) *[]cluster.FelixConfiguration { return &s.FelixConfigurations }),
}

func decode[T any](js []byte, into *[]T) error {
	var obj T
	if err := json.Unmarshal(js, &obj); err != nil {
		return err
	}
	*into = append(*into, obj)
	return nil
}

// Write stores a snapshot as a folder Load reads: one List per kind and one JSON file per
// node. It is how testdata folders are made from clusters built in code.
func Write(dir string, snap *cluster.Snapshot, nodes map[string]*netstack.NodeSnapshot) error {
	files, err := Encode(snap, nodes)
	if err != nil {
		return err
	}
	return WriteFiles(dir, files)
}

// Encode returns the files of a snapshot folder: one List per kind and one JSON file per
// node, in a fixed order.
func Encode(snap *cluster.Snapshot, nodes map[string]*netstack.NodeSnapshot) ([]File, error) {
	var files []File
	for _, k := range kinds {
		items := k.items(snap)
		if len(items) == 0 {
			continue
		}
		out, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", k.name, err)
		}
		files = append(files, File{Name: k.file, Data: out})
	}
	calico, err := snap.Calico.Items()
	if err != nil {
		return nil, err
	}
	if len(calico) > 0 {
		out, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": calico})
		if err != nil {
			return nil, fmt.Errorf("encode calico objects: %w", err)
		}
		files = append(files, File{Name: "calico.yaml", Data: out})
	}
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		data, err := json.MarshalIndent(nodes[n], "", "  ")
		if err != nil {
			return nil, fmt.Errorf("encode node snapshot %s: %w", n, err)
		}
		files = append(files, File{Name: n + ".json", Data: append(data, '\n')})
	}
	return files, nil
}

// withKind stamps apiVersion and kind on each object, as kubectl prints them.
func withKind[T any](objs []T, apiVersion, kind string) []map[string]any {
	out := make([]map[string]any, 0, len(objs))
	for i := range objs {
		js, err := json.Marshal(&objs[i])
		if err != nil {
			continue
		}
		var m map[string]any
		if json.Unmarshal(js, &m) != nil {
			continue
		}
		m["apiVersion"], m["kind"] = apiVersion, kind
		out = append(out, m)
	}
	return out
}
