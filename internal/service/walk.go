package service

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// kube-proxy's mark for "masquerade this packet on the way out" (KUBE-MARK-MASQ).
const masqMark = 0x4000

// maxDepth bounds chain jumps, so that a looping ruleset ends.
const maxDepth = 64

// walker runs one packet through the chains of one table.
type walker struct {
	rs    *ruleset
	table string
	stack *netstack.Netstack
	in    string
	// dnatted is set when conntrack would already see the packet as DNATed (the filter
	// table after the nat table translated it).
	dnatted bool
	// steps counts chain entries, bounded by maxSteps, so that a ruleset that forks in a
	// loop cannot make the walk explode.
	steps int
}

// maxSteps bounds the chain entries of one walk; kube-proxy's rules take about three per
// endpoint of a service.
const maxSteps = 50000

// verdicts a walk can end with.
const (
	vAccept   = "ACCEPT"
	vDrop     = "DROP"
	vReject   = "REJECT"
	vDNAT     = "DNAT"
	vReturn   = "RETURN" // fell off a user chain or hit RETURN
	vUnknown  = "UNKNOWN"
	vContinue = "CONTINUE" // internal: go on with the next rule
)

// path is one branch of a walk: the packet as rewritten so far, its probability, and the
// rules that matched.
type path struct {
	pkt  model.Packet
	prob float64
	// trail holds the matched rules, newest first, shared between forks so that a fork
	// costs nothing to copy.
	trail   *trail
	verdict string
	// decided is the rule that ended the branch (DNAT, DROP, REJECT, ACCEPT, the rule not
	// understood).
	decided *rule
	// why says what was not understood, for an UNKNOWN verdict.
	why string
	// affinity is set when a session-affinity check was passed over (see recent).
	affinity []*rule
}

type trail struct {
	r    *rule
	prev *trail
}

func (p path) with(r *rule) path {
	p.trail = &trail{r: r, prev: p.trail}
	return p
}

// rules returns the matched rules in order.
func (p path) rules() []*rule {
	var out []*rule
	for t := p.trail; t != nil; t = t.prev {
		out = append(out, t.r)
	}
	slices.Reverse(out)
	return out
}

// run walks the built-in chain of a hook and returns every branch.
func (w *walker) run(hook string, pkt model.Packet) []path {
	c := w.rs.lookup(w.table, hook)
	start := path{pkt: pkt, prob: 1}
	if c == nil {
		start.verdict = vAccept
		return []path{start}
	}
	out := w.walk(c, 0, start, 0)
	for i := range out {
		if out[i].verdict == vReturn {
			// Falling off a built-in chain applies its policy.
			out[i].verdict = policyVerdict(c.policy)
		}
	}
	return out
}

func policyVerdict(p string) string {
	if p == "DROP" {
		return vDrop
	}
	return vAccept
}

// walk evaluates chain c from rule i on.
func (w *walker) walk(c *chain, i int, p path, depth int) []path {
	w.steps++
	if depth > maxDepth || w.steps > maxSteps {
		p.verdict, p.why = vUnknown, fmt.Sprintf("the walk through %s exceeds %d nested jumps or %d chain entries (a loop?)", c.name, maxDepth, maxSteps)
		return []path{p}
	}
	for ; i < len(c.rules); i++ {
		r := c.rules[i]
		m := w.match(r, p)
		switch m.kind {
		case matchNo:
			if m.affinity {
				p.affinity = append(p.affinity, r)
			}
			continue
		case matchUnknown:
			p.verdict, p.decided, p.why = vUnknown, r, m.why
			return []path{p}
		case matchFork:
			// The rule matches for a share m.prob of the packets: both ways are followed.
			hit, miss := p, p
			hit.prob *= m.prob
			miss.prob *= 1 - m.prob
			out := w.apply(c, i, r, hit, depth)
			if miss.prob > 0 {
				out = append(out, w.walk(c, i+1, miss, depth)...)
			}
			return out
		}
		return w.apply(c, i, r, p, depth)
	}
	p.verdict = vReturn
	return []path{p}
}

// apply runs the target of a matching rule r (rule i of c) and goes on where the target
// says.
func (w *walker) apply(c *chain, i int, r *rule, p path, depth int) []path {
	p = p.with(r)
	switch r.target {
	case "":
		return w.walk(c, i+1, p, depth)
	case "ACCEPT":
		p.verdict, p.decided = vAccept, r
		return []path{p}
	case "DROP":
		p.verdict, p.decided = vDrop, r
		return []path{p}
	case "REJECT":
		p.verdict, p.decided = vReject, r
		return []path{p}
	case "RETURN":
		p.verdict = vReturn
		return []path{p}
	case "LOG", "NFLOG":
		return w.walk(c, i+1, p, depth)
	case "MARK":
		mark, ok := applyMark(p.pkt.Mark, r.targetOpts)
		if !ok {
			p.verdict, p.decided, p.why = vUnknown, r, "MARK options not understood"
			return []path{p}
		}
		p.pkt.Mark = mark
		return w.walk(c, i+1, p, depth)
	case "DNAT":
		to, ok := parseToDestination(r.targetOpts["--to-destination"])
		if !ok {
			p.verdict, p.decided, p.why = vUnknown, r, "DNAT --to-destination not understood"
			return []path{p}
		}
		p.pkt.Dst = to.Addr()
		if to.Port() != 0 {
			p.pkt.DstPort = to.Port()
		}
		p.verdict, p.decided = vDNAT, r
		return []path{p}
	case "SNAT", "MASQUERADE":
		// Source NAT belongs to POSTROUTING, which the service processor does not walk.
		p.verdict, p.decided = vAccept, r
		return []path{p}
	}
	next := w.rs.lookup(w.table, r.target)
	if next == nil {
		p.verdict, p.decided, p.why = vUnknown, r, fmt.Sprintf("target %s is not understood", r.target)
		return []path{p}
	}
	sub := w.walk(next, 0, p, depth+1)
	var out []path
	for _, s := range sub {
		if s.verdict != vReturn {
			out = append(out, s)
			continue
		}
		if r.gotoChain {
			// A goto returns to the caller of this chain, not to this rule.
			out = append(out, s)
			continue
		}
		out = append(out, w.walk(c, i+1, s, depth)...)
	}
	return out
}

type matchKind int

const (
	matchNo matchKind = iota
	matchYes
	matchFork
	matchUnknown
)

type matchResult struct {
	kind matchKind
	prob float64
	why  string
	// affinity is set when a session-affinity check (recent --rcheck) was passed.
	affinity bool
}

// match evaluates every condition of r; the rule matches when all do.
func (w *walker) match(r *rule, p path) matchResult {
	res := matchResult{kind: matchYes}
	pkt := p.pkt
	for idx := 0; idx < len(r.conds); idx++ {
		c := r.conds[idx]
		var ok bool
		switch {
		case c.module == "" && (c.opt == "-s" || c.opt == "-d"):
			if !c.pfx.IsValid() {
				return matchResult{kind: matchUnknown, why: fmt.Sprintf("address %s is not understood", strings.Join(c.args, " "))}
			}
			ip := pkt.Src
			if c.opt == "-d" {
				ip = pkt.Dst
			}
			ok = c.pfx.Contains(ip)
		case c.module == "" && c.opt == "-p":
			ok = len(c.args) == 1 && strings.EqualFold(c.args[0], string(pkt.Protocol))
		case c.module == "" && c.opt == "-i":
			if w.in == "" {
				return matchResult{kind: matchUnknown, why: "the packet's input interface is not known for -i"}
			}
			ok = len(c.args) == 1 && ifaceMatch(c.args[0], w.in)
		case c.module == "" && c.opt == "-o":
			return matchResult{kind: matchUnknown, why: "-o is decided by routing, after the service proxy"}
		case c.module == "comment", c.module == "nfacct":
			ok = true
		case c.module == "tcp" || c.module == "udp" || c.module == "sctp":
			if !strings.EqualFold(c.module, string(pkt.Protocol)) {
				ok = false
				break
			}
			switch c.opt {
			case "--dport", "--destination-port":
				ok = portMatch(c.args, pkt.DstPort)
			case "--sport", "--source-port":
				ok = portMatch(c.args, pkt.SrcPort)
			default:
				return matchResult{kind: matchUnknown, why: fmt.Sprintf("-m %s %s is not understood", c.module, c.opt)}
			}
		case c.module == "multiport":
			switch c.opt {
			case "--dports", "--destination-ports":
				ok = portListMatch(c.args, pkt.DstPort)
			case "--sports", "--source-ports":
				ok = portListMatch(c.args, pkt.SrcPort)
			case "--ports":
				ok = portListMatch(c.args, pkt.DstPort) || portListMatch(c.args, pkt.SrcPort)
			default:
				return matchResult{kind: matchUnknown, why: "-m multiport " + c.opt + " is not understood"}
			}
		case c.module == "addrtype":
			var ip netip.Addr
			switch c.opt {
			case "--dst-type":
				ip = pkt.Dst
			case "--src-type":
				ip = pkt.Src
			default:
				return matchResult{kind: matchUnknown, why: "-m addrtype " + c.opt + " is not understood"}
			}
			if len(c.args) != 1 || c.args[0] != "LOCAL" {
				return matchResult{kind: matchUnknown, why: "-m addrtype " + strings.Join(c.args, " ") + " is not understood (only LOCAL is)"}
			}
			ok = isLocal(w.stack, ip)
		case c.module == "mark" && c.opt == "--mark":
			v, m, good := parseMarkMask(strings.Join(c.args, ""))
			if !good {
				return matchResult{kind: matchUnknown, why: "-m mark " + strings.Join(c.args, " ") + " is not understood"}
			}
			ok = pkt.Mark&m == v
		case c.module == "conntrack" && c.opt == "--ctstate":
			ok = false
			for _, s := range strings.Split(strings.Join(c.args, ","), ",") {
				// The service proxy sees the first packet of a connection: NEW, and after
				// the nat table translated it, DNAT too.
				if s == "NEW" || (s == "DNAT" && w.dnatted) {
					ok = true
				}
			}
		case c.module == "statistic":
			prob, good := statisticProbability(r.conds, &idx)
			if !good {
				return matchResult{kind: matchUnknown, why: "-m statistic options are not understood (only --mode random --probability is)"}
			}
			if res.kind == matchFork {
				res.prob *= prob
			} else {
				res.kind, res.prob = matchFork, prob
			}
			continue
		case c.module == "recent":
			// kube-proxy's session affinity: "--rcheck" matches a client already sent to
			// this endpoint within the timeout. A diagnosis follows a new client, so the
			// check does not match; "--set" records the client and always matches.
			switch c.opt {
			case "--rcheck", "--update":
				if c.neg {
					continue
				}
				return matchResult{kind: matchNo, affinity: true}
			case "--set", "--name", "--seconds", "--reap", "--mask", "--rsource", "--rdest", "--hitcount", "--rttl":
				continue
			default:
				return matchResult{kind: matchUnknown, why: "-m recent " + c.opt + " is not understood"}
			}
		default:
			mod := c.module
			if mod == "" {
				mod = "header"
			}
			return matchResult{kind: matchUnknown, why: fmt.Sprintf("match %s %s is not understood", mod, c.opt)}
		}
		if c.neg {
			ok = !ok
		}
		if !ok {
			return matchResult{kind: matchNo}
		}
	}
	return res
}

// statisticProbability reads "--mode random --probability p" from the statistic module's
// conditions starting at *idx, and leaves *idx on the last of them.
func statisticProbability(conds []cond, idx *int) (float64, bool) {
	mode, prob := "", -1.0
	i := *idx
	for ; i < len(conds) && conds[i].module == "statistic"; i++ {
		c := conds[i]
		switch c.opt {
		case "--mode":
			if len(c.args) == 1 {
				mode = c.args[0]
			}
		case "--probability":
			if len(c.args) == 1 {
				if v, err := strconv.ParseFloat(c.args[0], 64); err == nil && v >= 0 && v <= 1 {
					prob = v
				}
			}
		default:
			return 0, false
		}
	}
	*idx = i - 1
	if mode != "random" || prob < 0 || conds[*idx].neg {
		return 0, false
	}
	return prob, true
}

func ifaceMatch(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == name
}

func portMatch(args []string, port uint16) bool {
	if len(args) != 1 {
		return false
	}
	lo, hi, ok := parsePortRange(args[0])
	return ok && port >= lo && port <= hi
}

func portListMatch(args []string, port uint16) bool {
	for _, s := range strings.Split(strings.Join(args, ","), ",") {
		if lo, hi, ok := parsePortRange(s); ok && port >= lo && port <= hi {
			return true
		}
	}
	return false
}

func parsePortRange(s string) (uint16, uint16, bool) {
	a, b, isRange := strings.Cut(s, ":")
	lo, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return 0, 0, false
	}
	if !isRange {
		return uint16(lo), uint16(lo), true
	}
	hi, err := strconv.ParseUint(b, 10, 16)
	if err != nil || hi < lo {
		return 0, 0, false
	}
	return uint16(lo), uint16(hi), true
}

func parseMarkMask(s string) (value, mask uint32, ok bool) {
	v, m, hasMask := strings.Cut(s, "/")
	vv, err := strconv.ParseUint(v, 0, 32)
	if err != nil {
		return 0, 0, false
	}
	mm := uint64(0xffffffff)
	if hasMask {
		if mm, err = strconv.ParseUint(m, 0, 32); err != nil {
			return 0, 0, false
		}
	}
	return uint32(vv) & uint32(mm), uint32(mm), true
}

// applyMark applies the MARK target's options to mark.
func applyMark(mark uint32, opts map[string]string) (uint32, bool) {
	for opt, arg := range opts {
		v, m, ok := parseMarkMask(arg)
		if !ok {
			return 0, false
		}
		switch opt {
		case "--set-xmark":
			// The kernel's xt_MARK: clear the mask's bits, then xor the value.
			return (mark &^ m) ^ v, true
		case "--set-mark":
			return (mark &^ m) | v, true
		case "--or-mark":
			return mark | v, true
		case "--and-mark":
			return mark & v, true
		case "--xor-mark":
			return mark ^ v, true
		}
	}
	return 0, false
}

// parseToDestination reads "ip[:port]" (ranges are not used by kube-proxy).
func parseToDestination(s string) (netip.AddrPort, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap(), 0), true
	}
	return netip.AddrPort{}, false
}
