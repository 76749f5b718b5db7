package kubectlcmd

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// The bounds of spec.timeout, as the API's CEL rule has them.
const (
	minTimeout = 10 * time.Second
	maxTimeout = time.Hour
)

// cleanupTTL is the ttlSecondsAfterFinished of a diagnosis the command means to delete: it
// removes the object should the command be killed before it can.
const cleanupTTL int32 = 3600

// questionFlags are the flags that shape the question beside its two endpoints.
type questionFlags struct {
	udp, sctp, icmp, probe bool
	// port is --port; 0 when unset.
	port    int
	timeout time.Duration
	keep    bool
	// keepSnapshots asks the controller to keep what the engine read, for `bundle`.
	keepSnapshots bool
	// packetSize and dontFragment ask about packets of a size; 0 when unset.
	packetSize   int
	dontFragment bool
}

// endpoint is one side of the question as the command line names it.
type endpoint struct {
	kind      string // pod, service, node or ip
	namespace string // for pod and service, when named as KIND/NAMESPACE/NAME
	name      string // pod, service or node name; the address for ip
	port      int    // from a :PORT suffix; 0 when absent
}

var kindAliases = map[string]string{
	"pod": "pod", "pods": "pod", "po": "pod",
	"svc": "service", "service": "service", "services": "service",
	"node": "node", "nodes": "node", "no": "node",
	"ip":   "ip",
	"name": "name", "dns": "name",
}

const endpointForms = "pod/NAME, svc/NAME:PORT, node/NAME or ip/ADDRESS (pod and svc also as KIND/NAMESPACE/NAME), and for a destination name/DNS-NAME or a bare DNS name"

// parseEndpoint reads KIND/NAME[:PORT], KIND/NAMESPACE/NAME[:PORT] or ip/ADDRESS[:PORT]
// (ip/[IPv6]:PORT with a port).
func parseEndpoint(s string) (endpoint, error) {
	rawKind, rest, ok := strings.Cut(s, "/")
	if !ok || rest == "" {
		return endpoint{}, fmt.Errorf("%q: want %s", s, endpointForms)
	}
	kind, ok := kindAliases[strings.ToLower(rawKind)]
	if kind == "name" {
		return parseNameEndpoint(s, rest)
	}
	if !ok {
		return endpoint{}, fmt.Errorf("%q: unknown kind %q: want %s", s, rawKind, endpointForms)
	}
	e := endpoint{kind: kind}
	if kind == "ip" {
		return parseIPEndpoint(s, rest)
	}
	name, port, err := splitPort(s, rest)
	if err != nil {
		return endpoint{}, err
	}
	e.port = port
	parts := strings.Split(name, "/")
	switch {
	case len(parts) == 2 && kind != "node":
		e.namespace, e.name = parts[0], parts[1]
		if errs := validation.IsDNS1123Label(e.namespace); len(errs) > 0 {
			return endpoint{}, fmt.Errorf("%q: namespace %q: %s", s, e.namespace, errs[0])
		}
	case len(parts) == 1:
		e.name = name
	default:
		return endpoint{}, fmt.Errorf("%q: want %s", s, endpointForms)
	}
	check := validation.IsDNS1123Subdomain
	if kind == "service" {
		check = validation.IsDNS1035Label
	}
	if errs := check(e.name); len(errs) > 0 {
		return endpoint{}, fmt.Errorf("%q: %s name %q: %s", s, kind, e.name, errs[0])
	}
	return e, nil
}

func parseIPEndpoint(s, rest string) (endpoint, error) {
	e := endpoint{kind: "ip"}
	addr, err := netip.ParseAddr(rest)
	if err != nil {
		ap, perr := netip.ParseAddrPort(rest)
		if perr != nil {
			return endpoint{}, fmt.Errorf("%q: %q is not an IP address, nor ADDRESS:PORT ([ADDRESS]:PORT for IPv6)", s, rest)
		}
		if ap.Port() == 0 {
			return endpoint{}, fmt.Errorf("%q: port 0: want a port from 1 to 65535", s)
		}
		addr, e.port = ap.Addr(), int(ap.Port())
	}
	if addr.Zone() != "" {
		return endpoint{}, fmt.Errorf("%q: an address with a zone is local to one host; name a unicast address", s)
	}
	addr = addr.Unmap()
	// The API refuses these too; saying so here spares a create that cannot succeed.
	if !addr.IsGlobalUnicast() {
		return endpoint{}, fmt.Errorf("%q: %s is not a unicast address traffic can be sent to (loopback, link-local, multicast, broadcast and unspecified are refused)", s, addr)
	}
	e.name = addr.String()
	return e, nil
}

// splitPort cuts a :PORT suffix off a name.
func splitPort(s, rest string) (string, int, error) {
	name, p, ok := strings.Cut(rest, ":")
	if !ok {
		return rest, 0, nil
	}
	port, err := parsePort(p)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", s, err)
	}
	return name, port, nil
}

func parsePort(p string) (int, error) {
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("port %q: want a number from 1 to 65535", p)
	}
	return port, nil
}

// newDiagnosis turns the command line into the NetworkDiagnosis to create in namespace,
// refusing what the API would refuse, so that nothing is created for a question that
// cannot be asked.
func newDiagnosis(args []string, f questionFlags, namespace string) (*diagv1alpha1.NetworkDiagnosis, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("want a source and a destination, e.g. kubectl netdiag pod/web svc/db:5432; got %d arguments", len(args))
	}
	src, err := parseEndpoint(args[0])
	if err != nil {
		return nil, fmt.Errorf("source %w", err)
	}
	dst, err := parseDestination(args[1])
	if err != nil {
		return nil, fmt.Errorf("destination %w", err)
	}
	if src.kind == "name" {
		return nil, errors.New("source " + args[0] + ": a DNS name is only a destination; name the pod, node or address that sends")
	}
	if src.kind == "service" {
		return nil, errors.New("source " + args[0] + ": a service sends no traffic; name one of its pods")
	}
	if src.port != 0 {
		return nil, fmt.Errorf("source %s: a source has no port; put the port on the destination (%s:%d) or in --port", args[0], args[1], src.port)
	}
	proto, err := protocol(f)
	if err != nil {
		return nil, err
	}
	port, err := questionPort(proto, dst.port, f.port)
	if err != nil {
		return nil, err
	}
	if f.packetSize != 0 && (f.packetSize < 68 || f.packetSize > 65535) {
		return nil, fmt.Errorf("--packet-size %d: want 68 to 65535 bytes", f.packetSize)
	}
	if f.dontFragment && f.packetSize == 0 {
		return nil, errors.New("--dont-fragment needs --packet-size: it says what happens to packets of that size")
	}
	if f.timeout != 0 && (f.timeout < minTimeout || f.timeout > maxTimeout) {
		return nil, fmt.Errorf("--timeout %s: want between %s and %s", f.timeout, minTimeout, maxTimeout)
	}
	nd := &diagv1alpha1.NetworkDiagnosis{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: generateName(src, dst),
			Namespace:    namespace,
			Labels:       map[string]string{"app.kubernetes.io/created-by": "kubectl-netdiag"},
		},
		Spec: diagv1alpha1.NetworkDiagnosisSpec{Protocol: proto, Probe: f.probe},
	}
	if port != 0 {
		nd.Spec.Port = ptr.To(int32(port))
	}
	if f.packetSize != 0 {
		nd.Spec.PacketSize, nd.Spec.DontFragment = ptr.To(int32(f.packetSize)), f.dontFragment
	}
	if f.timeout != 0 {
		nd.Spec.Timeout = &metav1.Duration{Duration: f.timeout}
	}
	if !f.keep {
		nd.Spec.TTLSecondsAfterFinished = ptr.To(cleanupTTL)
	}
	if f.keepSnapshots {
		nd.Spec.KeepSnapshots = ptr.To(true)
	}
	pod, node, svc, ip := src.refs()
	nd.Spec.Source = diagv1alpha1.Source{Pod: pod, Node: node, IP: ip}
	pod, node, svc, ip = dst.refs()
	nd.Spec.Destination = diagv1alpha1.Destination{Pod: pod, Node: node, Service: svc, IP: ip}
	if dst.kind == "name" {
		nd.Spec.Destination = diagv1alpha1.Destination{Name: dst.name}
	}
	return nd, nil
}

// refs is the endpoint as the API's references: one of the four is set.
func (e endpoint) refs() (*diagv1alpha1.PodReference, *diagv1alpha1.NodeReference, *diagv1alpha1.ServiceReference, string) {
	switch e.kind {
	case "pod":
		return &diagv1alpha1.PodReference{Namespace: e.namespace, Name: e.name}, nil, nil, ""
	case "node":
		return nil, &diagv1alpha1.NodeReference{Name: e.name}, nil, ""
	case "service":
		return nil, nil, &diagv1alpha1.ServiceReference{Namespace: e.namespace, Name: e.name}, ""
	}
	return nil, nil, nil, e.name
}

func protocol(f questionFlags) (diagv1alpha1.Protocol, error) {
	var picked []string
	for name, set := range map[string]bool{"--udp": f.udp, "--sctp": f.sctp, "--icmp": f.icmp} {
		if set {
			picked = append(picked, name)
		}
	}
	if len(picked) > 1 {
		slices.Sort(picked)
		return "", fmt.Errorf("%s: pick one protocol", strings.Join(picked, " and "))
	}
	switch {
	case f.udp:
		return diagv1alpha1.ProtocolUDP, nil
	case f.sctp:
		return diagv1alpha1.ProtocolSCTP, nil
	case f.icmp:
		return diagv1alpha1.ProtocolICMP, nil
	}
	return diagv1alpha1.ProtocolTCP, nil
}

// questionPort reconciles the destination's :PORT with --port.
func questionPort(proto diagv1alpha1.Protocol, fromDest, fromFlag int) (int, error) {
	if fromFlag != 0 && (fromFlag < 1 || fromFlag > 65535) {
		return 0, fmt.Errorf("--port %d: want a number from 1 to 65535", fromFlag)
	}
	if fromDest != 0 && fromFlag != 0 && fromDest != fromFlag {
		return 0, fmt.Errorf("the destination's port %d and --port %d differ: give one", fromDest, fromFlag)
	}
	port := max(fromDest, fromFlag)
	if proto == diagv1alpha1.ProtocolICMP {
		if port != 0 {
			return 0, errors.New("--icmp has no port: drop the destination's :PORT and --port")
		}
		return 0, nil
	}
	if port == 0 {
		return 0, fmt.Errorf("%s needs a port: name it on the destination (svc/db:5432) or with --port", proto)
	}
	return port, nil
}

// generateName makes the prefix the API server completes with five random characters:
// "web-to-db-" says which question the object asks. Kept short enough that the name fits
// a label value.
func generateName(src, dst endpoint) string {
	prefix := dnsWord(src.name, 26) + "-to-" + dnsWord(dst.name, 26)
	return prefix + "-"
}

// dnsWord lower-cases s, replaces what a DNS label cannot hold with dashes and cuts it to n.
func dnsWord(s string, n int) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	out := strings.Trim(string(b), "-")
	if len(out) > n {
		out = strings.Trim(out[:n], "-")
	}
	if out == "" {
		out = "x"
	}
	return out
}
