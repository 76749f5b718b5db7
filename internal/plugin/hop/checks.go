package hop

import (
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// Assert returns the checks of the hop's namespace (netstack.NetstackAssertion): every
// check of the state a hop makes, the plugin's own included, is one of them.
func (h *Hop) Assert() *netstack.NetstackAssertion {
	return &netstack.NetstackAssertion{NS: h.Stack, Node: h.Node, Pod: h.podName()}
}

// checked records what a check found; it reports false, and ends the branch with why, when
// a finding stops the packet.
func (h *Hop) checked(sus []model.Suspicion, why string) bool {
	for _, s := range sus {
		h.Suspect(s)
	}
	if Blocking(sus) == 0 {
		return true
	}
	h.end(Dropped, why)
	return false
}

// checkState turns the parts the collector could not read into suspicions: an empty part
// is not trusted as an empty state.
func (p *Pipeline) checkState(h *Hop) {
	for _, s := range h.Assert().PartErrors() {
		h.Suspect(s)
	}
}

// Blocking counts the suspicions that stop a packet.
func Blocking(s []model.Suspicion) int {
	n := 0
	for _, x := range s {
		if x.Blocks() {
			n++
		}
	}
	return n
}
