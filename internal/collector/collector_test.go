package collector

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/netdiag/netdiag/internal/netnsutil"
	"github.com/netdiag/netdiag/internal/netstack"
)

var (
	mustAddr   = netip.MustParseAddr
	mustPrefix = netip.MustParsePrefix
)

// netipCmp lets cmp compare the net/netip types by value.
var netipCmp = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}, netip.AddrPort{})

func TestCollectNodeAndPod(t *testing.T) {
	n := makeNode(t)
	web := netstack.PodRef{Namespace: "default", Name: "web", IP: mustAddr(podIP)}
	gone := netstack.PodRef{Namespace: "default", Name: "gone", IP: mustAddr("10.231.99.99")}
	snap, err := Collect(t.Context(), Options{
		Node:      "n1",
		HostNetNS: n.path,
		Pods:      []netstack.PodRef{web, gone},
		NetNSDirs: []string{"/var/run/netns"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version != netstack.Version || snap.Node != "n1" || len(snap.Pods) != 2 {
		t.Fatalf("snapshot header: version %q node %q with %d pods", snap.Version, snap.Node, len(snap.Pods))
	}
	host, pod := snap.Host, snap.Pods[0]

	// The snapshot survives the JSON it travels as.
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back netstack.NodeSnapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*snap, back, netipCmp, cmpopts.IgnoreUnexported(netstack.Netstack{})); diff != "" {
		t.Errorf("JSON round trip (-collected +decoded):\n%s", diff)
	}

	t.Run("interfaces", func(t *testing.T) {
		want := []netstack.Interface{
			{Name: "lo", Kind: "loopback", MTU: 65536, Up: true, OperState: "unknown", Addresses: []netip.Prefix{mustPrefix("127.0.0.1/8")}},
			{Name: "eth0-peer", Kind: "veth", MTU: 1500, Up: true, OperState: "up", HardwareAddr: "02:00:00:00:00:fe", Veth: &netstack.VethAttrs{PeerNetNSID: -1}},
			{Name: "eth0", Kind: "veth", MTU: 1500, Up: true, OperState: "up", HardwareAddr: "02:00:00:00:00:02", Addresses: []netip.Prefix{mustPrefix(underlayIP + "/24")}, Veth: &netstack.VethAttrs{PeerNetNSID: -1}},
			{Name: "br0", Kind: "bridge", MTU: 1500, Up: true, OperState: "down", HardwareAddr: "02:00:00:00:0b:01", Addresses: []netip.Prefix{mustPrefix(bridgeIP + "/24")}, Bridge: &netstack.BridgeAttrs{}},
			{Name: "vbr-b", Kind: "veth", MTU: 1500, OperState: "down", HardwareAddr: "02:00:00:00:0b:0b", Veth: &netstack.VethAttrs{PeerNetNSID: -1}},
			{Name: "vbr-a", Kind: "veth", MTU: 1500, OperState: "down", HardwareAddr: "02:00:00:00:0b:0a", Master: "br0", Hairpin: new(false), Veth: &netstack.VethAttrs{PeerNetNSID: -1}},
			{Name: "vxlan0", Kind: "vxlan", MTU: 1450, Up: true, OperState: "unknown", HardwareAddr: "02:00:00:00:42:00", Addresses: []netip.Prefix{mustPrefix(vtepIP + "/32")},
				VXLAN: &netstack.VXLANAttrs{VNI: 42, Port: 4789, Local: mustAddr(underlayIP), Device: "eth0"}},
			// The pod's end is in another namespace: its id as the node sees it is the first one given out.
			{Name: "veth-pod", Kind: "veth", MTU: 1500, Up: true, OperState: "up", HardwareAddr: "02:00:00:00:09:01", Veth: &netstack.VethAttrs{PeerNetNSID: 0}},
		}
		ignore := cmp.Options{netipCmp, cmpopts.IgnoreFields(netstack.Interface{}, "Index"), cmpopts.IgnoreFields(netstack.VethAttrs{}, "PeerIndex")}
		if diff := cmp.Diff(want, host.Interfaces, ignore); diff != "" {
			t.Errorf("node interfaces (-want +got):\n%s", diff)
		}
		wantPod := []netstack.Interface{
			{Name: "lo", Kind: "loopback", MTU: 65536, Up: true, OperState: "unknown", Addresses: []netip.Prefix{mustPrefix("127.0.0.1/8")}},
			{Name: "eth0", Kind: "veth", MTU: 1500, Up: true, OperState: "up", HardwareAddr: "02:00:00:00:09:05", Addresses: []netip.Prefix{mustPrefix(podIP + "/32")}, Veth: &netstack.VethAttrs{PeerNetNSID: 0}},
		}
		if diff := cmp.Diff(wantPod, pod.Interfaces, ignore); diff != "" {
			t.Errorf("pod interfaces (-want +got):\n%s", diff)
		}
		// Each veth names its peer's index, which is how the engine joins pod and node.
		byName := func(list []netstack.Interface, name string) netstack.Interface {
			for _, i := range list {
				if i.Name == name {
					return i
				}
			}
			t.Fatalf("no interface %s", name)
			return netstack.Interface{}
		}
		hostVeth, podEth := byName(host.Interfaces, "veth-pod"), byName(pod.Interfaces, "eth0")
		if hostVeth.Veth.PeerIndex != podEth.Index || podEth.Veth.PeerIndex != hostVeth.Index {
			t.Errorf("veth peers: node veth-pod (index %d) names peer %d, pod eth0 (index %d) names peer %d",
				hostVeth.Index, hostVeth.Veth.PeerIndex, podEth.Index, podEth.Veth.PeerIndex)
		}
		if a, b := byName(host.Interfaces, "eth0"), byName(host.Interfaces, "eth0-peer"); a.Veth.PeerIndex != b.Index {
			t.Errorf("eth0 names peer %d, eth0-peer is %d", a.Veth.PeerIndex, b.Index)
		}
	})

	t.Run("routes", func(t *testing.T) {
		want := []netstack.Route{
			{Table: 100, Type: "unicast", Dst: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("192.168.231.1"), Device: "eth0", Scope: "global", Metric: 10, Protocol: "boot"},
			{Table: 100, Type: "prohibit", Dst: mustPrefix("10.231.68.0/24"), Scope: "global", Protocol: "boot"},
			{Table: 200, Type: "throw", Dst: mustPrefix("10.231.0.0/16"), Scope: "global", Protocol: "boot"},
			{Table: 200, Type: "unicast", Dst: mustPrefix("10.231.70.0/24"), Scope: "global", Protocol: "boot", NextHops: []netstack.NextHop{
				{Gateway: mustAddr("192.168.231.3"), Device: "eth0", Weight: 1},
				{Gateway: mustAddr("192.168.231.4"), Device: "eth0", Weight: 2},
			}},
			{Table: 200, Type: "unicast", Dst: mustPrefix("10.231.71.0/24"), Gateway: mustAddr("192.168.231.5"), Device: "eth0", Src: mustAddr(underlayIP), Scope: "global", Protocol: "static", MTU: 1400},
			{Table: 254, Type: "unicast", Dst: mustPrefix("0.0.0.0/0"), Gateway: mustAddr("192.168.231.1"), Device: "eth0", Scope: "global", Protocol: "boot"},
			// br0's only port is down: the kernel marks the route linkdown.
			{Table: 254, Type: "unicast", Dst: mustPrefix("10.231.1.0/24"), Device: "br0", Src: mustAddr(bridgeIP), Scope: "link", Protocol: "kernel", Flags: []string{"linkdown"}},
			{Table: 254, Type: "unicast", Dst: mustPrefix("10.231.3.0/24"), Gateway: mustAddr("10.231.2.3"), Device: "vxlan0", Scope: "global", Protocol: "boot", OnLink: true, Flags: []string{"onlink"}},
			{Table: 254, Type: "unicast", Dst: mustPrefix(podIP + "/32"), Device: "veth-pod", Scope: "link", Protocol: "boot"},
			{Table: 254, Type: "blackhole", Dst: mustPrefix("10.231.66.0/24"), Scope: "global", Protocol: "boot"},
			{Table: 254, Type: "unreachable", Dst: mustPrefix("10.231.67.0/24"), Scope: "global", Protocol: "boot"},
			{Table: 254, Type: "unicast", Dst: mustPrefix("192.168.231.0/24"), Device: "eth0", Src: mustAddr(underlayIP), Scope: "link", Protocol: "kernel"},
			{Table: 255, Type: "local", Dst: mustPrefix(bridgeIP + "/32"), Device: "br0", Src: mustAddr(bridgeIP), Scope: "host", Protocol: "kernel"},
			{Table: 255, Type: "broadcast", Dst: mustPrefix("10.231.1.255/32"), Device: "br0", Src: mustAddr(bridgeIP), Scope: "link", Protocol: "kernel", Flags: []string{"linkdown"}},
			{Table: 255, Type: "local", Dst: mustPrefix(vtepIP + "/32"), Device: "vxlan0", Src: mustAddr(vtepIP), Scope: "host", Protocol: "kernel"},
			{Table: 255, Type: "local", Dst: mustPrefix("127.0.0.0/8"), Device: "lo", Src: mustAddr("127.0.0.1"), Scope: "host", Protocol: "kernel"},
			{Table: 255, Type: "local", Dst: mustPrefix("127.0.0.1/32"), Device: "lo", Src: mustAddr("127.0.0.1"), Scope: "host", Protocol: "kernel"},
			{Table: 255, Type: "broadcast", Dst: mustPrefix("127.255.255.255/32"), Device: "lo", Src: mustAddr("127.0.0.1"), Scope: "link", Protocol: "kernel"},
			{Table: 255, Type: "local", Dst: mustPrefix(underlayIP + "/32"), Device: "eth0", Src: mustAddr(underlayIP), Scope: "host", Protocol: "kernel"},
			{Table: 255, Type: "broadcast", Dst: mustPrefix("192.168.231.255/32"), Device: "eth0", Src: mustAddr(underlayIP), Scope: "link", Protocol: "kernel"},
		}
		if diff := cmp.Diff(want, host.Routes, netipCmp); diff != "" {
			t.Errorf("node routes (-want +got):\n%s", diff)
		}
	})

	t.Run("rules", func(t *testing.T) {
		want := []netstack.Rule{
			{Family: "inet", Priority: 0, Action: "lookup", Table: 255},
			{Family: "inet", Priority: 100, Src: mustPrefix("10.231.9.0/24"), Action: "lookup", Table: 100},
			{Family: "inet", Priority: 200, Mark: 0x10, Mask: 0xff, Action: "lookup", Table: 200},
			{Family: "inet", Priority: 300, Dst: mustPrefix("10.231.80.0/24"), Action: "prohibit"},
			{Family: "inet", Priority: 400, IPProto: 6, DPortStart: 80, DPortEnd: 90, Action: "lookup", Table: 200},
			{Family: "inet", Priority: 500, Invert: true, Src: mustPrefix("10.231.0.0/16"), IIF: "eth0", Action: "goto", Goto: 32766},
			{Family: "inet", Priority: 32766, Action: "lookup", Table: 254},
			{Family: "inet", Priority: 32767, Action: "lookup", Table: 253},
			{Family: "inet6", Priority: 0, Action: "lookup", Table: 255},
			{Family: "inet6", Priority: 32766, Action: "lookup", Table: 254},
		}
		if diff := cmp.Diff(want, host.Rules, netipCmp); diff != "" {
			t.Errorf("node rules (-want +got):\n%s", diff)
		}
	})

	t.Run("neighbours and fdb", func(t *testing.T) {
		permanent := func(list []netstack.Neighbour) (out []netstack.Neighbour) {
			for _, n := range list {
				if n.State == "PERMANENT" {
					out = append(out, n)
				}
			}
			return out
		}
		want := []netstack.Neighbour{
			{Device: "vxlan0", IP: mustAddr("10.231.2.3"), HardwareAddr: "02:00:00:00:42:03", State: "PERMANENT"},
			{Device: "eth0", IP: mustAddr("192.168.231.9"), HardwareAddr: "02:00:00:00:00:09", State: "PERMANENT"},
		}
		if diff := cmp.Diff(want, permanent(host.Neighbours), netipCmp, cmpopts.SortSlices(func(a, b netstack.Neighbour) bool { return a.IP.Less(b.IP) })); diff != "" {
			t.Errorf("node neighbours (-want +got):\n%s", diff)
		}
		wantPod := []netstack.Neighbour{{Device: "eth0", IP: mustAddr("169.254.1.1"), HardwareAddr: "02:00:00:00:09:01", State: "PERMANENT"}}
		if diff := cmp.Diff(wantPod, permanent(pod.Neighbours), netipCmp); diff != "" {
			t.Errorf("pod neighbours (-want +got):\n%s", diff)
		}
		// Multicast entries every port gets are left to the kernel; the unicast ones are ours.
		var fdb []netstack.FDBEntry
		for _, e := range host.FDB {
			if !strings.HasPrefix(e.HardwareAddr, "33:33:") && !strings.HasPrefix(e.HardwareAddr, "01:00:5e:") {
				fdb = append(fdb, e)
			}
		}
		wantFDB := []netstack.FDBEntry{
			{Device: "br0", HardwareAddr: "02:00:00:00:0b:01", Master: "br0", State: "permanent"},
			{Device: "vbr-a", HardwareAddr: "02:00:00:00:0b:0a", Master: "br0", State: "permanent"},
			{Device: "vxlan0", HardwareAddr: "02:00:00:00:42:03", Dst: mustAddr("192.168.231.3"), State: "permanent"},
			{Device: "vxlan0", HardwareAddr: "00:00:00:00:00:00", Dst: mustAddr("192.168.231.3"), State: "permanent"},
		}
		if diff := cmp.Diff(wantFDB, fdb, netipCmp, cmpopts.SortSlices(func(a, b netstack.FDBEntry) bool { return a.Device+a.HardwareAddr < b.Device+b.HardwareAddr })); diff != "" {
			t.Errorf("node fdb (-want +got):\n%s", diff)
		}
	})

	t.Run("sysctls", func(t *testing.T) {
		want := map[string]string{
			"ipv4/ip_forward":                  "1",
			"ipv4/conf/veth-pod/proxy_arp":     "1",
			"ipv4/conf/eth0/proxy_arp":         "0",
			"ipv4/conf/all/rp_filter":          "2",
			"ipv4/conf/eth0/route_localnet":    "1",
			"ipv4/conf/eth0/arp_ignore":        "1",
			"ipv4/conf/all/arp_ignore":         "0",
			"ipv4/conf/vxlan0/forwarding":      "1",
			"ipv6/conf/all/disable_ipv6":       "1",
			"ipv4/conf/default/accept_local":   "0",
			"ipv4/ip_local_port_range":         "32768 60999",
			"ipv4/conf/br0/rp_filter":          "0",
			"ipv4/conf/lo/route_localnet":      "0",
			"ipv4/conf/veth-pod/accept_local":  "0",
			"ipv4/conf/vbr-a/forwarding":       "1",
			"ipv4/conf/eth0-peer/rp_filter":    "0",
			"ipv4/conf/default/route_localnet": "0",
			"ipv4/conf/all/forwarding":         "1",
			"ipv4/conf/default/forwarding":     "1",
			"ipv4/conf/default/rp_filter":      "0",
			"ipv4/conf/all/proxy_arp":          "0",
			"ipv4/conf/default/proxy_arp":      "0",
			"ipv4/conf/all/accept_local":       "0",
			"ipv4/conf/all/route_localnet":     "0",
		}
		got := map[string]string{}
		for k := range want {
			got[k] = host.Sysctls[k]
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("node sysctls (-want +got):\n%s", diff)
		}
		// Read in the pod's namespace, not the collector's: forwarding is off there (the
		// kernel's default, which newNetNS sets whatever the root namespace has).
		if v := pod.Sysctls["ipv4/ip_forward"]; v != "0" {
			t.Errorf("pod ipv4/ip_forward = %q, want 0", v)
		}
	})

	t.Run("rulesets", func(t *testing.T) {
		if host.IPTablesBackend != BackendNFT {
			t.Errorf("iptables backend %q, want nft", host.IPTablesBackend)
		}
		if rule := "[0:0] -A FORWARD -s 10.231.9.5/32 -p tcp -m tcp --dport 5432 -j DROP\n"; !strings.Contains(host.IPTables, rule) {
			t.Errorf("iptables lacks %q:\n%s", rule, host.IPTables)
		}
		// The controller's cache finds a node's parsed rules by these digests.
		if d := host.Digests; d == nil || d.IPTables != netstack.Digest(host.IPTables) || d.NFTables != netstack.Digest(host.NFTables) {
			t.Errorf("digests %+v do not name the rules collected", d)
		}
		var nft struct {
			NFTables []map[string]json.RawMessage `json:"nftables"`
		}
		if err := json.Unmarshal([]byte(host.NFTables), &nft); err != nil {
			t.Fatalf("nftables is not nft JSON: %v", err)
		}
		var kinds []string
		for _, item := range nft.NFTables {
			for k, v := range item {
				var obj struct{ Family, Table, Name string }
				_ = json.Unmarshal(v, &obj)
				kinds = append(kinds, k+" "+obj.Family+" "+obj.Table+" "+obj.Name)
			}
		}
		// The iptables-nft table "ip filter" is in the iptables part, not here.
		wantKinds := []string{"metainfo   ", "table inet  ndtest", "chain inet ndtest input", "rule inet ndtest "}
		if diff := cmp.Diff(wantKinds, kinds); diff != "" {
			t.Errorf("nftables objects (-want +got):\n%s\n%s", diff, host.NFTables)
		}
		if !strings.Contains(host.NFTables, `"right":22`) || !strings.Contains(host.NFTables, `"drop"`) {
			t.Errorf("nftables lacks the drop of port 22: %s", host.NFTables)
		}
		if want := "add ndtest 10.231.9.5\n"; !strings.Contains(host.IPSets, want) {
			t.Errorf("ipsets lack %q:\n%s", want, host.IPSets)
		}
		if pod.IPTables != "" && strings.Contains(pod.IPTables, "-A ") {
			t.Errorf("pod has iptables rules it never had:\n%s", pod.IPTables)
		}
	})

	t.Run("listening", func(t *testing.T) {
		want := []netstack.Socket{
			{Protocol: "TCP", Address: netip.MustParseAddrPort(bridgeIP + ":8080")},
			// The vxlan device's own socket.
			{Protocol: "UDP", Address: netip.MustParseAddrPort("0.0.0.0:4789")},
			{Protocol: "UDP", Address: netip.MustParseAddrPort("0.0.0.0:5353")},
		}
		if diff := cmp.Diff(want, host.Listening, netipCmp); diff != "" {
			t.Errorf("node listening sockets (-want +got):\n%s", diff)
		}
		wantPod := []netstack.Socket{{Protocol: "TCP", Address: netip.MustParseAddrPort("0.0.0.0:80")}}
		if diff := cmp.Diff(wantPod, pod.Listening, netipCmp); diff != "" {
			t.Errorf("pod listening sockets (-want +got):\n%s", diff)
		}
	})

	t.Run("pods and errors", func(t *testing.T) {
		if diff := cmp.Diff(&web, pod.Pod, netipCmp); diff != "" {
			t.Errorf("pod ref (-want +got):\n%s", diff)
		}
		if pod.NetNS != n.podPath {
			t.Errorf("pod found in %s, want %s", pod.NetNS, n.podPath)
		}
		// Every part was read. A kernel without ip_vs (this one) has no virtual services:
		// an empty ipvs part, not an error that would make every check that reads it
		// untrusted.
		partsOf := func(errs []netstack.PartError) (out []string) {
			for _, e := range errs {
				out = append(out, e.Part)
			}
			return out
		}
		if diff := cmp.Diff([]string(nil), partsOf(host.Errors)); diff != "" {
			t.Errorf("node part errors (-want +got):\n%s\n%v", diff, host.Errors)
		}
		if diff := cmp.Diff([]string(nil), partsOf(pod.Errors)); diff != "" {
			t.Errorf("pod part errors (-want +got):\n%s\n%v", diff, pod.Errors)
		}
		missing := snap.Pods[1]
		if diff := cmp.Diff(&gone, missing.Pod, netipCmp); diff != "" {
			t.Errorf("missing pod ref (-want +got):\n%s", diff)
		}
		if len(missing.Errors) != 1 || missing.Errors[0].Part != PartNetNS || !strings.Contains(missing.Errors[0].Error, "10.231.99.99") || len(missing.Interfaces) != 0 {
			t.Errorf("missing pod: want one netns error naming its IP and no state, got %+v", missing)
		}
	})
}

func TestCollectRecordsPartErrors(t *testing.T) {
	requireRoot(t)
	tests := map[string]struct {
		path      string
		emptyPATH bool
		wantParts []string
		wantLinks bool
	}{
		"namespace gone": {
			path:      "/var/run/netns/" + nsPrefix + "never-made",
			wantParts: []string{PartNetNS},
		},
		"no tools in PATH": {
			emptyPATH: true,
			wantParts: []string{PartIPTables, PartNFTables, PartIPSets},
			wantLinks: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				_, path = newNetNS(t, "bare")
			}
			if tc.emptyPATH {
				t.Setenv("PATH", t.TempDir())
			}
			ns := CollectNetstack(t.Context(), path, "/proc")
			var parts []string
			for _, e := range ns.Errors {
				parts = append(parts, e.Part)
			}
			if diff := cmp.Diff(tc.wantParts, parts); diff != "" {
				t.Errorf("part errors (-want +got):\n%s\n%v", diff, ns.Errors)
			}
			if got := len(ns.Interfaces) > 0; got != tc.wantLinks {
				t.Errorf("links read: %v, want %v", got, tc.wantLinks)
			}
		})
	}
}

// Several nodes on one machine (the lab) share /var/run/netns, and pod addresses repeat
// between clusters: the pod's namespace is the one wired to the node by a veth.
func TestFindPodNetNSPrefersTheNodesOwn(t *testing.T) {
	requireRoot(t)
	// Created first and named to sort first, so that a search by address alone finds it
	// before the pod's own.
	other := fmt.Sprintf("%s%d-0-other", nsPrefix, os.Getpid())
	sh(t, "ip", "netns", "add", other)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", other).Run() })
	ipn(t, other, "addr add "+podIP+"/32 dev lo")
	n := makeNode(t)
	web := netstack.PodRef{Namespace: "default", Name: "web", IP: mustAddr(podIP)}
	var found map[netip.Addr]*PodNetNS
	err := netnsutil.Do(n.path, func() error {
		var err error
		found, err = FindPodNetNS(t.Context(), []netstack.PodRef{web}, []string{"/var/run/netns"}, "")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f := found[web.IP]
	if f == nil {
		t.Fatalf("pod %s not found", podIP)
	}
	if f.Path != n.podPath || len(f.Also) != 0 {
		t.Errorf("found in %s (also %v), want %s alone", f.Path, f.Also, n.podPath)
	}
}

func TestFindPodNetNSThroughProc(t *testing.T) {
	n := makeNode(t)
	// A process in the pod's namespace, and no netns directory to search: /proc finds it.
	cmd := exec.Command("ip", "netns", "exec", n.podName, "sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	web := netstack.PodRef{Namespace: "default", Name: "web", IP: mustAddr(podIP)}
	var found map[netip.Addr]*PodNetNS
	var err error
	// `ip netns exec` enters the namespace before exec'ing sleep; wait until it has.
	for range 50 {
		found, err = FindPodNetNS(t.Context(), []netstack.PodRef{web}, nil, "/proc")
		if found[web.IP] != nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	f := found[web.IP]
	if f == nil {
		t.Fatalf("pod %s not found through /proc", podIP)
	}
	if !strings.HasPrefix(f.Path, "/proc/") || !strings.HasSuffix(f.Path, "/ns/net") {
		t.Errorf("found in %s, want a /proc/<pid>/ns/net path", f.Path)
	}
	want, _ := statNetNS(n.podPath)
	if got, _ := statNetNS(f.Path); got != want {
		t.Errorf("%s is not the pod's namespace %s", f.Path, n.podPath)
	}
}
