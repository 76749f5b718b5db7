package plugin

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/ipset"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
)

// IPTablesFactory builds the evaluator of a namespace's iptables rules (and the ipsets they
// read), parsed once per namespace and diagnosis.
var IPTablesFactory NetfilterFactory = newIPTablesFilter

type iptablesFilter struct {
	rs  *iptables.Ruleset
	env *iptables.Env
}

func newIPTablesFilter(stack *netstack.Netstack) (Netfilter, error) {
	rs, err := iptables.Parse(stack.IPTables)
	if err != nil {
		return nil, fmt.Errorf("parse iptables-save: %w", err)
	}
	env := &iptables.Env{Local: map[netip.Addr]bool{}, Broadcast: map[netip.Addr]bool{}, Addrs: map[string][]netip.Prefix{}}
	if stack.IPSets != "" {
		sets, err := ipset.Parse(stack.IPSets)
		if err != nil {
			return nil, fmt.Errorf("parse ipset save: %w", err)
		}
		env.Sets = sets
	}
	for _, r := range stack.Routes {
		if r.Table != netstack.TableLocal {
			continue
		}
		switch r.Type {
		case netstack.RouteLocal:
			if r.Dst.IsSingleIP() {
				env.Local[r.Dst.Addr()] = true
			} else {
				env.LocalPrefixes = append(env.LocalPrefixes, r.Dst)
			}
		case netstack.RouteBroadcast:
			env.Broadcast[r.Dst.Addr()] = true
		}
	}
	for _, ifc := range stack.Interfaces {
		env.Addrs[ifc.Name] = ifc.Addresses
		if len(stack.Routes) == 0 {
			// Without a local table the interface addresses are the local ones.
			for _, p := range ifc.Addresses {
				env.Local[p.Addr()] = true
			}
		}
	}
	return &iptablesFilter{rs: rs, env: env}, nil
}

var hooks = map[string]iptables.Hook{
	HookPrerouting:  iptables.PreRouting,
	HookInput:       iptables.Input,
	HookForward:     iptables.Forward,
	HookOutput:      iptables.Output,
	HookPostrouting: iptables.PostRouting,
}

// Hook runs pkt through the hook's tables.
func (f *iptablesFilter) Hook(hook string, pkt model.Packet, in, out string, state ConnState) []NFOutcome {
	h, ok := hooks[hook]
	if !ok {
		return []NFOutcome{{Verdict: NFUnknown, Packet: pkt, Rule: "unknown hook " + hook, Probability: 1}}
	}
	p := iptables.FromModel(pkt)
	p.In, p.Out = in, out
	if state == ConnEstablished {
		p.Conn.State = iptables.CtEstablished
	}
	outs := f.rs.Traverse(h, p, f.env)
	res := make([]NFOutcome, 0, len(outs))
	for _, o := range outs {
		n := NFOutcome{Packet: o.Packet.Model(), Probability: o.Probability}
		switch o.Verdict {
		case iptables.Accept:
			n.Verdict = NFAccept
		case iptables.Drop:
			n.Verdict = NFDrop
		case iptables.Reject:
			n.Verdict = NFReject
		default:
			n.Verdict = NFUnknown
		}
		switch {
		case o.Undecided != nil:
			n.Rule = o.Undecided.String()
		case o.Decider != nil:
			n.Rule = o.Decider.String()
		case len(o.NAT) > 0 && o.NAT[len(o.NAT)-1].Rule != nil:
			n.Rule = o.NAT[len(o.NAT)-1].Rule.String()
		}
		if n.Verdict == NFUnknown && n.Rule == "" {
			n.Rule = o.Note
		}
		for _, s := range o.Trace {
			if s.Action == "continue" {
				continue
			}
			n.Trace = append(n.Trace, s.String())
		}
		for _, r := range o.Uncertain {
			n.NotUnderstood = append(n.NotUnderstood, r.String())
		}
		if len(o.NAT) > 0 {
			var parts []string
			for _, x := range o.NAT {
				parts = append(parts, fmt.Sprintf("%s %s -> %s", x.Kind, x.Before, x.After))
			}
			n.Trace = append(n.Trace, strings.Join(parts, ", "))
		}
		res = append(res, n)
	}
	return res
}
