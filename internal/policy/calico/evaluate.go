package calico

import (
	"net/netip"
	"slices"

	"github.com/netdiag/netdiag/internal/model"
)

// Packet is what a rule matches on.
type Packet struct {
	Src, Dst         netip.Addr
	Protocol         int
	SrcPort, DstPort uint16
	// ICMPType and ICMPCode are the ICMP message's; a packet from model.Packet is an echo
	// request, which is what a probe sends.
	ICMPType, ICMPCode int
}

// PacketOf turns the engine's packet into the model's.
func PacketOf(p model.Packet) Packet {
	out := Packet{Src: p.Src.Unmap(), Dst: p.Dst.Unmap(), Protocol: protocolNumber(string(p.Protocol)), SrcPort: p.SrcPort, DstPort: p.DstPort}
	if p.Protocol == model.ICMP {
		out.SrcPort, out.DstPort, out.ICMPType = 0, 0, 8
		if out.Dst.Is6() {
			out.Protocol, out.ICMPType = 58, 128
		}
	}
	return out
}

func (p Packet) hasPorts() bool { return p.Protocol == 6 || p.Protocol == 17 || p.Protocol == 132 }

// Direction is Ingress (into the endpoint) or Egress (out of it).
type Direction string

const (
	Ingress Direction = "Ingress"
	Egress  Direction = "Egress"
)

// Stage is where felix applies a host endpoint's policies; a workload's are StageNormal.
type Stage string

const (
	// StageNormal: a workload's policies, or a host endpoint's for the host's own traffic.
	StageNormal Stage = "normal"
	// StageForward: a host endpoint's policies with applyOnForward, for traffic the host
	// forwards through the interface.
	StageForward Stage = "forward"
	// StagePreDNAT: a host endpoint's preDNAT policies, ingress only, before NAT.
	StagePreDNAT Stage = "preDNAT"
	// StageUntracked: a host endpoint's doNotTrack policies, in the raw table.
	StageUntracked Stage = "doNotTrack"
)

// Verdict is what felix does with a packet at one endpoint in one direction and stage.
type Verdict struct {
	Endpoint  *Endpoint
	Direction Direction
	Stage     Stage
	Allowed   bool
	// Decided is the hit that decided. Zero when nothing had a say (a host endpoint's
	// forwarded traffic without applyOnForward policies, a failsafe port).
	Decided Hit
	// Applied are the policies that select the endpoint for this direction and stage, in
	// felix's order: felix programs a chain for each.
	Applied []PolicyID
	// Selected are the policies of the deciding tier that selected the endpoint: who a
	// tier's end (rule -1) speaks for.
	Selected []PolicyID
	// Trace is every hit on the way, Log and Pass included, the deciding one last.
	Trace []Hit
	// Failsafe is set when felix's failsafe rules let the packet through a host endpoint
	// whatever the policies say.
	Failsafe bool
	// Uncertain lists what the model could not evaluate on the way (an HTTP match, a
	// profile it does not hold, a selector that does not parse): where it is set, felix
	// may decide otherwise.
	Uncertain []string
}

// Felix's default failsafe ports (FailsafeInboundHostPorts, FailsafeOutboundHostPorts):
// host endpoints always pass them, so that a policy cannot cut the node off.
var (
	failsafeIn  = []failsafe{{6, 22}, {17, 68}, {6, 179}, {6, 2379}, {6, 2380}, {6, 5473}, {6, 6443}, {6, 6666}, {6, 6667}}
	failsafeOut = []failsafe{{17, 53}, {17, 67}, {6, 179}, {6, 2379}, {6, 2380}, {6, 5473}, {6, 6443}, {6, 6666}, {6, 6667}}
)

type failsafe struct {
	protocol int
	port     uint16
}

// Evaluate decides the packet at ep in dir and stage, as felix's chains for the endpoint
// do: tier by tier in order, the policies of a tier that select the endpoint in order, the
// first rule that matches deciding (Log only records, Pass skips to the next tier); a tier
// whose policies select the endpoint and none decides ends in its default action (Deny
// unless the Tier says Pass); after the tiers, the endpoint's profiles (a namespace's
// kns.<ns> allows everything) and, if none allows, deny.
func (m *Model) Evaluate(ep *Endpoint, dir Direction, stage Stage, pkt Packet) Verdict {
	v := Verdict{Endpoint: ep, Direction: dir, Stage: stage}
	// The owners of the packet's two addresses, looked up once for all the rules.
	owners := map[netip.Addr][]entity{}
	if ep.Kind == Host && stage != StageForward && isFailsafe(dir, pkt) {
		v.Allowed, v.Failsafe = true, true
		return v
	}
	for _, tier := range m.tieredPolicies(ep) {
		var selected []PolicyID
		decided := false
		for _, p := range tier {
			if !p.appliesTo(ep, dir, stage) {
				continue
			}
			if len(p.problems) > 0 {
				v.Uncertain = append(v.Uncertain, p.id.String()+": "+p.problems[0])
			}
			selected = append(selected, p.id)
			v.Applied = append(v.Applied, p.id)
			if decided {
				continue
			}
			rules := p.in
			if dir == Egress {
				rules = p.out
			}
			for i := range rules {
				r := &rules[i]
				ok, unsure := m.ruleMatches(r, pkt, owners)
				if unsure != "" {
					v.Uncertain = append(v.Uncertain, p.id.String()+" "+unsure)
				}
				if !ok {
					continue
				}
				h := Hit{Tier: p.id.Tier, Policy: p.id, Action: r.action, Rule: i}
				v.Trace = append(v.Trace, h)
				if r.action == Log {
					continue
				}
				decided = true
				if r.action != Pass {
					v.Decided, v.Allowed = h, r.action == Allow
				}
				break
			}
		}
		if len(selected) == 0 {
			continue
		}
		last := selected[len(selected)-1]
		if !decided {
			h := Hit{Tier: last.Tier, Policy: last, Action: m.tier(last.Tier).defaultAction, Rule: -1}
			v.Trace = append(v.Trace, h)
			if h.Action == Pass {
				continue
			}
			v.Decided, v.Selected = h, selected
			return v
		}
		if v.Decided.Action != "" {
			v.Selected = selected
			return v
		}
	}
	return m.profiles(v, pkt)
}

// appliesTo reports whether felix applies the policy at ep for dir and stage:
// doNotTrack and preDNAT policies apply only to host endpoints, in their own stage, and a
// host endpoint's forwarded traffic meets only the policies with applyOnForward.
func (p *compiledPolicy) appliesTo(ep *Endpoint, dir Direction, stage Stage) bool {
	if p.applies == nil || !p.applies.Matches(ep.Labels) {
		return false
	}
	if (dir == Ingress && !p.ingress) || (dir == Egress && !p.egress) {
		return false
	}
	switch stage {
	case StageUntracked:
		return ep.Kind == Host && p.doNotTrack
	case StagePreDNAT:
		return ep.Kind == Host && p.preDNAT && dir == Ingress
	case StageForward:
		return ep.Kind == Host && p.applyOnForward && !p.doNotTrack && !p.preDNAT
	}
	return !p.doNotTrack && !p.preDNAT
}

// profiles ends the evaluation once no tier decided: a workload's namespace profile allows
// everything; a host endpoint's forwarded, preDNAT and untracked traffic goes on to the
// next stage (allowed here); its own traffic meets its profiles, and without one is denied.
func (m *Model) profiles(v Verdict, pkt Packet) Verdict {
	if v.Endpoint.Kind == Host && v.Stage != StageNormal {
		v.Allowed = true
		return v
	}
	for _, prof := range v.Endpoint.Profiles {
		switch {
		case prof == ProfileDefaultAllow || len(prof) > len(profileNamespace) && prof[:len(profileNamespace)] == profileNamespace:
			h := Hit{Tier: ProfileTier, Profile: prof, Action: Allow, Rule: 0}
			v.Trace = append(v.Trace, h)
			v.Decided, v.Allowed = h, true
			return v
		case len(prof) > len(profileSA) && prof[:len(profileSA)] == profileSA:
			// A service account's profile carries labels only.
		default:
			v.Uncertain = append(v.Uncertain, "profile "+prof+" is not in the snapshot")
		}
	}
	h := Hit{Tier: ProfileTier, Profile: NoMatch, Action: Deny, Rule: -1}
	v.Trace = append(v.Trace, h)
	v.Decided, v.Allowed = h, false
	return v
}

func isFailsafe(dir Direction, pkt Packet) bool {
	list := failsafeIn
	if dir == Egress {
		list = failsafeOut
	}
	return slices.Contains(list, failsafe{pkt.Protocol, pkt.DstPort})
}

// ruleMatches matches a rule as felix's iptables rule for it does; unsure names what it
// could not evaluate (the rule is then taken as not matching).
func (m *Model) ruleMatches(r *compiledRule, pkt Packet, owners map[netip.Addr][]entity) (ok bool, unsure string) {
	if r.unsupported != "" {
		return false, r.unsupported
	}
	switch {
	case r.ipVersion == 4 && !pkt.Dst.Is4(), r.ipVersion == 6 && !pkt.Dst.Is6():
		return false, ""
	case r.protocol >= 0 && r.protocol != pkt.Protocol:
		return false, ""
	case r.notProtocol >= 0 && r.notProtocol == pkt.Protocol:
		return false, ""
	case r.icmp != nil && !r.icmp.matches(pkt):
		return false, ""
	case r.notICMP != nil && r.notICMP.matches(pkt):
		return false, ""
	}
	return m.entityMatches(&r.src, pkt.Src, pkt.SrcPort, pkt, owners) && m.entityMatches(&r.dst, pkt.Dst, pkt.DstPort, pkt, owners), ""
}

func (i *icmpMatch) matches(pkt Packet) bool {
	if pkt.Protocol != 1 && pkt.Protocol != 58 {
		return false
	}
	return (i.typ < 0 || i.typ == pkt.ICMPType) && (i.code < 0 || i.code == pkt.ICMPCode)
}

// entityMatches matches a source or destination: ip in some net and in no notNet, owned by
// something the selector selects and by nothing the notSelector selects, port in some
// port (a named port: one that an owner selected carries) and in no notPort.
func (m *Model) entityMatches(e *compiledEntity, ip netip.Addr, port uint16, pkt Packet, cache map[netip.Addr][]entity) bool {
	if len(e.nets) > 0 && !containsAddr(e.nets, ip) {
		return false
	}
	if containsAddr(e.notNets, ip) {
		return false
	}
	var owners []entity
	if e.sel != nil || e.notSel != nil || hasNamed(e.ports) || hasNamed(e.notPorts) {
		var seen bool
		if owners, seen = cache[ip]; !seen {
			owners = m.entitiesAt(ip)
			cache[ip] = owners
		}
	}
	var selected []entity
	if e.sel != nil {
		for _, o := range owners {
			if e.sel.Matches(o.labels) {
				selected = append(selected, o)
			}
		}
		if len(selected) == 0 {
			return false
		}
	} else {
		selected = owners
	}
	if e.notSel != nil {
		for _, o := range owners {
			if e.notSel.Matches(o.labels) {
				return false
			}
		}
	}
	if len(e.ports) > 0 && (!pkt.hasPorts() || !portsMatch(e.ports, port, pkt.Protocol, selected)) {
		return false
	}
	if len(e.notPorts) > 0 && pkt.hasPorts() && portsMatch(e.notPorts, port, pkt.Protocol, owners) {
		return false
	}
	return true
}

func hasNamed(ps []portMatch) bool {
	return slices.ContainsFunc(ps, func(p portMatch) bool { return p.name != "" })
}

func portsMatch(ps []portMatch, port uint16, protocol int, owners []entity) bool {
	for _, p := range ps {
		if p.name == "" {
			if port >= p.lo && port <= p.hi {
				return true
			}
			continue
		}
		for _, o := range owners {
			if slices.Contains(o.ports, namedPort{name: p.name, protocol: protocol, port: port}) {
				return true
			}
		}
	}
	return false
}
