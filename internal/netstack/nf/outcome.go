package nf

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Names of the rulesets, as rules, steps and outcomes name them.
const (
	IPTables = "iptables"
	NFTables = "nftables"
)

// Rule is a rule of either ruleset: an iptables rule as iptables-save prints it, an nftables
// rule with its table, chain and handle.
type Rule interface {
	// Ruleset is IPTables or NFTables.
	Ruleset() string
	// Place is the rule's table and chain.
	Place() (table, chain string)
	// String is the rule's text as its ruleset prints it, for traces and messages.
	String() string
}

// Step is one rule that matched, or a policy that applied, on the way, in order.
type Step struct {
	Ruleset      string
	Table, Chain string
	// Rule is nil when the chain's policy decided.
	Rule Rule
	// Action says what followed, in the ruleset's words: "continue", "jump CHAIN", "goto
	// CHAIN", "return", "ACCEPT", "DNAT", "MARK", "vmap goto X", "dnat", ..., or "policy
	// ACCEPT" / "policy drop".
	Action string
}

// String prints the step as "iptables nat/KUBE-SERVICES: -A ... => jump KUBE-SVC-X", or for
// nftables the rule with its place.
func (s Step) String() string {
	where := s.Table + "/" + s.Chain
	switch {
	case s.Rule == nil:
		return s.Ruleset + " " + where + ": " + s.Action
	case s.Ruleset == NFTables:
		return s.Rule.String() + " => " + s.Action
	}
	return s.Ruleset + " " + where + ": " + s.Rule.String() + " => " + s.Action
}

// NAT is an address or port rewrite a rule made, or conntrack's reversal of one on a reply
// (Rule nil, Kind un-DNAT or un-SNAT).
type NAT struct {
	// Kind is DNAT, SNAT, MASQUERADE, REDIRECT, un-DNAT or un-SNAT, whichever ruleset made it.
	Kind          string
	Rule          Rule
	Before, After netip.AddrPort
	// Note says what the evaluator chose where the kernel may choose otherwise (the first
	// address of a range, a random source port kept as is).
	Note string
}

func (n NAT) String() string { return fmt.Sprintf("%s %s -> %s", n.Kind, n.Before, n.After) }

// Fork is a rule that split the traffic on the way (an iptables statistic match) and that
// this outcome took, with its share.
type Fork struct {
	Rule  Rule
	Share float64
}

// Outcome is one way a packet goes through a hook: there are several when rules split the
// traffic (one per service endpoint).
type Outcome struct {
	Verdict Verdict
	// Packet is the packet as it leaves the hook: rewritten by NAT, marked, its connection
	// state updated.
	Packet Packet
	NAT    []NAT
	// RejectWith is the REJECT type when Verdict is Reject.
	RejectWith string
	// Trace holds every rule that matched and every policy that applied, in order.
	Trace []Step
	// Ruleset is the ruleset whose stage ended the hook with Drop, Reject or Unknown; empty
	// when every stage accepted.
	Ruleset string
	// Decider is the rule that gave the verdict; nil when a policy or the end of the chains
	// did. Undecided is the rule whose term not understood decided, when Verdict is Unknown.
	Decider, Undecided Rule
	// Uncertain holds rules with a term not understood whose action would not have changed
	// the outcome (a LOG, a counter): the walk went on past them.
	Uncertain []Rule
	// Forks are the rules that split the traffic on the way and that this way took,
	// Probability the share of packets on it. The forks it did not take are not listed: a
	// way past n statistic rules would carry all n, and the ways of a service of n endpoints
	// n²/2 between them.
	Forks       []Fork
	Probability float64
	// Note explains an Unknown verdict (what was not understood, or which bound was hit).
	Note string
}

// PassThrough is the outcome of a hook without rules: the packet goes on as it came.
func PassThrough(pkt Packet) Outcome {
	return Outcome{Verdict: Accept, Packet: pkt, Probability: 1}
}

// LastNAT returns the last rewrite a rule made (not conntrack's reversal), or nil.
func (o *Outcome) LastNAT() *NAT {
	for i := len(o.NAT) - 1; i >= 0; i-- {
		if o.NAT[i].Rule != nil {
			return &o.NAT[i]
		}
	}
	return nil
}

// Then continues o with the outcome s of one more stage of the hook: s's packet, the trace
// and NAT of both, and s's verdict when it stopped the packet.
func (o Outcome) Then(s Outcome) Outcome {
	n := o
	n.Packet = s.Packet
	n.Probability = o.Probability * s.Probability
	n.Trace = append(slices.Clip(o.Trace), s.Trace...)
	n.NAT = append(slices.Clip(o.NAT), s.NAT...)
	n.Uncertain = append(slices.Clip(o.Uncertain), s.Uncertain...)
	n.Forks = append(slices.Clip(o.Forks), s.Forks...)
	if s.Verdict != Accept {
		n.Verdict, n.Ruleset = s.Verdict, s.Ruleset
		n.Decider, n.Undecided, n.RejectWith, n.Note = s.Decider, s.Undecided, s.RejectWith, s.Note
	}
	return n
}

// Deciding names what decided the outcome, as a suspicion quotes it: the rule not understood
// behind an Unknown, the rule that dropped or rejected, the chain whose policy dropped, or
// else the last rule that rewrote the packet; chain is the table/chain it is in (empty for a
// rewrite). An Unknown that no rule decided gives its note.
func (o *Outcome) Deciding() (text, chain string) {
	place := func(r Rule) string {
		t, c := r.Place()
		return t + "/" + c
	}
	switch {
	case o.Undecided != nil:
		text, chain = o.Undecided.String(), place(o.Undecided)
	case o.Decider != nil && o.Verdict != Accept:
		text, chain = o.Decider.String(), place(o.Decider)
	case o.Verdict == Drop && len(o.Trace) > 0:
		// A base chain's policy dropped it: name the chain.
		last := o.Trace[len(o.Trace)-1]
		text, chain = last.String(), last.Table+"/"+last.Chain
	case o.LastNAT() != nil:
		text = o.LastNAT().Rule.String()
	}
	if o.Verdict == Unknown && text == "" {
		text = o.Note
	}
	return text, chain
}

// TraceLines is the way through the hook, one line per rule that did something (a jump, a
// verdict, a rewrite; not a rule that only matched) and a last line with the NAT.
func (o *Outcome) TraceLines() []string {
	var lines []string
	for _, s := range o.Trace {
		if s.Action == "continue" {
			continue
		}
		lines = append(lines, s.String())
	}
	var nats []string
	for _, x := range o.NAT {
		nats = append(nats, x.String())
	}
	if len(nats) > 0 {
		lines = append(lines, strings.Join(nats, ", "))
	}
	return lines
}

// NotUnderstood lists the rules on the way with a term the evaluator does not understand
// that it passed (Uncertain), as their rulesets print them.
func (o *Outcome) NotUnderstood() []string {
	var out []string
	for _, r := range o.Uncertain {
		out = append(out, r.String())
	}
	return out
}

// Reversals names the NAT conntrack reversed on a reply at the hook ("un-DNAT
// 10.244.1.10:8080 -> 10.96.0.10:80"), empty when it reversed none.
func (o *Outcome) Reversals() string {
	var parts []string
	for _, n := range o.NAT {
		if n.Rule == nil {
			parts = append(parts, n.String())
		}
	}
	return strings.Join(parts, ", ")
}

// UnNAT undoes, at a hook's nat stage, the NAT of the connection a reply belongs to, as
// conntrack does: the destination at PREROUTING and OUTPUT (a SNAT undone), the source at
// POSTROUTING and INPUT (a DNAT undone). True when the packet is a reply. Both rulesets'
// nat stages call it; a reply one of them reversed is left as it is by the next.
func UnNAT(h Hook, p *Packet, o *Outcome) bool {
	if !p.Conn.Reply || (p.Conn.State != CtEstablished && p.Conn.State != CtRelated) {
		return false
	}
	switch h {
	case PreRouting, Output:
		if p.Conn.Status&StatusSNAT != 0 && p.Conn.OrigSrc.IsValid() && netip.AddrPortFrom(p.Dst, p.DstPort) != p.Conn.OrigSrc {
			// (A reply another ruleset's nat stage already reversed is left as it is.)
			before := netip.AddrPortFrom(p.Dst, p.DstPort)
			p.Dst, p.DstPort = p.Conn.OrigSrc.Addr(), p.Conn.OrigSrc.Port()
			o.NAT = append(o.NAT, NAT{Kind: "un-SNAT", Before: before, After: p.Conn.OrigSrc, Note: "conntrack reverses the connection's source NAT"})
		}
	case PostRouting, Input:
		if p.Conn.Status&StatusDNAT != 0 && p.Conn.OrigDst.IsValid() && netip.AddrPortFrom(p.Src, p.SrcPort) != p.Conn.OrigDst {
			before := netip.AddrPortFrom(p.Src, p.SrcPort)
			p.Src, p.SrcPort = p.Conn.OrigDst.Addr(), p.Conn.OrigDst.Port()
			o.NAT = append(o.NAT, NAT{Kind: "un-DNAT", Before: before, After: p.Conn.OrigDst, Note: "conntrack reverses the connection's destination NAT"})
		}
	}
	return true
}
