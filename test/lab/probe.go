package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/netdiag/netdiag/internal/netnsutil"
)

// Protocol is what a probe sends.
type Protocol string

const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	ICMP Protocol = "ICMP"
)

// ProbeSpec is one probe: real packets from a namespace to an address.
type ProbeSpec struct {
	// From is the network namespace the packets leave from (a pod's, a node's, the external
	// host's).
	From string
	// To is the destination. The port is ignored for ICMP.
	To netip.AddrPort
	// Protocol is TCP (connect, then echo), UDP (echo) or ICMP (echo request).
	Protocol Protocol
	// Payload is how many bytes must come back echoed. 0 means 32; negative means a TCP
	// connect alone decides (for servers that are not echo servers).
	Payload int
	// Timeout bounds the whole probe. 0 means 2s.
	Timeout time.Duration
}

// ProbeResult is what the kernel did with the probe's packets.
type ProbeResult struct {
	// Reachable is true when the destination answered (echoed the payload).
	Reachable bool
	// Err says why not: a timeout, connection refused, no route to host...
	Err error
	// Took is how long the probe ran.
	Took time.Duration
}

func (r ProbeResult) String() string {
	if r.Reachable {
		return fmt.Sprintf("reachable in %s", r.Took.Round(time.Microsecond))
	}
	return fmt.Sprintf("unreachable after %s: %v", r.Took.Round(time.Millisecond), r.Err)
}

// Probe sends real packets from spec.From to spec.To and reports whether they got an answer.
func Probe(ctx context.Context, spec ProbeSpec) ProbeResult {
	if spec.Timeout == 0 {
		spec.Timeout = 2 * time.Second
	}
	if spec.Payload == 0 {
		spec.Payload = 32
	}
	ctx, cancel := context.WithTimeout(ctx, spec.Timeout)
	defer cancel()
	start := time.Now()
	var err error
	switch spec.Protocol {
	case TCP, "":
		err = probeStream(ctx, spec)
	case UDP:
		err = probeUDP(ctx, spec)
	case ICMP:
		err = probeICMP(ctx, spec)
	default:
		err = fmt.Errorf("unknown protocol %q", spec.Protocol)
	}
	return ProbeResult{Reachable: err == nil, Err: err, Took: time.Since(start)}
}

func payload(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// exchange writes a random payload and expects it back.
func exchange(ctx context.Context, c net.Conn, n int) error {
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	want := payload(n)
	if _, err := c.Write(want); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("receive echo: %w", err)
	}
	if !bytes.Equal(got, want) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

func probeStream(ctx context.Context, spec ProbeSpec) error {
	c, err := dialIn(ctx, spec.From, "tcp", spec.To.String())
	if err != nil {
		return err
	}
	defer c.Close()
	if spec.Payload < 0 {
		return nil
	}
	return exchange(ctx, c, spec.Payload)
}

func probeUDP(ctx context.Context, spec ProbeSpec) error {
	c, err := dialIn(ctx, spec.From, "udp", spec.To.String())
	if err != nil {
		return err
	}
	defer c.Close()
	n := max(spec.Payload, 1)
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	want := payload(n)
	// UDP may lose a datagram on a healthy path (a neighbour still resolving drops all but one
	// queued packet), so resend a few times within the deadline as any UDP client would.
	buf := make([]byte, n+1)
	for attempt := 0; ; attempt++ {
		if _, err := c.Write(want); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		_ = c.SetReadDeadline(minTime(deadline, time.Now().Add(300*time.Millisecond)))
		got, err := c.Read(buf)
		if err == nil {
			if !bytes.Equal(buf[:got], want) {
				return errors.New("echo differs from what was sent")
			}
			return nil
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) || !time.Now().Before(deadline) {
			return fmt.Errorf("receive echo: %w", err)
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func probeICMP(ctx context.Context, spec ProbeSpec) error {
	var c *icmp.PacketConn
	err := netnsutil.DoNamed(spec.From, func() error {
		var err error
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	})
	if err != nil {
		return fmt.Errorf("open ICMP socket in %s: %w", spec.From, err)
	}
	defer c.Close()
	id := int(payload(2)[0])<<8 | os.Getpid()&0xff // 16 bits, random per probe
	data := payload(max(spec.Payload, 8))
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: 1, Data: data}}
	wire, err := msg.Marshal(nil)
	if err != nil {
		return fmt.Errorf("encode ICMP echo: %w", err)
	}
	dst := &net.IPAddr{IP: spec.To.Addr().AsSlice()}
	deadline, _ := ctx.Deadline()
	_ = c.SetDeadline(deadline)
	if _, err := c.WriteTo(wire, dst); err != nil {
		return fmt.Errorf("send ICMP echo: %w", err)
	}
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("receive ICMP echo reply: %w", err)
		}
		reply, err := icmp.ParseMessage(1, buf[:n])
		if err != nil {
			continue
		}
		switch body := reply.Body.(type) {
		case *icmp.Echo:
			if reply.Type == ipv4.ICMPTypeEchoReply && body.ID == id && bytes.Equal(body.Data, data) {
				return nil
			}
		case *icmp.DstUnreach:
			// The error quotes our IP header and the first 8 bytes of our echo: only an
			// error about this probe's echo decides it.
			if q := body.Data; len(q) >= 20 {
				ihl := int(q[0]&0x0f) * 4
				if len(q) >= ihl+8 && int(q[ihl+4])<<8|int(q[ihl+5]) == id {
					return fmt.Errorf("destination unreachable (code %d) from %s", reply.Code, from)
				}
			}
		}
	}
}
