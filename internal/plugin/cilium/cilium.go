package cilium

import (
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Name is the plugin's name for provider.CreateNetwork and detection.
const Name = "cilium"

// ReasonEBPFDataPlane: the packet reaches a device whose eBPF programs decide its fate.
const ReasonEBPFDataPlane model.Reason = "EBPFDataPlane"

// Devices are cilium's: the prefix of the host ends of pod veths, and its own devices.
const (
	PodVethPrefix = "lxc"
	DevicePrefix  = "cilium_"
)

// Plugin is cilium: the generic walk up to cilium's eBPF devices.
type Plugin struct {
	generic plugin.Generic
}

var _ plugin.Plugin = (*Plugin)(nil)

// New returns cilium on env.
func New(env *plugin.Env) *Plugin { return &Plugin{generic: plugin.Generic{Env: env}} }

func (p *Plugin) Name() string { return Name }

// EnforcesPolicy is true: cilium enforces NetworkPolicy (in eBPF, which the walk stops at).
func (p *Plugin) EnforcesPolicy() bool { return true }

// CreatePod is the generic veth pod, whose packets to an lxc host end stop Undecided.
func (p *Plugin) CreatePod(pod *corev1.Pod) (plugin.NetNodeAction, error) {
	return withStop(p.generic.CreatePod(pod))
}

// CreateNode is the generic node, whose packets out of cilium's devices stop Undecided.
func (p *Plugin) CreateNode(node *corev1.Node) (plugin.NetNodeAction, error) {
	return withStop(p.generic.CreateNode(node))
}

func withStop(a plugin.NetNodeAction, err error) (plugin.NetNodeAction, error) {
	if b, ok := a.(*plugin.BasePluginNode); ok && err == nil {
		b.Ext.Emitting = append(b.Ext.Emitting, stopAtEBPF)
	}
	return a, err
}

// stopAtEBPF ends the branch when the packet leaves by, or enters, a device cilium's eBPF
// programs own: what they do with it is not in the snapshot.
func stopAtEBPF(h *plugin.Hop, t *plugin.Transmission) bool {
	dev := ""
	for _, d := range []string{t.Link.FromInterface, t.Link.ToInterface} {
		if strings.HasPrefix(d, PodVethPrefix) || strings.HasPrefix(d, DevicePrefix) {
			dev = d
			break
		}
	}
	if dev == "" {
		return true
	}
	h.Suspectf(model.Info, ReasonEBPFDataPlane, dev, "",
		"The packet %s reaches %s, where cilium's eBPF programs route, translate and filter it out of the routes and rules netdiag reads: what happens next is not simulated (cilium monitor, or hubble observe, on %s shows it)",
		h.Packet, dev, h.Node)
	h.Stop(plugin.Undecided, "cilium's eBPF programs on "+dev+" decide")
	return false
}
