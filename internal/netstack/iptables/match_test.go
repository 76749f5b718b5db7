package iptables

import (
	"net/netip"
	"testing"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/ipset"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// tcpPkt is the first packet of a TCP connection.
func tcpPkt(src string, sport uint16, dst string, dport uint16) nf.Packet {
	return nf.Packet{Src: addr(src), Dst: addr(dst), Proto: nf.ProtoTCP, SrcPort: sport, DstPort: dport, TCPFlags: nf.TCPSyn}
}

func udpPkt(src string, sport uint16, dst string, dport uint16) nf.Packet {
	return nf.Packet{Src: addr(src), Dst: addr(dst), Proto: nf.ProtoUDP, SrcPort: sport, DstPort: dport}
}

func with(p nf.Packet, f func(*nf.Packet)) nf.Packet { f(&p); return p }

func testEnv(t *testing.T) *Env {
	t.Helper()
	sets, err := ipset.Parse(`create KUBE-LB hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-LB 203.0.113.10,tcp:80
create PODS hash:net family inet hashsize 1024 maxelem 65536
add PODS 10.244.0.0/16
add PODS 10.244.9.0/24 nomatch
create PORTS bitmap:port range 0-65535
add PORTS 30080
create ALL list:set size 8
add ALL PODS
`)
	if err != nil {
		t.Fatal(err)
	}
	return &Env{
		Local:         map[netip.Addr]bool{addr("172.18.0.2"): true, addr("10.244.1.1"): true},
		LocalPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Broadcast:     map[netip.Addr]bool{addr("172.18.0.255"): true},
		Addrs: map[string][]netip.Prefix{
			"eth0": {netip.MustParsePrefix("172.18.0.2/24")},
			"cni0": {netip.MustParsePrefix("10.244.1.1/24")},
		},
		Sets: sets,
		// web (10.244.1.11) connected to the endpoint of KUBE-SEP-B 90 seconds ago.
		Recent: recentLists([]netstack.RecentEntry{{List: "KUBE-SEP-B", Addr: addr("10.244.1.11"), SeenSecondsAgo: 90}}),
	}
}

func TestMatches(t *testing.T) {
	web := tcpPkt("10.244.1.11", 40000, "10.96.0.10", 80)
	cases := map[string]struct {
		rule string
		pkt  nf.Packet
		want Result
	}{
		"source prefix":                {"-s 10.244.0.0/16", web, Hit},
		"source prefix misses":         {"-s 10.245.0.0/16", web, Miss},
		"negated source":               {"! -s 10.244.0.0/16", web, Miss},
		"destination host":             {"-d 10.96.0.10/32", web, Hit},
		"dotted mask":                  {"-d 10.96.0.0/255.255.0.0", web, Hit},
		"input wildcard":               {"-i cni+", with(web, func(p *nf.Packet) { p.In = "cni0" }), Hit},
		"input wildcard misses":        {"-i flannel+", with(web, func(p *nf.Packet) { p.In = "cni0" }), Miss},
		"negated output":               {"! -o eth0", with(web, func(p *nf.Packet) { p.Out = "eth0" }), Miss},
		"protocol":                     {"-p tcp", web, Hit},
		"protocol by number":           {"-p 6", web, Hit},
		"protocol misses":              {"-p udp", web, Miss},
		"negated protocol":             {"! -p udp", web, Hit},
		"fragment misses first":        {"-f", web, Miss},
		"dport":                        {"-p tcp -m tcp --dport 80", web, Hit},
		"dport range":                  {"-p tcp -m tcp --dport 70:90", web, Hit},
		"dport open range":             {"-p tcp -m tcp --dport 81:", web, Miss},
		"negated sport":                {"-p tcp -m tcp ! --sport 40000", web, Miss},
		"udp module on tcp":            {"-p udp -m udp --dport 80", web, Miss},
		"syn":                          {"-p tcp -m tcp --syn", web, Hit},
		"not syn":                      {"-p tcp -m tcp ! --tcp-flags FIN,SYN,RST,ACK SYN", web, Miss},
		"syn on reply":                 {"-p tcp -m tcp --syn", web.Reply(), Miss},
		"icmp echo request":            {"-p icmp -m icmp --icmp-type 8", withICMP(nf.FromModel(web.Model())), Hit},
		"icmp by name misses":          {"-p icmp -m icmp --icmp-type echo-reply", withICMP(nf.FromModel(web.Model())), Miss},
		"comment":                      {`-m comment --comment "anything at all"`, web, Hit},
		"multiport dports":             {"-p tcp -m multiport --dports 22,80,443", web, Hit},
		"multiport range":              {"-p tcp -m multiport --dports 1000:2000,79:81", web, Hit},
		"negated multiport":            {"-p tcp -m multiport ! --dports 22,80", web, Miss},
		"multiport ports either":       {"-p tcp -m multiport --ports 40000", web, Hit},
		"ctstate NEW":                  {"-m conntrack --ctstate NEW", web, Hit},
		"ctstate ESTABLISHED on first": {"-m conntrack --ctstate RELATED,ESTABLISHED", web, Miss},
		"ctstate ESTABLISHED on reply": {"-m conntrack --ctstate RELATED,ESTABLISHED", web.Reply(), Hit},
		"state module":                 {"-m state --state NEW", web, Hit},
		"ctstate DNAT":                 {"-m conntrack --ctstate DNAT", with(web, func(p *nf.Packet) { p.Conn.Status |= nf.StatusDNAT }), Hit},
		"ctstate DNAT before NAT":      {"-m conntrack --ctstate DNAT", web, Miss},
		"not RELATED,ESTABLISHED,DNAT": {"-m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT", web, Hit},
		"ctstate INVALID":              {"-m conntrack --ctstate INVALID", with(web, func(p *nf.Packet) { p.Conn.State = nf.CtInvalid }), Hit},
		"ctstate UNTRACKED":            {"-m state --state UNTRACKED", with(web, func(p *nf.Packet) { p.Conn.State = nf.CtUntracked }), Hit},
		"ctorigdst after DNAT": {"-m conntrack --ctorigdst 10.96.0.10", with(web, func(p *nf.Packet) {
			p.Dst, p.Conn.OrigDst = addr("10.244.1.12"), netip.MustParseAddrPort("10.96.0.10:80")
		}), Hit},
		"ctdir REPLY":                     {"-m conntrack --ctdir REPLY", web.Reply(), Hit},
		"ctdir ORIGINAL":                  {"-m conntrack --ctdir ORIGINAL", web.Reply(), Miss},
		"mark with mask":                  {"-m mark --mark 0x4000/0x4000", with(web, func(p *nf.Packet) { p.Mark = 0x4001 }), Hit},
		"negated mark":                    {"-m mark ! --mark 0x4000/0x4000", with(web, func(p *nf.Packet) { p.Mark = 0x4001 }), Miss},
		"mark exact":                      {"-m mark --mark 0x1", with(web, func(p *nf.Packet) { p.Mark = 0x4001 }), Miss},
		"connmark":                        {"-m connmark --mark 0x10/0xf0", with(web, func(p *nf.Packet) { p.Conn.Mark = 0x1f }), Hit},
		"set hash:ip,port":                {"-m set --match-set KUBE-LB dst,dst", tcpPkt("1.2.3.4", 5, "203.0.113.10", 80), Hit},
		"set hash:ip,port wrong port":     {"-m set --match-set KUBE-LB dst,dst", tcpPkt("1.2.3.4", 5, "203.0.113.10", 81), Miss},
		"set hash:ip,port wrong proto":    {"-m set --match-set KUBE-LB dst,dst", udpPkt("1.2.3.4", 5, "203.0.113.10", 80), Miss},
		"set hash:net":                    {"-m set --match-set PODS src", web, Hit},
		"set hash:net nomatch":            {"-m set --match-set PODS src", tcpPkt("10.244.9.5", 1, "10.96.0.10", 80), Miss},
		"negated set":                     {"-m set ! --match-set PODS src", web, Miss},
		"set bitmap:port":                 {"-m set --match-set PORTS dst", tcpPkt("1.2.3.4", 5, "172.18.0.2", 30080), Hit},
		"set list:set":                    {"-m set --match-set ALL src", web, Hit},
		"set that does not exist":         {"-m set --match-set NOPE src", web, Unsure},
		"addrtype dst LOCAL":              {"-m addrtype --dst-type LOCAL", tcpPkt("1.2.3.4", 5, "172.18.0.2", 30080), Hit},
		"addrtype dst LOCAL loopback":     {"-m addrtype --dst-type LOCAL", tcpPkt("127.0.0.1", 5, "127.0.0.1", 30080), Hit},
		"addrtype dst LOCAL misses":       {"-m addrtype --dst-type LOCAL", web, Miss},
		"addrtype negated":                {"-m addrtype ! --dst-type LOCAL", web, Hit},
		"addrtype src LOCAL":              {"-m addrtype --src-type LOCAL", tcpPkt("172.18.0.2", 5, "10.96.0.10", 80), Hit},
		"addrtype broadcast":              {"-m addrtype --dst-type BROADCAST", udpPkt("172.18.0.5", 5, "172.18.0.255", 67), Hit},
		"addrtype limit-iface-in":         {"-m addrtype --dst-type LOCAL --limit-iface-in", with(tcpPkt("1.2.3.4", 5, "172.18.0.2", 1), func(p *nf.Packet) { p.In = "cni0" }), Miss},
		"addrtype limit-iface-in on it":   {"-m addrtype --dst-type LOCAL --limit-iface-in", with(tcpPkt("1.2.3.4", 5, "172.18.0.2", 1), func(p *nf.Packet) { p.In = "eth0" }), Hit},
		"addrtype type not modelled":      {"-m addrtype --dst-type BLACKHOLE", web, Unsure},
		"statistic random":                {"-m statistic --mode random --probability 0.5", web, Branch},
		"statistic nth":                   {"-m statistic --mode nth --every 3 --packet 0", web, Branch},
		"statistic certain":               {"-m statistic --mode random --probability 1.0", web, Hit},
		"physdev in":                      {"-m physdev --physdev-in veth+", with(web, func(p *nf.Packet) { p.PhysIn, p.Bridged = "veth1", true }), Hit},
		"physdev is-bridged":              {"-m physdev --physdev-is-bridged", with(web, func(p *nf.Packet) { p.PhysIn, p.Bridged = "veth1", true }), Hit},
		"physdev is-bridged routed":       {"-m physdev --physdev-is-bridged", web, Miss},
		"physdev negated is-in":           {"-m physdev ! --physdev-is-in", web, Hit},
		"limit":                           {"-m limit --limit 5/sec --limit-burst 10", web, Hit},
		"iprange":                         {"-m iprange --src-range 10.244.1.0-10.244.1.20", web, Hit},
		"iprange misses":                  {"-m iprange --dst-range 10.96.0.11-10.96.0.20", web, Miss},
		"recent set":                      {"-m recent --set --name KUBE-SEP-A --mask 255.255.255.255 --rsource", web, Hit},
		"recent rcheck first packet":      {"-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-A --mask 255.255.255.255 --rsource", web, Miss},
		"recent rcheck seen client":       {"-m recent --rcheck --seconds 10800 --reap --name KUBE-SEP-B --mask 255.255.255.255 --rsource", web, Hit},
		"recent rcheck seen too long ago": {"-m recent --rcheck --seconds 60 --reap --name KUBE-SEP-B --mask 255.255.255.255 --rsource", web, Miss},
		"recent rcheck any time":          {"-m recent --rcheck --name KUBE-SEP-B --rsource", web, Hit},
		"recent rcheck other list":        {"-m recent --rcheck --seconds 10800 --name KUBE-SEP-A --rsource", web, Miss},
		"recent negated rcheck":           {"-m recent ! --rcheck --seconds 10800 --name KUBE-SEP-B --rsource", web, Miss},
		"recent rdest":                    {"-m recent --rcheck --name KUBE-SEP-B --rdest", web, Miss},
		"recent hitcount not kept":        {"-m recent --rcheck --hitcount 3 --name KUBE-SEP-B --rsource", web, Unsure},
		"pkttype unicast":                 {"-m pkttype --pkt-type unicast", web, Hit},
		"unknown module":                  {"-m owner --uid-owner 0", web, Unsure},
		"unknown module after a miss":     {"-p udp -m owner --uid-owner 0", web, Miss},
		"unknown module before a miss":    {"-m owner --uid-owner 0 -p tcp -m tcp --dport 81", web, Miss},
		"unknown option of known module":  {"-p tcp -m tcp --tcp-option 2", web, Unsure},
	}
	env := testEnv(t)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			rs, err := Parse("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT " + tc.rule + " -j ACCEPT\nCOMMIT\n")
			if err != nil {
				t.Fatal(err)
			}
			w := walker{rs: rs, env: env}
			r := rs.Chain("filter", "INPUT").Rules[0]
			pkt := tc.pkt
			if got, _ := w.match(r, &pkt); got != tc.want {
				t.Errorf("rule %q on %+v: got %v, want %v", r.Text, tc.pkt, got, tc.want)
			}
		})
	}
}

func withICMP(p nf.Packet) nf.Packet {
	p.Proto, p.ICMPType, p.SrcPort, p.DstPort, p.TCPFlags = nf.ProtoICMP, 8, 0, 0, 0
	return p
}
