package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// CalicoVersion is the Calico release whose felix and CRDs the calico modes run
// (bin/calico/<version>, built by hack/build-felix.sh).
const CalicoVersion = "v3.31.0"

// FelixDataplane is the dataplane felix programs: its iptables or its nftables backend.
type FelixDataplane string

const (
	FelixIPTables FelixDataplane = "iptables"
	FelixNFTables FelixDataplane = "nftables"
)

// felixOptions is how one felix runs.
type felixOptions struct {
	// dataplane is felix's backend; empty is iptables.
	dataplane FelixDataplane
	// env is added to the FELIX_* environment (a canal lab sets policy-only options here).
	env []string
}

// calicoGVR are the crd.projectcalico.org/v1 resources the lab writes, as the API server
// serves them once Calico's CRDs are installed.
func calicoGVR(resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "crd.projectcalico.org", Version: "v1", Resource: resource}
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Calico's node annotations, as calico-node writes them in a Kubernetes-datastore cluster and
// felix reads them back through libcalico-go's node conversion.
const (
	calicoIPv4AddressAnnotation = "projectcalico.org/IPv4Address"
	calicoVXLANTunnelAnnotation = "projectcalico.org/IPv4VXLANTunnelAddr"
)

// Dynamic is an admin dynamic client, for Calico's resources (NetworkPolicy, Tier...).
func (l *Lab) Dynamic() (dynamic.Interface, error) {
	c, err := dynamic.NewForConfig(l.RESTConfig())
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	return c, nil
}

// installCalico installs Calico's CRDs and what a Calico install writes before felix starts:
// ClusterInformation default with the datastore marked ready (felix waits for it) and the
// IP pool the nodes' blocks come from.
func (l *Lab) installCalico(ctx context.Context, vxlan bool) error {
	dyn, err := l.Dynamic()
	if err != nil {
		return err
	}
	dir := l.bin(filepath.Join("calico", CalicoVersion, "crd"))
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("calico CRDs in %s: none found (run hack/build-felix.sh)", dir)
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read CRD: %w", err)
		}
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal(data, &obj.Object); err != nil {
			return fmt.Errorf("decode CRD %s: %w", f, err)
		}
		if _, err := dyn.Resource(crdGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", obj.GetName(), err)
		}
		names = append(names, obj.GetName())
	}
	waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, name := range names {
		err := waitFor(waitCtx, "CRD "+name+" established", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
			crd, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return err
		}
	}
	vxlanMode := "Never"
	if vxlan {
		vxlanMode = "Always"
	}
	objs := []struct {
		resource string
		obj      map[string]any
	}{
		{"clusterinformations", map[string]any{
			"apiVersion": "crd.projectcalico.org/v1", "kind": "ClusterInformation",
			"metadata": map[string]any{"name": "default"},
			"spec": map[string]any{
				"datastoreReady": true, "calicoVersion": CalicoVersion, "clusterType": "k8s,bgp,kdd",
				"clusterGUID": "ndlab-" + l.cfg.Name,
			},
		}},
		// Calico's API server or kube-controllers create the default tier; the lab runs
		// neither.
		{"tiers", map[string]any{
			"apiVersion": "crd.projectcalico.org/v1", "kind": "Tier",
			"metadata": map[string]any{"name": "default"},
			"spec":     map[string]any{"order": 1000000, "defaultAction": "Deny"},
		}},
		{"ippools", map[string]any{
			"apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
			"metadata": map[string]any{"name": "default-ipv4-ippool"},
			"spec": map[string]any{
				// One block per node, the node's pod CIDR: felix runs with USE_POD_CIDR, as
				// Calico does with host-local IPAM over Node.spec.podCIDR.
				"cidr": clusterCIDR.String(), "blockSize": clusterCIDR.Bits() + 8,
				"ipipMode": "Never", "vxlanMode": vxlanMode, "natOutgoing": true,
				"nodeSelector": "all()",
			},
		}},
	}
	for _, o := range objs {
		u := &unstructured.Unstructured{Object: o.obj}
		if _, err := dyn.Resource(calicoGVR(o.resource)).Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// annotateCalicoNode writes what calico-node writes on its Node before felix starts: the
// node's address (felix's peers and VTEPs use it) and, in vxlan mode, the tunnel address
// calico's IPAM would hand out first in the node's block.
func (l *Lab) annotateCalicoNode(ctx context.Context, n *Node, vxlan bool) error {
	ann := map[string]string{calicoIPv4AddressAnnotation: fmt.Sprintf("%s/%d", n.IP, underlayPrefix.Bits())}
	if vxlan {
		ann[calicoVXLANTunnelAnnotation] = calicoTunnelIP(n).String()
	}
	patch, err := yaml.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	if err != nil {
		return err
	}
	patchJSON, err := yaml.YAMLToJSON(patch)
	if err != nil {
		return err
	}
	if _, err := l.client.CoreV1().Nodes().Patch(ctx, n.Name, types.MergePatchType, patchJSON, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("annotate node %s for calico: %w", n.Name, err)
	}
	return nil
}

// felixName is the process name (and log name) of a node's felix.
func felixName(n *Node) string { return "felix-" + n.Name }

// startFelix runs the real calico-felix in the node's namespace against the lab's API server
// (Kubernetes datastore), with its configuration in the environment as calico-node's
// manifest sets it. Its log is <Dir>/logs/felix-<node>.log.
func (l *Lab) startFelix(n *Node, opt felixOptions) error {
	if p := l.felix[n.Name]; p != nil && !p.exited() {
		return fmt.Errorf("felix on %s already runs", n.Name)
	}
	nft := "Disabled"
	if opt.dataplane == FelixNFTables {
		nft = "Enabled"
	}
	statusDir := filepath.Join(n.dir, "calico")
	if err := os.MkdirAll(statusDir, 0o755); err != nil {
		return fmt.Errorf("create felix directory: %w", err)
	}
	env := []string{
		"DATASTORE_TYPE=kubernetes",
		"FELIX_DATASTORETYPE=kubernetes",
		"KUBECONFIG=" + l.adminInsidePath(),
		// Blocks are the nodes' pod CIDRs, as with Calico over host-local IPAM.
		"USE_POD_CIDR=true",
		"FELIX_FELIXHOSTNAME=" + n.Name,
		"FELIX_INTERFACEPREFIX=cali",
		"FELIX_IPTABLESBACKEND=nft",
		"FELIX_NFTABLESMODE=" + nft,
		"FELIX_IPV6SUPPORT=false",
		"FELIX_DEFAULTENDPOINTTOHOSTACTION=ACCEPT",
		"FELIX_LOGSEVERITYSCREEN=Info",
		"FELIX_LOGFILEPATH=none",
		"FELIX_LOGSEVERITYSYS=none",
		"FELIX_USAGEREPORTINGENABLED=false",
		"FELIX_ENDPOINTSTATUSPATHPREFIX=" + statusDir,
		"FELIX_HEALTHENABLED=false",
		"FELIX_PROMETHEUSMETRICSENABLED=false",
		"FELIX_XDPENABLED=false",
		// felix clears eBPF leftovers at start through libbpf, which a build without cgo
		// only stubs (a panic); there are none here. felix's own test harness skips it so.
		"FELIX_DebugSkipCTLBCleanup=true",
	}
	env = append(env, opt.env...)
	p, err := startProcess(felixName(n), n.Netns, l.logPath(felixName(n)), []string{l.bin(filepath.Join("calico", CalicoVersion, "calico-felix"))},
		startOptions{env: env})
	if err != nil {
		return err
	}
	l.procs.add(p)
	if l.felix == nil {
		l.felix = map[string]*process{}
	}
	l.felix[n.Name] = p
	l.felixOpts = opt
	return nil
}

// waitFelix waits until the node's felix has programmed its dataplane: its chains (or its
// nftables table) are in place.
func (l *Lab) waitFelix(ctx context.Context, n *Node, opt felixOptions) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := waitFor(ctx, "felix on "+n.Name, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		if p := l.felix[n.Name]; p == nil || p.exited() {
			// Its last lines say why; the log goes with the lab's directory when Up fails.
			return false, fmt.Errorf("felix on %s: %w: %s", n.Name, errExited, logTail(l.logPath(felixName(n)), 2000))
		}
		var out []byte
		var err error
		if opt.dataplane == FelixNFTables {
			out, err = nsExec(ctx, n.Netns, "nft", "list", "ruleset")
		} else {
			out, err = nsExec(ctx, n.Netns, "iptables-save", "-t", "filter")
		}
		if err != nil {
			return false, err
		}
		return strings.Contains(string(out), "cali-FORWARD"), nil
	})
	if err != nil {
		return fmt.Errorf("%w (see %s)", err, l.logPath(felixName(n)))
	}
	return nil
}

// logTail is the end of a log file, at most max bytes.
func logTail(path string, max int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}

// StopFelix stops the felix of a node, leaving what it programmed in place, as a crashed or
// stuck calico-node does: the dataplane no longer follows the objects.
func (l *Lab) StopFelix(node string) error {
	p := l.felix[node]
	if p == nil {
		return fmt.Errorf("no felix on %s", node)
	}
	p.stop(10 * time.Second)
	return nil
}

// StartFelix starts a stopped felix again and waits until it has programmed its dataplane.
func (l *Lab) StartFelix(ctx context.Context, node string) error {
	for _, n := range l.nodes {
		if n.Name == node {
			if err := l.startFelix(n, l.felixOpts); err != nil {
				return err
			}
			return l.waitFelix(ctx, n, l.felixOpts)
		}
	}
	return fmt.Errorf("no node %s", node)
}

// FelixLog is the path of a node's felix log.
func (l *Lab) FelixLog(node string) string {
	return filepath.Join(l.cfg.Dir, "logs", "felix-"+node+".log")
}
