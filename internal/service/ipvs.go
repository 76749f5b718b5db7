package service

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// ipvsProcessor follows a packet through kube-proxy's ipvs mode: the packet must be
// addressed to the node itself (kube-proxy binds every service address to the kube-ipvs0
// dummy interface), and the ipvs virtual server for its address, protocol and port then
// picks a real server by weight. The iptables rules ipvs mode also writes (masquerade by
// ipset) are not walked.
type ipvsProcessor struct{}

func (ipvsProcessor) Process(snap *cluster.Snapshot, a Arrival) (*Result, error) {
	if err := checkArrival(snap, a); err != nil {
		return nil, err
	}
	res := newResult(ModeIPVS, snap, a)
	dst := netip.AddrPortFrom(a.Packet.Dst, a.Packet.DstPort)
	vs := findVirtualServer(a.Stack, string(a.Packet.Protocol), dst)
	untranslated := Branch{Outcome: Untranslated, Packet: a.Packet, Probability: 1}
	switch {
	case vs == nil:
		res.Branches = []Branch{untranslated}
	case !isLocal(a.Stack, a.Packet.Dst):
		// ipvs only sees packets delivered locally; an address missing from kube-ipvs0
		// is forwarded (or dropped) by routing instead.
		untranslated.Rule = ipvsText(vs)
		res.Branches = []Branch{untranslated}
		suspect(&res.Suspicions, a, model.Critical, model.ReasonServiceRulesMissing, ipvsText(vs),
			"Node %s has an ipvs virtual server for %s but the address is not bound to %s, so the packet never reaches ipvs: kube-proxy has not synced",
			a.Node, dst, ipvsDummy)
	default:
		res.Branches = ipvsBranches(vs, a.Packet)
	}
	explain(snap, a, res)
	compare(snap, res, a, nil)
	sortBranches(res.Branches)
	return res, nil
}

func findVirtualServer(stack *netstack.Netstack, proto string, dst netip.AddrPort) *netstack.IPVSService {
	for i := range stack.IPVS {
		s := &stack.IPVS[i]
		if strings.EqualFold(s.Protocol, proto) && s.Address == dst {
			return s
		}
	}
	return nil
}

// ipvsBranches splits the packet over the virtual server's real servers by weight. A weight
// of zero is a real server kube-proxy is draining (a terminating endpoint): no new
// connection goes there.
func ipvsBranches(vs *netstack.IPVSService, pkt model.Packet) []Branch {
	total := 0
	for _, d := range vs.Destinations {
		total += max(d.Weight, 0)
	}
	if total == 0 {
		return []Branch{{Outcome: Dropped, Packet: pkt, Probability: 1, Rule: ipvsText(vs)}}
	}
	var out []Branch
	for _, d := range vs.Destinations {
		if d.Weight <= 0 {
			continue
		}
		p := pkt
		p.Dst, p.DstPort = d.Address.Addr().Unmap(), d.Address.Port()
		rules := []string{ipvsText(vs), ipvsDestText(vs, d)}
		out = append(out, Branch{
			Outcome: Translated, dnat: true, Packet: p,
			Probability: float64(d.Weight) / float64(total),
			Rule:        rules[1], Rules: rules,
		})
	}
	return out
}

// ipvsText prints a virtual server as `ipvsadm -S` does.
func ipvsText(vs *netstack.IPVSService) string {
	return fmt.Sprintf("ipvs: -A %s %s -s %s", ipvsProtoFlag(vs.Protocol), vs.Address, vs.Scheduler)
}

func ipvsDestText(vs *netstack.IPVSService, d netstack.IPVSDestination) string {
	fwd := map[string]string{"masq": "-m", "route": "-g", "tunnel": "-i"}[d.Forward]
	if fwd == "" {
		fwd = "-m"
	}
	return fmt.Sprintf("ipvs: -a %s %s -r %s %s -w %d", ipvsProtoFlag(vs.Protocol), vs.Address, d.Address, fwd, d.Weight)
}

func ipvsProtoFlag(proto string) string {
	switch strings.ToUpper(proto) {
	case "UDP":
		return "-u"
	case "SCTP":
		return "--sctp-service"
	}
	return "-t"
}
