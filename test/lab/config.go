package lab

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
)

// Mode is the pod network the lab lays between nodes.
type Mode string

const (
	// ModeFlannelVXLAN runs flanneld with the vxlan backend (flannel.1, VNI 1, port 8472) and
	// wires pods to a cni0 bridge, as flannel's CNI plugin delegates to the bridge plugin.
	ModeFlannelVXLAN Mode = "flannel-vxlan"
	// ModeFlannelHostGW runs flanneld with the host-gw backend: a route per peer node's pod
	// CIDR via the peer's underlay address.
	ModeFlannelHostGW Mode = "flannel-host-gw"
	// ModeCalicoRouted runs real felix and BIRD per node: /32 cali* veths with proxy ARP and
	// the 169.254.1.1 gateway, felix's route per local pod and its chains, BIRD's route per
	// peer block via the peer node (a BGP full mesh) and its blackhole for the local block.
	ModeCalicoRouted Mode = "calico-routed"
	// ModeCalicoVXLAN runs real felix per node in vxlan mode: felix lays vxlan.calico (VNI
	// 4096, port 4789) with a tunnel address per node and its routes, neighbour and fdb
	// entries per peer.
	ModeCalicoVXLAN Mode = "calico-vxlan"
	// ModeKindnet lays what kindnetd lays on a kind cluster: pods wired by the ptp,
	// host-local and portmap plugins, a route per peer node's pod CIDR via the peer, and the
	// KIND-MASQ-AGENT masquerade.
	ModeKindnet Mode = "kindnet"
)

// Modes lists every mode the lab can lay.
var Modes = []Mode{ModeFlannelVXLAN, ModeFlannelHostGW, ModeCalicoRouted, ModeCalicoVXLAN, ModeKindnet, ModeCanal}

// Calico reports whether the mode runs felix.
func (m Mode) Calico() bool { return m == ModeCalicoRouted || m == ModeCalicoVXLAN }

// Flannel reports whether the mode runs flanneld.
func (m Mode) Flannel() bool { return m == ModeFlannelVXLAN || m == ModeFlannelHostGW }

// ProxyMode is kube-proxy's --proxy-mode.
type ProxyMode string

const (
	ProxyIPTables ProxyMode = "iptables"
	ProxyNFTables ProxyMode = "nftables"
)

// Config describes a lab. The zero value (plus defaults) is a 2-node flannel vxlan lab with
// kube-proxy in iptables mode.
type Config struct {
	// Name prefixes everything the lab creates on the machine: its network namespaces
	// ("<Name>-node-1") and its directory. Default "ndlab". Labs with different names can run
	// side by side: every address lives inside the lab's own namespaces.
	Name string
	// Nodes is the number of nodes (1..200). Default 2.
	Nodes int
	// Mode is the pod network. Default ModeFlannelVXLAN.
	Mode Mode
	// ProxyMode is kube-proxy's mode. Default ProxyIPTables.
	ProxyMode ProxyMode
	// FelixDataplane is the backend felix programs in the calico modes. Default
	// FelixIPTables.
	FelixDataplane FelixDataplane
	// Dir holds the lab's files (certificates, kubeconfigs, logs, etcd data, CNI state).
	// Default /tmp/<Name>. Removed by Down.
	Dir string
	// BinDir is the repository's bin/ (bin/k8s/current, bin/cni, bin/flannel). Default: found
	// from the working directory upwards next to go.mod.
	BinDir string
	// APIPort is the root-namespace 127.0.0.1 port of the API server forwarder; 0 picks a free
	// one.
	APIPort int
	// Images maps a container image to the host binary that stands for its entrypoint, for
	// hostNetwork pods whose command the kubelet stand-in runs (e.g. the netdiag image to the
	// netdiag binary). Containers of other images only get their ports served.
	Images map[string]string
	// OCIImages maps a container image to an OCI archive (bin/image/netdiag.oci.tar) that a
	// containerd of the lab's own imports: the stand-in runs a hostNetwork container of such
	// an image as a real container there, with its pod's securityContext, instead of a host
	// binary from Images. Real nodes import them into each node's containerd.
	OCIImages map[string]string
	// Log receives the lab's progress. Default: discard.
	Log logr.Logger
	// NodeKind is what runs the nodes' pods: the kubelet stand-in (NodesStandIn, the
	// default) or a real kubelet and containerd per node (NodesReal).
	NodeKind NodeKind
}

// Addressing. The underlay is a private /16 bridged inside the underlay namespace; the control
// plane, the external host and the nodes hang off it. Pod and service ranges are the usual
// kubeadm ones.
var (
	underlayPrefix  = netip.MustParsePrefix("172.18.0.0/16")
	externalIP      = netip.MustParseAddr("172.18.0.1") // the nodes' default gateway
	internetIP      = netip.MustParseAddr("203.0.113.10")
	controlPlaneIP  = netip.MustParseAddr("172.18.0.2")
	clusterCIDR     = netip.MustParsePrefix("10.244.0.0/16")
	serviceCIDR     = netip.MustParsePrefix("10.96.0.0/16")
	kubernetesSvcIP = netip.MustParseAddr("10.96.0.1")
	apiServerPort   = 6443
)

// ExternalPorts are served (TCP and UDP echo) by the external host on both its addresses.
var ExternalPorts = []uint16{53, 80, 443, 8080}

// nodeIP is node i's (1-based) underlay address: 172.18.1.i.
func nodeIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{172, 18, 1, byte(i)})
}

func (c *Config) setDefaults() error {
	if c.Name == "" {
		c.Name = "ndlab"
	}
	if strings.ContainsAny(c.Name, "/ ") || len(c.Name) > 8 {
		return fmt.Errorf("lab name %q: want at most 8 characters without spaces or slashes", c.Name)
	}
	if c.Nodes == 0 {
		c.Nodes = 2
	}
	if c.Nodes < 1 || c.Nodes > 200 {
		return fmt.Errorf("nodes %d: want 1..200", c.Nodes)
	}
	if c.Mode == "" {
		c.Mode = ModeFlannelVXLAN
	}
	known := false
	for _, m := range Modes {
		known = known || m == c.Mode
	}
	if !known {
		return fmt.Errorf("mode %q: want one of %v", c.Mode, Modes)
	}
	if c.ProxyMode == "" {
		c.ProxyMode = ProxyIPTables
	}
	if c.ProxyMode != ProxyIPTables && c.ProxyMode != ProxyNFTables {
		return fmt.Errorf("proxy mode %q: want iptables or nftables", c.ProxyMode)
	}
	if c.FelixDataplane == "" {
		c.FelixDataplane = FelixIPTables
	}
	if c.FelixDataplane != FelixIPTables && c.FelixDataplane != FelixNFTables {
		return fmt.Errorf("felix dataplane %q: want iptables or nftables", c.FelixDataplane)
	}
	if c.NodeKind == "" {
		c.NodeKind = NodesStandIn
	}
	if c.NodeKind != NodesStandIn && c.NodeKind != NodesReal {
		return fmt.Errorf("node kind %q: want one of %v", c.NodeKind, NodeKinds)
	}
	if c.NodeKind == NodesReal && !c.Mode.Flannel() {
		return fmt.Errorf("mode %q: real nodes run the flannel modes only", c.Mode)
	}
	if c.Dir == "" {
		c.Dir = filepath.Join(os.TempDir(), c.Name)
	}
	if c.BinDir == "" {
		bin, err := FindBinDir()
		if err != nil {
			return err
		}
		c.BinDir = bin
	}
	if c.Log.GetSink() == nil {
		c.Log = logr.Discard()
	}
	c.Images = withCoreDNS(c.Images, c.BinDir)
	return nil
}

// FindBinDir returns the repository's bin/ directory, found next to go.mod from the working
// directory upwards.
func FindBinDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find bin directory: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find bin directory: no go.mod above the working directory")
		}
		dir = parent
	}
}

// binaries the lab needs for a mode, relative to BinDir, with the script that builds them.
func requiredBinaries(mode Mode) map[string]string {
	need := map[string]string{
		"k8s/current/etcd":                    "hack/build-controlplane.sh",
		"k8s/current/kube-apiserver":          "hack/build-controlplane.sh",
		"k8s/current/kube-controller-manager": "hack/build-controlplane.sh",
		"k8s/current/kube-proxy":              "hack/build-controlplane.sh",
		"cni/bridge":                          "hack/build-cni.sh",
		"cni/host-local":                      "hack/build-cni.sh",
		"cni/loopback":                        "hack/build-cni.sh",
	}
	if mode == "" || mode.Flannel() || mode == ModeCanal {
		need["flannel/flanneld"] = "hack/build-flannel.sh"
	}
	if mode.Calico() || mode == ModeCanal {
		need["calico/"+CalicoVersion+"/calico-felix"] = "hack/build-felix.sh"
		need["calico/"+CalicoVersion+"/crd"] = "hack/build-felix.sh"
	}
	if mode == ModeKindnet {
		need["cni/ptp"], need["cni/portmap"] = "hack/build-cni.sh", "hack/build-cni.sh"
	}
	return need
}

// Check reports why a lab of this mode cannot run here (not root, a binary or a host tool
// missing), or nil. Tests skip with its message.
func Check(binDir string, mode Mode) error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root (network namespaces, iptables)")
	}
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return err
		}
	}
	var missing []string
	for rel, script := range requiredBinaries(mode) {
		if _, err := os.Stat(filepath.Join(binDir, rel)); err != nil {
			missing = append(missing, fmt.Sprintf("%s (run %s)", filepath.Join(binDir, rel), script))
		}
	}
	for _, tool := range []string{"ip", "bridge", "iptables", "iptables-save", "iptables-restore", "nft", "ipset", "mount", "setpriv", "sh"} {
		if _, err := execLookPath(tool); err != nil {
			missing = append(missing, tool+" (run hack/install-deps.sh)")
		}
	}
	if mode == ModeCalicoRouted {
		if _, err := execLookPath("bird"); err != nil {
			missing = append(missing, "bird (run hack/install-deps.sh)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing: %s", strings.Join(missing, ", "))
	}
	return nil
}
