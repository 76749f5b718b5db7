package plugin

import (
	corev1 "k8s.io/api/core/v1"
)

// GenericName is the plugin simulated when the real one is not known: the data plane is
// followed as it is, with no plugin's intent to compare it with.
const GenericName = "generic"

// Generic is the plugin with no opinion: veth pods, nodes that only follow their state.
type Generic struct{ Env *Env }

var _ Plugin = (*Generic)(nil)

func (g *Generic) Name() string { return GenericName }

// EnforcesPolicy is true: with the plugin unknown, a policy that denies is taken at its word.
func (g *Generic) EnforcesPolicy() bool { return true }

func (g *Generic) CreatePod(pod *corev1.Pod) (NetNodeAction, error) {
	return NewVethPod(g.Env, pod), nil
}

func (g *Generic) CreateNode(node *corev1.Node) (NetNodeAction, error) {
	return NewNode(g.Env, node, noIntent{}), nil
}

// noIntent is a SimplePluginNode without intent.
type noIntent struct{}

func (noIntent) ToPod(*Hop, *corev1.Pod) (*Intent, error)         { return nil, nil }
func (noIntent) ToHost(*Hop, *corev1.Node) (*Intent, error)       { return nil, nil }
func (noIntent) ToService(*Hop, *corev1.Service) (*Intent, error) { return nil, nil }
func (noIntent) ToExternal(*Hop) (*Intent, error)                 { return nil, nil }
func (noIntent) Serve(h *Hop) error                               { CheckListening(h); return nil }

// GenericDescriptor is the generic plugin as the registry knows it: never detected, used
// when no simulated plugin is, and asked for by name to compare a plugin's intent with none.
func GenericDescriptor() Descriptor {
	return Descriptor{
		Name:    GenericName,
		Summary: "the data plane followed as it is, with no plugin's intent to compare it with",
		New:     func(env *Env, _ Config) (Plugin, error) { return &Generic{Env: env}, nil },
	}
}
