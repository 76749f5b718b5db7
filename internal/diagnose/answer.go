package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/plugin"
)

// Answer is the short answer a report starts with: the verdict, where the packet stops,
// why and what to do. Where, Why and Do are empty when nothing needs doing.
type Answer struct {
	Verdict Verdict `json:"verdict"`
	Summary string  `json:"summary"`
	// Where is the hop where the first failing branch ends, or the deciding suspicion's place.
	Where string `json:"where,omitempty"`
	// Why is the deciding suspicion: its code and sentence.
	Why string `json:"why,omitempty"`
	// Do is what its code's documentation says to do at its level.
	Do string `json:"do,omitempty"`
}

// NewAnswer picks the short answer from a result: a failing branch's end and the most severe
// suspicion, which is what decided a verdict other than Reachable (the engine orders them);
// a Reachable answer names a suspicion only when it warns.
func NewAnswer(res *Result) Answer {
	a := Answer{Verdict: res.Verdict, Summary: res.Summary}
	var top *model.Suspicion
	if len(res.Suspicions) > 0 && (res.Verdict != Reachable || res.Suspicions[0].Level >= model.Warning) {
		top = &res.Suspicions[0]
	}
	if res.Path != nil {
		if i := slices.IndexFunc(res.Path.Branches, failed); i >= 0 {
			b := res.Path.Branches[i]
			a.Where = b.Hops[len(b.Hops)-1].NodeID
			if n := len(res.Path.Branches); n > 1 {
				a.Where += fmt.Sprintf(" (branch %d of %d)", i+1, n)
			}
		}
	}
	if top == nil {
		return a
	}
	a.Where = cmp.Or(a.Where, top.Where())
	a.Why = fmt.Sprintf("%s: %s", top.Reason, top.Message)
	a.Do = remedy(*top)
	return a
}

// failed reports whether a branch ended without arriving.
func failed(b model.Branch) bool {
	return b.End != "" && b.End != string(plugin.Delivered) && len(b.Hops) > 0
}

// remedy is what the documentation of a suspicion's code says to do at its level; empty for
// a code a plugin declares, which its own documentation explains.
func remedy(s model.Suspicion) string {
	for _, r := range model.Reasons() {
		if r.Reason != s.Reason {
			continue
		}
		for _, l := range r.Levels() {
			if l.Level == s.Level {
				return l.Remedy
			}
		}
		return r.Remedy
	}
	return ""
}

// hopSummary says in a few words what a NetNode did with a branch's packet: the interface it
// came in by, what translated or stopped it, where it was delivered, and the interface it left
// by (out, from the next hop's link; nil at the branch's last hop).
func hopSummary(h model.BranchHop, out *model.Link) string {
	var parts []string
	for _, s := range h.Steps {
		if p := stepPhrase(s); p != "" && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	if out != nil && out.FromInterface != "" {
		p := "out " + out.FromInterface
		switch out.Type {
		case model.LinkVXLAN, model.LinkIPIP, model.LinkExternal:
			p += " (" + string(out.Type) + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// stepPhrase is a step as the short report tells it, or "" for a step only the full
// explanation shows (routes, neighbours, bridges: the way, not a decision).
func stepPhrase(s model.Step) string {
	action := s.Action
	switch {
	case s.Component == "interface" && s.Action == "in":
		return "in " + s.Detail
	case s.Forks():
		// The service's choice: the endpoint and its share (the branch's heading names the
		// service's way; the full action names the service and port).
		return choiceOf(s).String()
	case strings.Contains(action, "DROP") || strings.Contains(action, "REJECT") || strings.Contains(action, "UNKNOWN"):
		return s.Component + " " + action
	case s.Component == "conntrack":
		// The connection's NAT undone for a reply: the action names both addresses.
		return action
	case s.Component == "netfilter" && strings.Contains(action, "NAT"):
		// A rule's translation (a mark alone is for the full explanation): "POSTROUTING SNAT" says the hook and what was rewritten;
		// the packet after it shows the new addresses.
		return action + " to " + addrs(s.Packet)
	case s.Component == "socket" && s.Action == "listening":
		return "taken by a socket on " + s.Detail
	case s.Component == "socket" && s.Action == "reply delivered":
		return "reply delivered"
	}
	return ""
}

// addrs prints a packet's addresses without its protocol.
func addrs(p model.Packet) string {
	if p.Protocol == model.ICMP {
		return p.Src.String() + " -> " + p.Dst.String()
	}
	return netip.AddrPortFrom(p.Src, p.SrcPort).String() + " -> " + netip.AddrPortFrom(p.Dst, p.DstPort).String()
}
