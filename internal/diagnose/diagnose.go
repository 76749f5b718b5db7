package diagnose

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/netfilter"
	"github.com/netdiag/netdiag/internal/network"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/internal/policy"
	"github.com/netdiag/netdiag/internal/provider"
	"github.com/netdiag/netdiag/internal/service"
)

// Diagnose answers in.Question from the snapshot in in, with every plugin netdiag knows at
// its defaults: it walks the packet from the source to the destination through the nodes'
// real state and returns the verdict, the suspicions (most severe first), the packet path
// and the steps that explain it. An error means the input cannot be diagnosed at all (no
// cluster snapshot, an endpoint without an address, an unknown plugin or plugin option);
// everything found on the way, including missing node snapshots, is a suspicion instead.
func Diagnose(in Input) (*Result, error) {
	return (&Diagnostor{Plugins: plugins.Registry()}).Diagnose(in)
}

// Diagnostor runs diagnoses. It is long-lived: the manager keeps one and shares it across
// diagnoses, so that what it caches serves them all.
type Diagnostor struct {
	// Plugins are the plugins it simulates and recognises, with the cluster's defaults for
	// their configuration.
	Plugins *plugin.Registry
	// HopLimit bounds the NetNodes one branch crosses; zero is network.DefaultHopLimit.
	HopLimit int
	// Rulesets keeps the parsed netfilter rulesets; a controller shares one across its
	// diagnoses, since the nodes' rules seldom change between them. Nil gives each
	// diagnosis a cache of its own, shared by its nodes.
	Rulesets *netfilter.Cache
}

// Diagnose is the package-level Diagnose with d's settings.
func (d *Diagnostor) Diagnose(in Input) (*Result, error) {
	if err := validate(in); err != nil {
		return nil, err
	}
	if d.Plugins == nil {
		return nil, errors.New("diagnose: no plugin registry")
	}
	res := &Result{}
	desc, cfg, note, err := ChoosePlugin(d.Plugins, in.Cluster, in.NetworkPlugin, in.NetworkPluginConfig)
	if err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	if note != nil {
		res.Suspicions = append(res.Suspicions, *note)
	}
	rulesets := d.Rulesets
	if rulesets == nil {
		rulesets = netfilter.NewCache(netfilter.DefaultCacheSize)
	}
	env := &plugin.Env{
		Cluster:   in.Cluster,
		Nodes:     in.Nodes,
		Question:  in.Question,
		Netfilter: plugin.NewNetfilterFactory(rulesets),
		Policy:    policy.NewEvaluator(in.Cluster),
		Services:  service.New(),
	}
	net, p, err := provider.CreateNetwork(desc, cfg, env)
	if err != nil {
		return nil, fmt.Errorf("diagnose: %w", err)
	}
	res.NetworkPlugin = p.Name()
	if g, ok := net.(interface{ SetHopLimit(int) }); ok && d.HopLimit > 0 {
		g.SetHopLimit(d.HopLimit)
	}
	tr, err := net.Diagnose(in.Question)
	if err != nil {
		return nil, fmt.Errorf("diagnose %s: %w", describe(in.Question), err)
	}
	res.Path = tr.Path
	res.Trace = tr.Steps
	res.Suspicions = append(res.Suspicions, tr.Suspicions...)
	if len(in.Nodes) == 0 {
		res.Suspicions = append(res.Suspicions, model.Suspicion{Level: model.Info, Reason: model.ReasonSnapshotMissing,
			Message: "No node's network state was given: the path is only what the network plugin intends"})
	}
	sortSuspicions(res.Suspicions)
	res.Verdict, res.Summary = verdict(in.Question, tr.Ends, res.Suspicions)
	// What is known of the state as a whole informs and does not weigh in the verdict: a
	// rule not understood that a packet reached already said so on its branch.
	res.Suspicions = appendNotes(res.Suspicions, env.Notes())
	// The probe is weighed against the verdict, never folded into it: the status shows both.
	confirm(in, res)
	sortSuspicions(res.Suspicions)
	return res, nil
}

// appendNotes adds the notes not already said of the same rule at the same place.
func appendNotes(sus, notes []model.Suspicion) []model.Suspicion {
	for _, n := range notes {
		if !slices.ContainsFunc(sus, func(s model.Suspicion) bool {
			return s.Reason == n.Reason && s.Node == n.Node && s.Pod == n.Pod && s.Rule == n.Rule
		}) {
			sus = append(sus, n)
		}
	}
	return sus
}

// ChoosePlugin settles the plugin a diagnosis simulates and its configuration: the one
// named, else the one detected in the cluster, else the generic data plane. A plugin named
// that the registry does not simulate is an error (*plugin.UnknownPluginError), as is an
// override it does not accept; a plugin detected but not simulated, or none detected, is
// simulated as generic, and note says so.
func ChoosePlugin(reg *plugin.Registry, s *cluster.Snapshot, name string, overrides map[string]string) (plugin.Descriptor, plugin.Config, *model.Suspicion, error) {
	var note *model.Suspicion
	if name == "" || name == plugin.Auto {
		det, ok := reg.Detect(s)
		switch {
		case !ok:
			name = plugin.GenericName
			note = &model.Suspicion{Level: model.Info, Reason: model.ReasonPluginUnknown,
				Message: "The network plugin could not be recognised from the cluster's DaemonSets and nodes: the data plane is followed as it is, without a plugin's intent to compare it with"}
		case !det.Plugin.Simulated():
			name = plugin.GenericName
			note = &model.Suspicion{Level: model.Info, Reason: model.ReasonPluginUnknown,
				Message: fmt.Sprintf("The cluster runs %s (%s), which netdiag recognises but does not simulate: the data plane is followed as it is, without the plugin's intent to compare it with (simulated: %s)",
					det.Plugin.Name, det.Evidence, strings.Join(reg.Simulated(), ", "))}
		default:
			name = det.Plugin.Name
		}
	}
	d, cfg, err := reg.Resolve(name, overrides)
	if err != nil {
		return plugin.Descriptor{}, nil, nil, err
	}
	return d, cfg, note, nil
}

func validate(in Input) error {
	if in.Cluster == nil {
		return errors.New("diagnose: no cluster snapshot")
	}
	q := in.Question
	if !q.Source.IP.IsValid() {
		return fmt.Errorf("diagnose: source %s has no address", q.Source)
	}
	if !q.Destination.IP.IsValid() {
		return fmt.Errorf("diagnose: destination %s has no address", q.Destination)
	}
	switch q.Protocol {
	case model.TCP, model.UDP, model.SCTP:
		if q.Port == 0 {
			return fmt.Errorf("diagnose: protocol %s needs a port", q.Protocol)
		}
	case model.ICMP:
	default:
		return fmt.Errorf("diagnose: unknown protocol %q (want TCP, UDP, SCTP or ICMP)", q.Protocol)
	}
	return nil
}

// verdict weighs the branches: one that is dropped makes the traffic unreachable (for the
// share of connections that take it), one that is undecided makes the answer unknown, and
// only delivered branches with trusted state make it reachable.
func verdict(q model.Question, ends []plugin.End, sus []model.Suspicion) (Verdict, string) {
	network.SortEnds(ends)
	var delivered, dropped, undecided []plugin.End
	for _, e := range ends {
		switch e.Kind {
		case plugin.Delivered:
			delivered = append(delivered, e)
		case plugin.Dropped:
			dropped = append(dropped, e)
		default:
			undecided = append(undecided, e)
		}
	}
	what := describe(q)
	switch {
	case len(dropped) > 0:
		where, why := blame(dropped[0], sus)
		share := ""
		if n := len(ends); n > 1 {
			share = fmt.Sprintf(" (%d of %d branches)", len(dropped), n)
		}
		return Unreachable, fmt.Sprintf("Unreachable: %s stops at %s%s: %s", what, where, share, why)
	case len(undecided) > 0:
		where, why := blame(undecided[0], sus)
		return Unknown, fmt.Sprintf("Unknown: %s cannot be decided at %s: %s", what, where, why)
	case len(delivered) == 0:
		return Unknown, fmt.Sprintf("Unknown: %s: the packet was not followed to any end", what)
	}
	for _, s := range sus {
		if s.Blocks() {
			// A blocking finding that did not stop the walk stops the connection: the
			// reply cannot come back (no masquerade), or the way only works by accident.
			return Unreachable, fmt.Sprintf("Unreachable: %s arrives, but at %s: %s (%s)", what, cmp.Or(s.Where(), "-"), lowerFirst(s.Message), s.Reason)
		}
	}
	for _, s := range sus {
		if s.Reason == model.ReasonSnapshotPartError || s.Reason == model.ReasonRuleNotUnderstood || s.Reason == model.ReasonSnapshotMissing {
			return Unknown, fmt.Sprintf("Unknown: %s arrives as far as the state shows, but %s", what, lowerFirst(strings.TrimSuffix(s.Message, ".")))
		}
	}
	warn := ""
	if n := countAtLeast(sus, model.Warning); n > 0 {
		warn = fmt.Sprintf("; %d warning(s), first: %s", n, sus[0].Reason)
	}
	at := trimID(delivered[0].NodeID)
	if len(delivered) > 1 {
		at = fmt.Sprintf("%s and %d more (every branch)", at, len(delivered)-1)
	}
	return Reachable, fmt.Sprintf("Reachable: %s arrives at %s%s", what, at, warn)
}

// blame names the place and the cause of an end, preferring the most severe suspicion found
// where it ended.
func blame(e plugin.End, sus []model.Suspicion) (where, why string) {
	where = trimID(e.NodeID)
	why = e.Why
	for _, s := range sus {
		if s.Level < model.Critical && e.Kind == plugin.Dropped {
			break
		}
		if atNode(s, e.NodeID) {
			return where, fmt.Sprintf("%s (%s)", cmp.Or(why, lowerFirst(s.Message)), s.Reason)
		}
	}
	if why == "" && len(sus) > 0 {
		why = fmt.Sprintf("%s (%s)", lowerFirst(sus[0].Message), sus[0].Reason)
	}
	return where, why
}

func atNode(s model.Suspicion, id string) bool {
	switch {
	case strings.HasPrefix(id, "pod/"):
		return s.Pod == strings.TrimPrefix(id, "pod/")
	case strings.HasPrefix(id, "node/"):
		return s.Pod == "" && s.Node == strings.TrimPrefix(id, "node/")
	}
	return false
}

func countAtLeast(sus []model.Suspicion, l model.Level) int {
	n := 0
	for _, s := range sus {
		if s.Level >= l {
			n++
		}
	}
	return n
}

func trimID(id string) string { return id }

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func describe(q model.Question) string {
	proto := string(q.Protocol)
	if q.Protocol != model.ICMP {
		proto = fmt.Sprintf("%s/%d", q.Protocol, q.Port)
	}
	switch {
	case q.Size > 0 && q.Protocol == model.TCP:
		proto += fmt.Sprintf(" (full-size segments, up to %d bytes)", q.Size)
	case q.Size > 0 && q.DontFragment:
		proto += fmt.Sprintf(" (%d-byte packets, DF)", q.Size)
	case q.Size > 0:
		proto += fmt.Sprintf(" (%d-byte packets)", q.Size)
	}
	return fmt.Sprintf("%s from %s to %s", proto, short(q.Source), short(q.Destination))
}

func short(e model.Endpoint) string {
	switch e.Type {
	case model.EndpointPod:
		return "pod/" + e.Namespace + "/" + e.Name
	case model.EndpointService:
		return "service/" + e.Namespace + "/" + e.Name
	case model.EndpointNode:
		return "node/" + e.Name
	}
	return e.IP.String()
}

// sortSuspicions orders the most severe first, then by place and code so that the output is
// stable.
func sortSuspicions(s []model.Suspicion) {
	slices.SortStableFunc(s, func(a, b model.Suspicion) int {
		return cmp.Or(
			cmp.Compare(b.Level, a.Level),
			cmp.Compare(a.Node, b.Node),
			cmp.Compare(a.Pod, b.Pod),
			cmp.Compare(a.Reason, b.Reason),
		)
	})
}
