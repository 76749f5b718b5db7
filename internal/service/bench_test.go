package service

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/kubeproxytest"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// synthetic builds a cluster of n services with three endpoints each and the iptables rules
// kube-proxy writes for them, in kube-proxy's own format and chain names (11 nat rules per
// service: 10,000 services make about 110,000 rules).
func synthetic(n int) (*cluster.Snapshot, *netstack.Netstack) {
	snap := &cluster.Snapshot{}
	var nat strings.Builder
	var chains, rules strings.Builder
	nat.WriteString("*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-NODEPORTS - [0:0]\n")
	rules.WriteString("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	rules.WriteString("-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n")
	rules.WriteString("-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n")
	var svcRules strings.Builder
	for i := range n {
		name := fmt.Sprintf("svc-%d", i)
		ip := fmt.Sprintf("10.%d.%d.%d", 96+i/65536, (i/256)%256, i%256)
		svc := kubeproxytest.NewService(name, ip, corev1.ServiceSpec{Ports: []corev1.ServicePort{kubeproxytest.TCP("", 80, intstr.FromInt32(8080))}})
		snap.Services = append(snap.Services, svc)
		es := *kubeproxytest.Slice(&svc, []discoveryv1.EndpointPort{kubeproxytest.SlicePort("", corev1.ProtocolTCP, 8080)}, nil)
		p := &snap.Services[len(snap.Services)-1].Spec.Ports[0]
		svcChain := ServiceChains(&svc, p)[0]
		chains.WriteString(":" + svcChain + " - [0:0]\n")
		fmt.Fprintf(&svcRules, "-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"shop/%s cluster IP\" -m tcp --dport 80 -j %s\n", ip, name, svcChain)
		fmt.Fprintf(&rules, "-A %s ! -s 10.244.0.0/16 -d %s/32 -p tcp -m comment --comment \"shop/%s cluster IP\" -m tcp --dport 80 -j KUBE-MARK-MASQ\n", svcChain, ip, name)
		for j := range 3 {
			ep := netip.MustParseAddrPort(fmt.Sprintf("10.244.%d.%d:8080", (i*3+j)/250%250, (i*3+j)%250+1))
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ep.Addr().String()}, NodeName: ptr.To("node-b")})
			sep := EndpointChain(&svc, p, ep)
			chains.WriteString(":" + sep + " - [0:0]\n")
			stat := ""
			if j < 2 {
				stat = fmt.Sprintf(" -m statistic --mode random --probability %.11f", 1/float64(3-j))
			}
			fmt.Fprintf(&rules, "-A %s -m comment --comment \"shop/%s -> %s\"%s -j %s\n", svcChain, name, ep, stat, sep)
			fmt.Fprintf(&rules, "-A %s -s %s/32 -m comment --comment \"shop/%s\" -j KUBE-MARK-MASQ\n", sep, ep.Addr(), name)
			fmt.Fprintf(&rules, "-A %s -p tcp -m comment --comment \"shop/%s\" -m tcp -j DNAT --to-destination %s\n", sep, name, ep)
		}
		snap.EndpointSlices = append(snap.EndpointSlices, es)
	}
	text := nat.String() + chains.String() + rules.String() + svcRules.String() +
		"-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS\nCOMMIT\n" +
		"*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"
	return snap, &netstack.Netstack{IPTables: text, Interfaces: []netstack.Interface{
		{Name: "eth0", Addresses: []netip.Prefix{netip.MustParsePrefix("172.18.0.2/24")}}}}
}

const benchServices = 10000

// BenchmarkProcess is one packet to the last service of 10,000 (the longest KUBE-SERVICES
// scan), with the node's rules already parsed, as for every packet after the first.
func BenchmarkProcess(b *testing.B) {
	snap, stack := synthetic(benchServices)
	p := New()
	dst := netip.MustParseAddr(snap.Services[benchServices-1].Spec.ClusterIP)
	a := Arrival{Node: "node-a", Stack: stack, Origin: FromPod,
		Packet: model.Packet{Protocol: model.TCP, Src: netip.MustParseAddr("10.244.200.1"), Dst: dst, SrcPort: 40000, DstPort: 80}}
	res, err := p.Process(snap, a)
	if err != nil || len(res.Branches) != 3 || len(res.AllSuspicions()) != 0 {
		b.Fatalf("synthetic cluster: %v, %+v", err, res)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Process(snap, a); err != nil {
			b.Fatal(err)
		}
	}
}
