package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// DefaultAPIServerDialTimeout bounds one connection attempt to one API server endpoint,
// so that a dead endpoint costs seconds before the next one is tried.
const DefaultAPIServerDialTimeout = 5 * time.Second

// ParseAPIServerEndpoints reads the --api-server values: addresses with their port, as
// the kubernetes EndpointSlice lists them ("10.0.0.10:6443", "[fd00::10]:6443").
func ParseAPIServerEndpoints(values []string) ([]netip.AddrPort, error) {
	eps := make([]netip.AddrPort, 0, len(values))
	for _, v := range values {
		ap, err := netip.ParseAddrPort(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("API server endpoint %q: want <address>:<port>: %w", v, err)
		}
		eps = append(eps, ap)
	}
	return eps, nil
}

// DialAPIServer returns a dial function for a rest.Config that connects to the API server at
// endpoints, in turn, whatever address the client asks for. The client keeps its URL, so TLS
// still checks the certificate against the name it was configured with (the kubernetes
// Service's address, which every API server's certificate carries), while the packets go
// straight to an API server: the way home does not cross this node's kube-proxy rules, which
// may be the very thing being diagnosed.
func DialAPIServer(endpoints []netip.AddrPort, timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	eps := append([]netip.AddrPort(nil), endpoints...)
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		var errs []error
		for _, ep := range eps {
			conn, err := d.DialContext(ctx, network, ep.String())
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
		if len(errs) == 0 {
			return nil, errors.New("no API server endpoint to dial")
		}
		return nil, fmt.Errorf("dial the API server at its endpoints: %w", errors.Join(errs...))
	}
}
