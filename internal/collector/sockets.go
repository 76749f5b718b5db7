package collector

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack"
)

// Socket states in /proc/net/{tcp,udp}: TCP_LISTEN for a listening TCP socket, TCP_CLOSE
// for an unconnected (bound) UDP socket, which is the one that receives new datagrams.
const (
	stateListen = 0x0A
	stateClose  = 0x07
)

// readListening reads the listening TCP and bound UDP sockets of the calling thread's
// namespace from procRoot/thread-self/net: /proc/net points at the process's main thread,
// which stays in the collector's own namespace.
func readListening(procRoot string) ([]netstack.Socket, error) {
	var (
		out  []netstack.Socket
		errs []error
	)
	for _, f := range []struct{ file, proto string }{{"tcp", "TCP"}, {"tcp6", "TCP"}, {"udp", "UDP"}, {"udp6", "UDP"}} {
		b, err := os.ReadFile(filepath.Join(procRoot, "thread-self", "net", f.file))
		if err != nil {
			// tcp6 and udp6 are missing when IPv6 is disabled.
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("read %s: %w", f.file, err))
			}
			continue
		}
		socks, err := ParseProcNet(b, f.proto)
		if err != nil {
			errs = append(errs, fmt.Errorf("parse %s: %w", f.file, err))
		}
		out = append(out, socks...)
	}
	slices.SortFunc(out, compareSocket)
	return slices.Compact(out), errors.Join(errs...)
}

func compareSocket(a, b netstack.Socket) int {
	return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), a.Address.Compare(b.Address))
}

// ParseProcNet parses a /proc/net/{tcp,tcp6,udp,udp6} table and returns the sockets that
// accept new peers: LISTEN for TCP, unconnected for UDP. proto is "TCP" or "UDP".
func ParseProcNet(data []byte, proto string) ([]netstack.Socket, error) {
	want := uint64(stateListen)
	if proto == "UDP" {
		want = stateClose
	}
	var out []netstack.Socket
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 1024), 1<<20)
	first := true
	for sc.Scan() {
		if first {
			// The header line: "  sl  local_address rem_address   st ...".
			first = false
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue
		}
		st, err := strconv.ParseUint(fields[3], 16, 8)
		if err != nil {
			return out, fmt.Errorf("socket state %q: %w", fields[3], err)
		}
		if st != want {
			continue
		}
		ap, err := parseHexAddrPort(fields[1])
		if err != nil {
			return out, err
		}
		out = append(out, netstack.Socket{Protocol: proto, Address: ap})
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read socket table: %w", err)
	}
	return out, nil
}

// parseHexAddrPort parses "0100007F:1F90": the address as the kernel's 32-bit words in host
// (little-endian) order, the port big-endian hex.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("socket address %q has no port", s)
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("socket port %q: %w", port, err)
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("socket address %q is not 8 or 32 hex digits", host)
	}
	// Each 32-bit word was printed as a number in host order; turn it back into bytes.
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(raw[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr, uint16(p)), nil
}
