package model

import "cmp"

// Level says how badly a suspicion affects traffic. Levels order: a higher one is worse.
type Level int

const (
	Info Level = iota
	Warning
	Critical
	Fatal
)

func (l Level) String() string {
	switch l {
	case Info:
		return "Info"
	case Warning:
		return "Warning"
	case Critical:
		return "Critical"
	default:
		return "Fatal"
	}
}

// Reason is a stable, machine-readable code for a suspicion. Codes are part of the API:
// documented in docs/suspicions.md and never renamed.
type Reason string

// Suspicion is one thing found wrong, or worth knowing, on the way.
type Suspicion struct {
	Level     Level
	Reason    Reason
	Node      string
	Pod       string // namespace/name
	Interface string
	// Rule is the route, iptables rule or policy that decided, as the snapshot holds it.
	Rule    string
	Message string
}

// Blocks reports whether the suspicion stops the traffic it was found on.
func (s Suspicion) Blocks() bool { return s.Level >= Critical }

// Where names the place of the suspicion: the pod, else the node, with the interface.
func (s Suspicion) Where() string {
	w := cmp.Or(s.Pod, s.Node)
	if s.Interface != "" {
		if w != "" {
			w += "/"
		}
		w += s.Interface
	}
	return w
}
