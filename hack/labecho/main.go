// Command labecho is the lab's workload on real nodes: it echoes every TCP connection and UDP
// datagram on the ports it is given ("8080/tcp 5353/udp"), as the stand-in kubelet's echo
// servers do, so a probe can tell an answer from a connection that merely opened.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: labecho PORT/PROTO...")
		os.Exit(2)
	}
	for _, arg := range os.Args[1:] {
		port, proto, _ := strings.Cut(arg, "/")
		addr := net.JoinHostPort("0.0.0.0", port)
		var err error
		switch strings.ToLower(proto) {
		case "udp":
			err = serveUDP(addr)
		default:
			err = serveTCP(addr)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("echo on %s/%s\n", port, proto)
	}
	select {}
}

func serveTCP(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on tcp %s: %w", addr, err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				// A bound lifetime, so a half-open probe cannot hold a connection forever.
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return nil
}

func serveUDP(addr string) error {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen on udp %s: %w", addr, err)
	}
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = c.WriteTo(buf[:n], from)
		}
	}()
	return nil
}
