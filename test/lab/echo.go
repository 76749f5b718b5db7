package lab

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"time"
)

// serveEcho serves TCP and UDP echo on addr inside ns.
func serveEcho(ns string, addr netip.AddrPort) ([]io.Closer, error) {
	tl, err := serveTCPEcho(ns, addr)
	if err != nil {
		return nil, err
	}
	ul, err := serveUDPEcho(ns, addr)
	if err != nil {
		tl.Close()
		return nil, err
	}
	return []io.Closer{tl, ul}, nil
}

// serveTCPEcho echoes every TCP connection on addr inside ns: what every container port in
// the lab answers with, so a probe can tell an answer from a connection that merely opened.
func serveTCPEcho(ns string, addr netip.AddrPort) (io.Closer, error) {
	tl, err := listenIn(ns, "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// A bound lifetime, so a half-open probe cannot hold a goroutine forever.
				_ = c.SetDeadline(time.Now().Add(time.Minute))
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return tl, nil
}

// serveUDPEcho echoes every datagram on addr inside ns back to its sender.
func serveUDPEcho(ns string, addr netip.AddrPort) (io.Closer, error) {
	ul, err := listenPacketIn(ns, "udp", addr.String())
	if err != nil {
		return nil, err
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := ul.ReadFrom(buf)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			_, _ = ul.WriteTo(buf[:n], from)
		}
	}()
	return ul, nil
}
