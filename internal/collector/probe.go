package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/netdiag/netdiag/internal/netnsutil"
	"github.com/netdiag/netdiag/internal/netstack"
)

// DefaultProbeTimeout bounds a probe when the spec sets no timeout.
const DefaultProbeTimeout = 3 * time.Second

// Probe sends one real connection attempt from the network namespace at nsPath (empty is
// the collector's own) and says what happened: a TCP connect, a UDP datagram (a reply, or the
// ICMP port unreachable the kernel turns into ECONNREFUSED, decides) or an ICMP echo.
func Probe(ctx context.Context, nsPath string, spec ProbeSpec) netstack.ProbeResult {
	if err := CheckProbeTarget(spec.To); err != nil {
		return netstack.ProbeResult{Inconclusive: true, Message: "probe not sent: " + err.Error()}
	}
	if spec.Timeout <= 0 {
		spec.Timeout = DefaultProbeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	var res netstack.ProbeResult
	err := netnsutil.Do(nsPath, func() error {
		switch strings.ToUpper(spec.Protocol) {
		case "TCP":
			res = probeTCP(ctx, spec)
		case "UDP":
			res = probeUDP(ctx, spec)
		case "ICMP":
			res = probeICMP(ctx, spec)
		default:
			res = netstack.ProbeResult{Inconclusive: true, Message: fmt.Sprintf("probe not sent: unknown protocol %q", spec.Protocol)}
		}
		return nil
	})
	if err != nil {
		return netstack.ProbeResult{Inconclusive: true, Message: "probe not sent: " + err.Error()}
	}
	return res
}

// CheckProbeTarget says why a probe must never be sent to the address, or nil. The API
// refuses such an ip and the controller never asks for one; the collector checks again
// because it runs privileged on the node, where these addresses reach what no diagnosis
// names: the node's own services (a kubelet, etcd) on loopback or the unspecified address, a
// cloud's metadata service on link-local, every host of a link on multicast or broadcast.
func CheckProbeTarget(to netip.Addr) error {
	a := to.Unmap()
	var kind string
	switch {
	case !a.IsValid():
		return errors.New("no destination address")
	case a.IsLoopback():
		kind = "a loopback"
	case a.IsUnspecified():
		kind = "the unspecified"
	case a.IsMulticast():
		kind = "a multicast"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		// A subnet's directed broadcast the kernel refuses itself: no probe socket sets
		// SO_BROADCAST, and TCP never connects to a broadcast route.
		kind = "the broadcast"
	case a.IsLinkLocalUnicast():
		kind = "a link-local"
	default:
		return nil
	}
	return fmt.Errorf("%s is %s address, which a probe never targets", to, kind)
}

func target(spec ProbeSpec) string {
	return net.JoinHostPort(spec.To.String(), strconv.Itoa(int(spec.Port)))
}

// failure explains a failed attempt in words a person acts on.
func failure(what string, spec ProbeSpec, err error) netstack.ProbeResult {
	var msg string
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		if spec.Protocol == "UDP" {
			msg = "ICMP port unreachable: nothing listens on the port, or a rule rejects the datagram"
		} else {
			msg = "connection refused: nothing listens on the port, or a rule rejects the connection"
		}
	case errors.Is(err, syscall.EHOSTUNREACH):
		msg = "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		msg = "network unreachable: no route"
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		msg = "not permitted: a local rule or route prohibits it"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("no answer within %s: dropped on the way or by a silent rule", spec.Timeout)
	default:
		msg = err.Error()
	}
	return netstack.ProbeResult{Message: fmt.Sprintf("%s %s: %s", what, spec.To, msg)}
}

func probeTCP(ctx context.Context, spec ProbeSpec) netstack.ProbeResult {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target(spec))
	if err != nil {
		return failure("TCP connect to port "+strconv.Itoa(int(spec.Port))+" of", spec, err)
	}
	_ = conn.Close()
	return netstack.ProbeResult{Reachable: true, Message: fmt.Sprintf("TCP connection to %s established", target(spec))}
}

func probeUDP(ctx context.Context, spec ProbeSpec) netstack.ProbeResult {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", target(spec))
	if err != nil {
		return failure("UDP to port "+strconv.Itoa(int(spec.Port))+" of", spec, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Write([]byte("netdiag probe\n")); err != nil {
		return failure("UDP to port "+strconv.Itoa(int(spec.Port))+" of", spec, err)
	}
	buf := make([]byte, 512)
	if _, err := conn.Read(buf); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return netstack.ProbeResult{Inconclusive: true, Message: fmt.Sprintf(
				"UDP to %s: no reply and no ICMP error within %s: the server may be silent, or the datagram was dropped", target(spec), spec.Timeout)}
		}
		return failure("UDP to port "+strconv.Itoa(int(spec.Port))+" of", spec, err)
	}
	return netstack.ProbeResult{Reachable: true, Message: fmt.Sprintf("UDP reply from %s", target(spec))}
}

func probeICMP(ctx context.Context, spec ProbeSpec) netstack.ProbeResult {
	network, listen, proto := "ip4:icmp", "0.0.0.0", 1
	var echo, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if spec.To.Is6() && !spec.To.Is4In6() {
		network, listen, proto = "ip6:ipv6-icmp", "::", 58
		echo, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	conn, err := icmp.ListenPacket(network, listen)
	if err != nil {
		return netstack.ProbeResult{Inconclusive: true, Message: "ICMP probe not sent: open raw socket: " + err.Error()}
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	id := os.Getpid() & 0xffff
	msg := icmp.Message{Type: echo, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("netdiag probe")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return netstack.ProbeResult{Inconclusive: true, Message: "ICMP probe not sent: " + err.Error()}
	}
	dst := &net.IPAddr{IP: net.IP(spec.To.Unmap().AsSlice())}
	if _, err := conn.WriteTo(b, dst); err != nil {
		return failure("ICMP echo to", spec, err)
	}
	buf := make([]byte, 1500)
	// The raw socket sees every ICMP message of the namespace; wait for ours. Bounded by the
	// deadline, and by a count in case of a flood.
	for range 1000 {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return failure("ICMP echo to", spec, err)
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		switch body := m.Body.(type) {
		case *icmp.Echo:
			if m.Type == reply && body.ID == id && src.Unmap() == spec.To.Unmap() {
				return netstack.ProbeResult{Reachable: true, Message: fmt.Sprintf("ICMP echo reply from %s", spec.To)}
			}
		case *icmp.DstUnreach:
			return netstack.ProbeResult{Message: fmt.Sprintf("ICMP echo to %s: destination unreachable (code %d) reported by %s", spec.To, m.Code, src)}
		}
	}
	// So many other ICMP messages that ours may be among those not read.
	return netstack.ProbeResult{Inconclusive: true, Message: fmt.Sprintf("ICMP echo to %s: no reply among the ICMP messages seen", spec.To)}
}
