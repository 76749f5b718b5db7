package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"strings"

	"github.com/netdiag/netdiag/internal/model"
)

// Engine answers one question; Diagnostor.Diagnose is one.
type Engine func(Input) (*Result, error)

// DiagnoseName answers a question whose destination is a name: in.Question goes to what the
// name resolved to (no destination address when it did not), and dns are the flows of the
// DNS path (Name.DNSQuestions). The name's resolution and the DNS path are part of the
// answer: a name that does not resolve is Unreachable by its name, as is one whose source
// cannot reach its nameserver on UDP port 53, whatever its address's own verdict.
func DiagnoseName(engine Engine, in Input, n Name, dns []model.Question) (*Result, error) {
	var path []dnsPath
	for _, q := range dns {
		one := in
		one.Question = q
		res, err := engine(one)
		path = append(path, dnsPath{q: q, res: res, err: err})
	}
	src := sourcePlace(in.Question.Source)
	var res *Result
	if in.Question.Destination.IP.IsValid() {
		var err error
		if res, err = engine(in); err != nil {
			return nil, err
		}
		res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonNameResolved,
			Pod: src.Pod, Node: src.Node, Message: resolvedMessage(n, in.Question.Destination)})
	} else {
		res = unresolved(n, src, path)
	}
	if in.Question.Source.Type == model.EndpointPod && !n.HasResolver {
		res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonDNSPathUnknown, Pod: src.Pod, Node: src.Node,
			Message: fmt.Sprintf("The source pod's resolver is not known (its dnsPolicy takes the node's, or there is no Service %s/%s for the cluster DNS): only full cluster names were answered, and the way to its nameserver was not diagnosed",
				ClusterDNSService.Namespace, ClusterDNSService.Name)})
	}
	broken := ""
	for _, p := range path {
		s, ok := p.suspicion(src)
		if !ok {
			continue
		}
		res.Suspicions = append(res.Suspicions, s)
		if s.Reason == model.ReasonDNSPathBroken && s.Level >= model.Critical && broken == "" {
			broken = s.Message
		}
		if s.Reason == model.ReasonDNSPathUnknown && res.Verdict == Reachable {
			res.Verdict = Unknown
			res.Summary = fmt.Sprintf("Unknown: %s resolves and its address is reachable, but %s", n.Name, lowerFirst(s.Message))
		}
	}
	resolved := in.Question.Destination.IP.IsValid()
	switch {
	case broken != "" && resolved:
		res.Verdict = Unreachable
		res.Summary = fmt.Sprintf("Unreachable: %s cannot be resolved by %s: %s; by its address, %s",
			n.Name, short(in.Question.Source), strings.TrimSuffix(broken, "."), lowerFirst(res.Summary))
	case broken != "":
		// The query never reaches the cluster DNS, so the pod's resolver times out before
		// any NXDOMAIN: the way there is what to fix first.
		res.Verdict = Unreachable
		res.Summary = fmt.Sprintf("Unreachable: %s cannot be resolved by %s: %s; beyond it, %s",
			n.Name, short(in.Question.Source), strings.TrimSuffix(broken, "."), lowerFirst(n.Resolution.Describe()))
		for i := range res.Suspicions {
			if s := &res.Suspicions[i]; s.Reason == model.ReasonNameNotResolved && s.Level == model.Critical {
				s.Level = model.Warning
			}
		}
	case resolved:
		res.Summary += fmt.Sprintf(" (%s)", nameNote(n, in.Question.Destination))
	}
	sortSuspicions(res.Suspicions)
	return res, nil
}

// dnsPath is one flow of the DNS path and its answer.
type dnsPath struct {
	q   model.Question
	res *Result
	err error
}

// suspicion says what the flow's answer means for the name: nothing when it gets through.
func (p dnsPath) suspicion(src model.Suspicion) (model.Suspicion, bool) {
	what := fmt.Sprintf("%s/%d to the nameserver %s", p.q.Protocol, p.q.Port, short(p.q.Destination))
	s := model.Suspicion{Pod: src.Pod, Node: src.Node}
	switch {
	case p.err != nil:
		s.Level, s.Reason = model.Info, model.ReasonDNSPathUnknown
		s.Message = fmt.Sprintf("The DNS path (%s) could not be diagnosed: %v", what, p.err)
		return s, true
	case p.res.Verdict == Reachable:
		return model.Suspicion{}, false
	case p.res.Verdict == Unknown:
		s.Level, s.Reason = model.Info, model.ReasonDNSPathUnknown
	case p.res.Verdict == PartiallyReachable:
		// Some of the cluster DNS's endpoints answer: a query sent to another times out and
		// the resolver asks again, so names resolve, slowly and now and then not at all.
		s.Level, s.Reason = model.Warning, model.ReasonDNSPathBroken
	default:
		s.Level, s.Reason = model.Critical, model.ReasonDNSPathBroken
		if p.q.Protocol == model.TCP {
			// A resolver asks over UDP and turns to TCP only for answers too large for it.
			s.Level = model.Warning
		}
	}
	s.Message = fmt.Sprintf("The DNS path: %s", p.res.Summary)
	if len(p.res.Suspicions) > 0 {
		top := p.res.Suspicions[0]
		s.Rule = string(top.Reason)
		if top.Rule != "" {
			s.Rule += ": " + top.Rule
		}
		s.Node, s.Pod, s.Interface = cmp.Or(top.Node, s.Node), cmp.Or(top.Pod, s.Pod), top.Interface
	}
	return s, true
}

// unresolved is the answer for a name that resolved to no address: Unreachable when the
// cluster DNS answers it with none, Unknown when only the source's resolver knows.
func unresolved(n Name, src model.Suspicion, path []dnsPath) *Result {
	res := &Result{Verdict: Unreachable}
	s := model.Suspicion{Level: model.Critical, Reason: model.ReasonNameNotResolved, Pod: src.Pod, Node: src.Node,
		Message: n.Resolution.Describe()}
	switch {
	case n.Resolution.External != "" && n.Answer != nil:
		s.Message = fmt.Sprintf("%s does not resolve: the source's resolver, asked inside its network namespace, answered no address (%s; names asked: %s)",
			n.Name, n.Answer.Err, strings.Join(n.Answer.Asked, ", "))
	case n.Resolution.External != "":
		res.Verdict, s.Level = Unknown, model.Info
		s.Message += ", whose answer did not come: name the address with ip to diagnose the way to it"
	}
	res.Suspicions = []model.Suspicion{s}
	res.Summary = fmt.Sprintf("%s: %s", res.Verdict, s.Message)
	for _, p := range path {
		if p.res != nil && p.q.Protocol == model.UDP {
			// The query's own way is the one packet path a name without an address has.
			res.Path, res.Trace, res.NetworkPlugin = p.res.Path, p.res.Trace, p.res.NetworkPlugin
			break
		}
	}
	return res
}

func resolvedMessage(n Name, dst model.Endpoint) string {
	msg := n.Resolution.Describe()
	if a := n.Answer; a != nil && len(a.Addrs) > 0 && !n.Resolution.Resolved() {
		msg = fmt.Sprintf("%s resolves to %s as %s, answered by the source's own resolver (nameserver %s), asked inside its network namespace",
			n.Name, joinAddrs(a.Addrs), a.Answered, a.Server)
	}
	if rec := n.Resolution.Record; rec != nil && len(rec.Addrs) > 1 || n.Answer != nil && len(n.Answer.Addrs) > 1 {
		msg += fmt.Sprintf("; the diagnosis follows the first, %s", dst.IP)
	}
	if n.HasResolver {
		msg += fmt.Sprintf(", through the source's search path (%s, ndots:%d)", strings.Join(n.ResolvConf.Search, " "), n.ResolvConf.Ndots)
	}
	return msg
}

func nameNote(n Name, dst model.Endpoint) string {
	from := "the cluster's objects"
	if !n.Resolution.Resolved() {
		from = "the source's resolver"
	}
	return fmt.Sprintf("%s resolved to %s from %s", n.Name, dst.IP, from)
}

// sourcePlace is where a suspicion about the source's resolver is found.
func sourcePlace(src model.Endpoint) model.Suspicion {
	switch src.Type {
	case model.EndpointPod:
		return model.Suspicion{Pod: src.Namespace + "/" + src.Name, Node: src.Node}
	case model.EndpointNode:
		return model.Suspicion{Node: src.Name}
	}
	return model.Suspicion{}
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
