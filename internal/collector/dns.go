package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/netdiag/netdiag/internal/dnsname"
	"github.com/netdiag/netdiag/internal/netnsutil"
	"github.com/netdiag/netdiag/internal/netstack"
)

// DefaultLookupTimeout bounds one query to one nameserver, as a resolver's timeout:2 would.
const DefaultLookupTimeout = 2 * time.Second

// maxLookups bounds the queries one Lookup sends: every candidate of the search path to
// every nameserver.
const maxLookups = 24

// LookupResult is what a resolver inside a namespace answered for a name.
type LookupResult struct {
	// Name is the name that answered (a candidate of the search path), or the last asked.
	Name string
	// Addrs are its A records.
	Addrs []netip.Addr
	// Server is the nameserver that answered.
	Server netip.Addr
	// Asked are the names asked, in order.
	Asked []string
	// Err says why no address came: NXDOMAIN for every name asked, or no answer at all.
	Err string
}

// Lookup resolves name as a resolver with rc does, from inside the network namespace at
// nsPath (empty: the caller's own): each candidate of the search path in order, each
// nameserver in turn when one does not answer, over UDP, or TCP when tcp is set. Every query
// is bounded by timeout (DefaultLookupTimeout when zero).
func Lookup(ctx context.Context, nsPath string, rc dnsname.ResolvConf, name string, tcp bool, timeout time.Duration) LookupResult {
	return lookup(ctx, nsPath, rc, name, tcp, timeout, 53)
}

// lookup is Lookup with the nameservers' port, which resolv.conf cannot name.
func lookup(ctx context.Context, nsPath string, rc dnsname.ResolvConf, name string, tcp bool, timeout time.Duration, port uint16) LookupResult {
	if timeout <= 0 {
		timeout = DefaultLookupTimeout
	}
	res := LookupResult{Name: dnsname.Canonical(name)}
	if len(rc.Nameservers) == 0 {
		res.Err = "no nameserver"
		return res
	}
	var lastErr error
	sent := 0
	for _, c := range dnsname.Candidates(name, rc) {
		res.Asked = append(res.Asked, c)
		for _, ns := range rc.Nameservers {
			if sent == maxLookups {
				res.Err = fmt.Sprintf("gave up after %d queries: %v", sent, lastErr)
				return res
			}
			sent++
			addrs, rcode, err := query(ctx, nsPath, netip.AddrPortFrom(ns, port), c, tcp, timeout)
			if err != nil {
				lastErr = err
				continue
			}
			res.Server, res.Name = ns, c
			if rcode == dnsmessage.RCodeSuccess && len(addrs) > 0 {
				res.Addrs = addrs
				return res
			}
			lastErr = fmt.Errorf("%s answers %s for %s", ns, rcodeName(rcode, len(addrs)), c)
			break // an answer, even NXDOMAIN, is not asked of the next nameserver
		}
	}
	res.Err = "no address"
	if lastErr != nil {
		res.Err = lastErr.Error()
	}
	return res
}

func rcodeName(rc dnsmessage.RCode, n int) string {
	if rc == dnsmessage.RCodeSuccess && n == 0 {
		return "no address (NODATA)"
	}
	return strings.TrimPrefix(rc.String(), "RCode")
}

// query asks one nameserver for the A records of fqdn.
func query(ctx context.Context, nsPath string, server netip.AddrPort, fqdn string, tcp bool, timeout time.Duration) ([]netip.Addr, dnsmessage.RCode, error) {
	qname, err := dnsmessage.NewName(fqdn + ".")
	if err != nil {
		return nil, 0, fmt.Errorf("name %q: %w", fqdn, err)
	}
	id := uint16(time.Now().UnixNano())
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: id, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: qname, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
	}
	packed, err := msg.Pack()
	if err != nil {
		return nil, 0, fmt.Errorf("pack query: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	network := "udp"
	if tcp {
		network = "tcp"
	}
	var conn net.Conn
	// The socket is made inside the namespace and stays there.
	err = netnsutil.Do(nsPath, func() error {
		var d net.Dialer
		var derr error
		conn, derr = d.DialContext(ctx, network, server.String())
		return derr
	})
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", network, server, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	reply, err := exchange(conn, packed, tcp)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", network, server, err)
	}
	var p dnsmessage.Parser
	h, err := p.Start(reply)
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: parse the answer: %w", network, server, err)
	}
	if h.ID != id {
		return nil, 0, fmt.Errorf("%s %s: the answer is for another query", network, server)
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, 0, fmt.Errorf("%s %s: parse the answer: %w", network, server, err)
	}
	var addrs []netip.Addr
	for {
		ah, err := p.AnswerHeader()
		if errors.Is(err, dnsmessage.ErrSectionDone) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s %s: parse the answer: %w", network, server, err)
		}
		if ah.Type != dnsmessage.TypeA {
			if err := p.SkipAnswer(); err != nil {
				return nil, 0, fmt.Errorf("%s %s: parse the answer: %w", network, server, err)
			}
			continue
		}
		a, err := p.AResource()
		if err != nil {
			return nil, 0, fmt.Errorf("%s %s: parse the answer: %w", network, server, err)
		}
		addrs = append(addrs, netip.AddrFrom4(a.A))
	}
	return addrs, h.RCode, nil
}

// exchange sends one query and reads its answer: a datagram over UDP, a length-prefixed
// message over TCP.
func exchange(conn net.Conn, q []byte, tcp bool) ([]byte, error) {
	if !tcp {
		if _, err := conn.Write(q); err != nil {
			return nil, err
		}
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	framed := binary.BigEndian.AppendUint16(nil, uint16(len(q)))
	if _, err := conn.Write(append(framed, q...)); err != nil {
		return nil, err
	}
	var size [2]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// LookupSpec is a name to resolve with the source pod's resolver, from inside its namespace.
type LookupSpec struct {
	// FromPod is the source pod, as namespace/name; it is one of Options.Pods.
	FromPod string
	Name    string
	// ResolvConf is the pod's resolver configuration.
	ResolvConf dnsname.ResolvConf
	// Timeout bounds each query; zero is DefaultLookupTimeout.
	Timeout time.Duration
}

// run resolves the name in the source pod's namespace, found among found.
func (s LookupSpec) run(ctx context.Context, found map[netip.Addr]*PodNetNS) *netstack.NameLookup {
	out := &netstack.NameLookup{Name: s.Name}
	path := ""
	for _, f := range found {
		if f.Pod.Namespace+"/"+f.Pod.Name == s.FromPod {
			path = f.Path
		}
	}
	if path == "" {
		out.Err = fmt.Sprintf("not asked: no network namespace found for pod %s", s.FromPod)
		return out
	}
	res := Lookup(ctx, path, s.ResolvConf, s.Name, false, s.Timeout)
	out.Answered, out.Addrs, out.Server, out.Asked, out.Err = res.Name, res.Addrs, res.Server, res.Asked, res.Err
	logr.FromContextOrDiscard(ctx).V(1).Info("Resolved a name with the source pod's resolver", "pod", s.FromPod, "name", s.Name, "addresses", len(res.Addrs), "error", res.Err)
	return out
}

// Args are the `netdiag collect` flags that ask for s.
func (s LookupSpec) Args() []string {
	args := []string{"--lookup-from", "pod:" + s.FromPod, "--lookup-name", s.Name, "--lookup-ndots", strconv.Itoa(s.ResolvConf.Ndots)}
	for _, ns := range s.ResolvConf.Nameservers {
		args = append(args, "--lookup-nameserver", ns.String())
	}
	if len(s.ResolvConf.Search) > 0 {
		args = append(args, "--lookup-search", strings.Join(s.ResolvConf.Search, ","))
	}
	return args
}
