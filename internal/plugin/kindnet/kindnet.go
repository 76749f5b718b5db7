package kindnet

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Name is the plugin's name in spec.networkPlugin and --network-plugin.
const Name = "kindnet"

// What kind installs and kindnetd lays.
const (
	// DaemonSet is kind's kindnet DaemonSet in kube-system; Container its one container.
	DaemonSet = "kindnet"
	Container = "kindnet-cni"
	// Image is the repository of kindnetd's image.
	Image = "docker.io/kindest/kindnetd"
	// EnvPodSubnet is the container's variable with the cluster's pod subnets
	// (comma-separated), which KIND-MASQ-AGENT does not masquerade.
	EnvPodSubnet = "POD_SUBNET"
	// MasqChain is kindnetd's nat chain: POSTROUTING jumps to it for every destination that
	// is not local, it returns for the pod subnets and masquerades the rest.
	MasqChain = "KIND-MASQ-AGENT"
	// PolicyTable is the nftables table of kindnetd's NetworkPolicy controller
	// (kube-network-policies).
	PolicyTable = "kindnet-network-policies"
	// FirstPolicyRelease is the date of the first kindnetd image that enforces NetworkPolicy,
	// as its tags write it (vYYYYMMDD-commit).
	FirstPolicyRelease = "20240715"
)

// Gateway is the pod's gateway on node: the first address of its pod CIDR, which host-local
// hands to ptp and ptp puts on the host end of every pod veth as a /32.
func Gateway(podCIDR netip.Prefix) netip.Addr { return podCIDR.Masked().Addr().Next() }

// Plugin is kindnet.
type Plugin struct {
	env *plugin.Env
	cfg Config
	ds  daemonSet
}

var _ plugin.Plugin = (*Plugin)(nil)

// New returns kindnet on env with cfg; the kindnet DaemonSet of the snapshot says what cfg
// leaves to it.
func New(env *plugin.Env, cfg Config) *Plugin {
	p := &Plugin{env: env, cfg: cfg}
	if env != nil && env.Cluster != nil {
		p.ds = readDaemonSet(env.Cluster)
	}
	return p
}

func (p *Plugin) Name() string { return Name }

// EnforcesPolicy follows the configuration, else the release of the kindnetd image: every
// image since July 2024 enforces NetworkPolicy, and so does one whose release the tag does
// not tell (a local build, a digest), since every current release does.
func (p *Plugin) EnforcesPolicy() bool {
	switch p.cfg.NetworkPolicy {
	case PolicyEnforced:
		return true
	case PolicyNotEnforced:
		return false
	}
	release, ok := p.ds.release()
	return !ok || release >= FirstPolicyRelease
}

// CreatePod returns a pod on a ptp veth, whose frames to its node are checked to find an
// answer to their ARP.
func (p *Plugin) CreatePod(pod *corev1.Pod) (plugin.NetNodeAction, error) {
	b := plugin.NewVethPod(p.env, pod)
	b.Ext.Emitting = append(b.Ext.Emitting, gatewayCheck{plugin: p, pod: pod}.check)
	return b, nil
}

// CreateNode returns the node with kindnet's intent.
func (p *Plugin) CreateNode(node *corev1.Node) (plugin.NetNodeAction, error) {
	return plugin.NewNode(p.env, node, &Node{plugin: p, node: node}), nil
}

// daemonSet is what the kindnet DaemonSet says.
type daemonSet struct {
	image     string
	podSubnet []netip.Prefix
}

// readDaemonSet reads kindnetd's container: its image and POD_SUBNET.
func readDaemonSet(s *cluster.Snapshot) daemonSet {
	var d daemonSet
	for i := range s.DaemonSets {
		for _, c := range s.DaemonSets[i].Spec.Template.Spec.Containers {
			if c.Name != Container && !strings.Contains(c.Image, "kindnetd") {
				continue
			}
			d.image = c.Image
			for _, e := range c.Env {
				if e.Name != EnvPodSubnet {
					continue
				}
				for v := range strings.SplitSeq(e.Value, ",") {
					if pr, err := netip.ParsePrefix(strings.TrimSpace(v)); err == nil {
						d.podSubnet = append(d.podSubnet, pr.Masked())
					}
				}
			}
			return d
		}
	}
	return d
}

// release is the date of the kindnetd image, from a tag of the form vYYYYMMDD-commit.
func (d daemonSet) release() (string, bool) {
	ref, _, _ := strings.Cut(d.image, "@")
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return "", false
	}
	tag := ref[i+1:]
	date, _, _ := strings.Cut(strings.TrimPrefix(tag, "v"), "-")
	if len(date) != 8 || strings.Trim(date, "0123456789") != "" || !strings.HasPrefix(tag, "v") {
		return "", false
	}
	return date, true
}

// inPodSubnet reports whether addr is in the pod subnet KIND-MASQ-AGENT returns for: the
// DaemonSet's POD_SUBNET, else any node's pod CIDR.
func (p *Plugin) inPodSubnet(addr netip.Addr) bool {
	for _, pr := range p.ds.podSubnet {
		if pr.Contains(addr) {
			return true
		}
	}
	return len(p.ds.podSubnet) == 0 && podCIDROwner(p.env.Cluster, addr) != nil
}

// podCIDROwner returns the node whose pod CIDR holds addr, or nil.
func podCIDROwner(s *cluster.Snapshot, addr netip.Addr) *corev1.Node {
	for i := range s.Nodes {
		for _, c := range podCIDRs(&s.Nodes[i]) {
			if c.Contains(addr) {
				return &s.Nodes[i]
			}
		}
	}
	return nil
}

// podCIDRs are the node's IPv4 pod CIDRs, as kindnetd reads them (spec.podCIDRs, else
// spec.podCIDR).
func podCIDRs(n *corev1.Node) []netip.Prefix {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	var out []netip.Prefix
	for _, c := range cidrs {
		if pr, err := netip.ParsePrefix(c); err == nil && pr.Addr().Is4() {
			out = append(out, pr.Masked())
		}
	}
	return out
}
