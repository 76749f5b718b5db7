package generic

import (
	"fmt"
	"strings"
	"sync"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/network"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Network runs a plugin's NetNodes on the Env's snapshot.
type Network struct {
	Plugin   plugin.Plugin
	Env      *plugin.Env
	HopLimit int

	mu      sync.Mutex
	actions map[string]plugin.NetNodeAction
}

var _ network.Network = (*Network)(nil)

// New returns the generic network of p on env.
func New(p plugin.Plugin, env *plugin.Env) *Network {
	return &Network{Plugin: p, Env: env, HopLimit: network.DefaultHopLimit, actions: map[string]plugin.NetNodeAction{}}
}

// Diagnose starts the question's packet at its source and walks it.
func (n *Network) Diagnose(q model.Question) (*network.Trace, error) {
	src := sourceNetNode(n, q.Source)
	action, err := n.Action(src)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", q.Source, err)
	}
	first, err := action.Send(q.Destination, network.FirstPacket(q, q.Source.IP))
	if err != nil {
		return nil, fmt.Errorf("send from %s: %w", q.Source, err)
	}
	return network.Walk(first, src, n.Action, n.HopLimit)
}

// sourceNetNode is the NetNode the question's packet starts at; a host-network pod sends
// from its node.
func sourceNetNode(n *Network, ep model.Endpoint) *model.NetNode {
	switch ep.Type {
	case model.EndpointPod:
		if pod := n.Env.Cluster.Pod(ep.Namespace, ep.Name); pod != nil && pod.Spec.HostNetwork {
			return plugin.NodeNetNode(pod.Spec.NodeName)
		}
		return plugin.PodNetNode(ep.Namespace, ep.Name, ep.Node)
	case model.EndpointNode:
		return plugin.NodeNetNode(ep.Name)
	}
	return &model.NetNode{ID: model.ExternalID(ep.IP), Type: model.NetNodeExternal, Name: ep.IP.String()}
}

// Action returns the NetNodeAction of a NetNode, made once per diagnosis.
func (n *Network) Action(nn *model.NetNode) (plugin.NetNodeAction, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a, ok := n.actions[nn.ID]; ok {
		return a, nil
	}
	var (
		a   plugin.NetNodeAction
		err error
	)
	switch nn.Type {
	case model.NetNodePod:
		ns, name, _ := strings.Cut(nn.Name, "/")
		pod := n.Env.Cluster.Pod(ns, name)
		if pod == nil {
			return nil, fmt.Errorf("pod %s is not in the snapshot", nn.Name)
		}
		if pod.Spec.HostNetwork {
			node := n.Env.Cluster.Node(pod.Spec.NodeName)
			if node == nil {
				return nil, fmt.Errorf("node %s of host-network pod %s is not in the snapshot", pod.Spec.NodeName, nn.Name)
			}
			a, err = n.Plugin.CreateNode(node)
		} else {
			a, err = n.Plugin.CreatePod(pod)
		}
	case model.NetNodeNode:
		node := n.Env.Cluster.Node(nn.Name)
		if node == nil {
			return nil, fmt.Errorf("node %s is not in the snapshot", nn.Name)
		}
		a, err = n.Plugin.CreateNode(node)
	case model.NetNodeExternal:
		a = &plugin.External{NetNode: nn, Env: n.Env}
	default:
		return nil, fmt.Errorf("NetNode %s of type %s carries no packets", nn.ID, nn.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("create %s with plugin %s: %w", nn.ID, n.Plugin.Name(), err)
	}
	n.actions[nn.ID] = a
	return a, nil
}

// SetHopLimit bounds the NetNodes one branch crosses.
func (n *Network) SetHopLimit(l int) { n.HopLimit = l }
