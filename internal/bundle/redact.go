package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/plugin/calico"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// Redact returns a copy of b in which the names of namespaces, nodes, pods, services, slices,
// policies and their owners, and every address outside the special-purpose ranges, are
// replaced wherever they appear: in the objects, in the node snapshots (routes, rules,
// iptables text, nftables, ipsets) and in the question. The same name or address becomes
// the same token everywhere, names as ns-1, node-1, pod-1, svc-1 ..., addresses inside
// documentation and reserved ranges with their prefixes kept, so the redacted bundle
// diagnoses as the original does.
//
// Kept as they are: the names of DaemonSets and their namespaces, and the system
// namespaces, since they say which network plugin runs; loopback, link-local, multicast and
// unspecified addresses, which the kernel treats apart; MAC addresses and interface names,
// except the names Calico derives from a pod's.
func Redact(b *Bundle) (*Bundle, error) {
	files, err := b.Files()
	if err != nil {
		return nil, err
	}
	docs := make([]any, len(files))
	for i, f := range files {
		if docs[i], err = generic(f); err != nil {
			return nil, err
		}
	}
	r := &redactor{names: nameTable(b)}
	for _, d := range docs {
		walk(d, false, func(s string) string { r.collect(s); return s })
	}
	if err := r.allocate(); err != nil {
		return nil, err
	}
	out := make([]snapshotdir.File, len(files))
	for i, d := range docs {
		d = walk(d, false, r.redact)
		data, err := json.Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("encode redacted %s: %w", files[i].Name, err)
		}
		name := files[i].Name
		if strings.HasSuffix(name, ".json") && name != QuestionFile {
			name = r.redact(strings.TrimSuffix(name, ".json")) + ".json"
		}
		out[i] = snapshotdir.File{Name: name, Data: data}
	}
	return Parse("redacted bundle", out)
}

// generic decodes a YAML or JSON file into maps and slices, numbers kept exact.
func generic(f snapshotdir.File) (any, error) {
	js, err := yaml.YAMLToJSON(f.Data)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name, err)
	}
	return v, nil
}

// walk applies f to every string value of v. Map keys are kept (field names, label and
// annotation keys), except a snapshot's sysctls, whose keys name interfaces.
func walk(v any, keys bool, f func(string) string) any {
	switch t := v.(type) {
	case string:
		return f(t)
	case []any:
		for i := range t {
			t[i] = walk(t[i], false, f)
		}
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			if keys {
				k = f(k)
			}
			out[k] = walk(e, k == "sysctls", f)
		}
		return out
	}
	return v
}

// keptNamespaces hold the cluster's own components.
var keptNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// reserved are words the node snapshots use for themselves; a name equal to one is kept,
// since replacing it would rewrite rules and kinds along with it.
var reserved = []string{
	"tcp", "udp", "icmp", "sctp", "all", "any", "filter", "nat", "mangle", "raw", "security",
	"input", "output", "forward", "prerouting", "postrouting", "accept", "drop", "reject",
	"return", "local", "main", "default", "lookup", "unicast", "blackhole", "veth", "bridge",
	"vxlan", "device", "loopback", "lo", "eth0", "up", "down", "ip", "inet", "kubernetes",
}

// nameTable maps each name to redact to its token, in a fixed order: the same bundle always
// gets the same tokens. Tokens equal to a name in the bundle are skipped.
func nameTable(b *Bundle) map[string]string {
	kept := map[string]bool{}
	for _, n := range append(keptNamespaces, reserved...) {
		kept[n] = true
	}
	for _, ds := range b.Cluster.DaemonSets {
		kept[ds.Namespace], kept[ds.Name] = true, true
	}
	type group struct {
		prefix string
		names  []string
	}
	c := b.Cluster
	var namespaces, nodes, pods, services, slicesN, policies, owners []string
	meta := func(m metav1.ObjectMeta, own *[]string) {
		namespaces = append(namespaces, m.Namespace)
		*own = append(*own, m.Name)
		for _, o := range m.OwnerReferences {
			owners = append(owners, o.Name)
		}
		if m.GenerateName != "" {
			owners = append(owners, strings.TrimRight(m.GenerateName, "-"))
		}
	}
	for _, n := range c.Namespaces {
		namespaces = append(namespaces, n.Name)
	}
	for _, n := range c.Nodes {
		nodes = append(nodes, n.Name)
	}
	for _, p := range c.Pods {
		meta(p.ObjectMeta, &pods)
		nodes = append(nodes, p.Spec.NodeName)
		pods = append(pods, p.Spec.Hostname)
	}
	for _, s := range c.Services {
		meta(s.ObjectMeta, &services)
	}
	for _, s := range c.EndpointSlices {
		meta(s.ObjectMeta, &slicesN)
	}
	for _, p := range c.NetworkPolicies {
		meta(p.ObjectMeta, &policies)
	}
	diagnosis := []string{}
	if ns, name, ok := strings.Cut(b.Question.Diagnosis, "/"); ok {
		namespaces, diagnosis = append(namespaces, ns), append(diagnosis, name)
	}
	table := map[string]string{}
	taken := map[string]bool{}
	for _, g := range []group{{"ns", namespaces}, {"node", nodes}, {"svc", services}, {"pod", pods}, {"slice", slicesN}, {"policy", policies}, {"owner", owners}, {"diagnosis", diagnosis}} {
		for _, n := range g.names {
			if n != "" && !kept[n] {
				taken[n] = true
			}
		}
	}
	for _, g := range []group{{"ns", namespaces}, {"node", nodes}, {"svc", services}, {"pod", pods}, {"slice", slicesN}, {"policy", policies}, {"owner", owners}, {"diagnosis", diagnosis}} {
		n := 0
		for _, name := range slices.Compact(slices.Sorted(slices.Values(g.names))) {
			if name == "" || kept[name] || table[name] != "" {
				continue
			}
			var token string
			for token == "" || taken[token] {
				n++
				token = fmt.Sprintf("%s-%d", g.prefix, n)
			}
			table[name] = token
		}
	}
	calicoNames(b, table)
	return table
}

// calicoNames adds the host ends of Calico's pod veths, named from the pod's namespace and
// name, so that the engine finds a redacted pod's interface by its redacted name.
func calicoNames(b *Bundle, table map[string]string) {
	prefix := calico.DefaultInterfacePrefix
	if p := b.Question.NetworkPluginConfig["interface-prefix"]; p != "" {
		prefix = p
	}
	tok := func(s string) string {
		if t, ok := table[s]; ok {
			return t
		}
		return s
	}
	for _, p := range b.Cluster.Pods {
		was := calico.VethName(prefix, p.Namespace, p.Name)
		if now := calico.VethName(prefix, tok(p.Namespace), tok(p.Name)); now != was {
			table[was] = now
		}
	}
}

// inRun reports whether c belongs to a candidate token: a name, an address, an address:port.
func inRun(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '.' || c == ':' || c == '-'
}

// eachRun calls f on every candidate token of s, with a prefix length (/digits) that follows
// it, and returns s with each replaced by what f returns. A hand scanner: a regular
// expression costs ten times more on a node's 100,000 rules.
func eachRun(s string, f func(string) string) string {
	var out strings.Builder
	last := 0
	for i := 0; i < len(s); {
		if !inRun(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && inRun(s[j]) {
			j++
		}
		if j+1 < len(s) && s[j] == '/' && s[j+1] >= '0' && s[j+1] <= '9' {
			k := j + 1
			for k < len(s) && k < j+4 && s[k] >= '0' && s[k] <= '9' {
				k++
			}
			j = k
		}
		if rep := f(s[i:j]); rep != s[i:j] {
			out.WriteString(s[last:i])
			out.WriteString(rep)
			last = j
		}
		i = j
	}
	if last == 0 {
		return s
	}
	out.WriteString(s[last:])
	return out.String()
}

type redactor struct {
	names map[string]string
	addrs addrMap
}

func (r *redactor) collect(s string) {
	eachRun(s, func(run string) string {
		r.addrs.collect(strings.TrimRight(run, ".:-"))
		return run
	})
}

func (r *redactor) allocate() error { return r.addrs.allocate() }

func (r *redactor) redact(s string) string {
	return eachRun(s, func(run string) string {
		core := strings.TrimRight(run, ".:-")
		return r.token(core) + run[len(core):]
	})
}

// token redacts one run: as an address, a prefix or address:port, as a name, or else part
// by part, split at colons and then at dots.
func (r *redactor) token(s string) string {
	if out, ok := r.addrs.redact(s); ok {
		return out
	}
	if t, ok := r.names[s]; ok {
		return t
	}
	for _, sep := range []string{":", "."} {
		if strings.Contains(s, sep) {
			parts := strings.Split(s, sep)
			for i, p := range parts {
				parts[i] = r.token(p)
			}
			return strings.Join(parts, sep)
		}
	}
	return s
}
