package k3s

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugin/flannel"
)

// Name is the plugin's name for provider.CreateNetwork and detection.
const Name = "k3s"

// What k3s writes on its nodes.
const (
	// LabelInstanceType is the label k3s's cloud provider sets to InstanceType.
	LabelInstanceType = "node.kubernetes.io/instance-type"
	InstanceType      = "k3s"
	// AnnotationPrefix starts the annotations k3s writes (k3s.io/node-args, ...).
	AnnotationPrefix = "k3s.io/"
)

// Kube-router's netpol chains (pkg/controllers/netpol).
const (
	InputChain        = "KUBE-ROUTER-INPUT"
	ForwardChain      = "KUBE-ROUTER-FORWARD"
	OutputChain       = "KUBE-ROUTER-OUTPUT"
	PodChainPrefix    = "KUBE-POD-FW-"
	PolicyChainPrefix = "KUBE-NWPLCY-"
	DefaultChain      = "KUBE-NWPLCY-DEFAULT"
	// SourceSetPrefix and DestinationSetPrefix start the ipsets of a policy's peers.
	SourceSetPrefix      = "KUBE-SRC-"
	DestinationSetPrefix = "KUBE-DST-"
	// PolicyMark is the mark a policy chain sets on what it allows.
	PolicyMark = "0x10000/0x10000"
)

// Plugin is k3s: flannel's data plane, kube-router's policy.
type Plugin struct {
	env     *plugin.Env
	cfg     Config
	flannel *flannel.Plugin
}

var _ plugin.Plugin = (*Plugin)(nil)

// New returns k3s on env with cfg.
func New(env *plugin.Env, cfg Config) *Plugin {
	fc := flannel.NewConfig()
	fc.Backend = cfg.Backend
	return &Plugin{env: env, cfg: cfg, flannel: flannel.New(env, *fc)}
}

func (p *Plugin) Name() string { return Name }

// EnforcesPolicy follows the configuration, else the nodes' rules: k3s enforces
// NetworkPolicy unless it runs with --disable-network-policy, and then kube-router's
// KUBE-ROUTER-FORWARD is on no node whose rules were collected.
func (p *Plugin) EnforcesPolicy() bool {
	switch p.cfg.NetworkPolicy {
	case PolicyEnforced:
		return true
	case PolicyNotEnforced:
		return false
	}
	if p.env == nil {
		return true
	}
	collected := false
	for _, n := range p.env.Nodes {
		if n == nil || n.Host.IPTables == "" {
			continue
		}
		collected = true
		if strings.Contains(n.Host.IPTables, ":"+ForwardChain+" ") {
			return true
		}
	}
	return !collected
}

// CreatePod is flannel's pod on cni0.
func (p *Plugin) CreatePod(pod *corev1.Pod) (plugin.NetNodeAction, error) {
	return p.flannel.CreatePod(pod)
}

// CreateNode is flannel's node, whose drops in kube-router's chains k3s explains.
func (p *Plugin) CreateNode(node *corev1.Node) (plugin.NetNodeAction, error) {
	a, err := p.flannel.CreateNode(node)
	if err != nil {
		return nil, err
	}
	if b, ok := a.(*plugin.BasePluginNode); ok {
		b.Ext.ExplainDrop = explainer{plugin: p, node: node.Name}.explainDrop
	}
	return a, nil
}
