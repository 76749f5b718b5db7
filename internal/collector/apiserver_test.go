package collector

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// A collector told two API server endpoints reaches the live one when the first is dead,
// whatever address its client asked for.
func TestDialAPIServerTriesEachEndpoint(t *testing.T) {
	live, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := live.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	// A port that was just free and is closed again refuses at once.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()

	eps, err := ParseAPIServerEndpoints([]string{deadAddr, live.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	dial := DialAPIServer(eps, time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The address asked for is the Service's; it must not be dialled.
	conn, err := dial(ctx, "tcp", "192.0.2.1:443")
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if got, want := conn.RemoteAddr().String(), live.Addr().String(); got != want {
		t.Errorf("connected to %s, want the live endpoint %s", got, want)
	}
	select {
	case <-accepted:
	case <-ctx.Done():
		t.Fatal("the live endpoint saw no connection")
	}
}

// When every endpoint is dead the error names each one, so the collector's log says
// which addresses it tried.
func TestDialAPIServerNamesEveryEndpointWhenAllFail(t *testing.T) {
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, l.Addr().String())
		l.Close()
	}
	eps, err := ParseAPIServerEndpoints(addrs)
	if err != nil {
		t.Fatal(err)
	}
	_, err = DialAPIServer(eps, time.Second)(context.Background(), "tcp", "192.0.2.1:443")
	if err == nil {
		t.Fatal("dial succeeded with every endpoint closed")
	}
	for _, a := range addrs {
		if !strings.Contains(err.Error(), a) {
			t.Errorf("error %q does not name endpoint %s", err, a)
		}
	}
}

func TestParseAPIServerEndpoints(t *testing.T) {
	got, err := ParseAPIServerEndpoints([]string{"10.0.0.10:6443", "[fd00::10]:6443"})
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.10:6443"), netip.MustParseAddrPort("[fd00::10]:6443")}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"10.0.0.10", "kubernetes:443", "10.0.0.10:http"} {
		if _, err := ParseAPIServerEndpoints([]string{bad}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%q: error %v, want one naming the value", bad, err)
		}
	}
}
