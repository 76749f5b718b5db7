package ipset

import (
	"net/netip"
	"strings"
	"testing"
)

const save = `create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536 comment
add KUBE-LOAD-BALANCER 203.0.113.10,tcp:80 comment "shop/lb"
add KUBE-LOAD-BALANCER 203.0.113.11,udp:53
create cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576
add cali40all-ipam-pools 10.244.0.0/16
add cali40all-ipam-pools 10.244.7.0/24 nomatch
create HOSTS hash:ip family inet hashsize 1024 maxelem 65536 timeout 0
add HOSTS 172.18.0.2
add HOSTS 172.18.0.3 timeout 0
create RANGE hash:ip family inet
add RANGE 192.0.2.10-192.0.2.20
create NODEPORTS bitmap:port range 0-65535
add NODEPORTS 30080
add NODEPORTS tcp:30090-30095
create NETPORT hash:net,port family inet
add NETPORT 10.0.0.0/8,tcp:443
create MARKS hash:ip,mark family inet
add MARKS 10.1.1.1,0x10
create ALL list:set size 8
add ALL HOSTS
add ALL RANGE
`

func TestTest(t *testing.T) {
	sets, err := Parse(save)
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr
	cases := map[string]struct {
		set    string
		probes []Probe
		want   bool
	}{
		"hash:ip,port member":       {"KUBE-LOAD-BALANCER", []Probe{{Addr: a("203.0.113.10")}, {Proto: 6, Port: 80}}, true},
		"hash:ip,port other proto":  {"KUBE-LOAD-BALANCER", []Probe{{Addr: a("203.0.113.10")}, {Proto: 17, Port: 80}}, false},
		"hash:ip,port udp":          {"KUBE-LOAD-BALANCER", []Probe{{Addr: a("203.0.113.11")}, {Proto: 17, Port: 53}}, true},
		"hash:net inside":           {"cali40all-ipam-pools", []Probe{{Addr: a("10.244.3.4")}}, true},
		"hash:net nomatch hole":     {"cali40all-ipam-pools", []Probe{{Addr: a("10.244.7.4")}}, false},
		"hash:net outside":          {"cali40all-ipam-pools", []Probe{{Addr: a("10.245.0.1")}}, false},
		"hash:ip":                   {"HOSTS", []Probe{{Addr: a("172.18.0.3")}}, true},
		"hash:ip miss":              {"HOSTS", []Probe{{Addr: a("172.18.0.4")}}, false},
		"hash:ip range":             {"RANGE", []Probe{{Addr: a("192.0.2.15")}}, true},
		"hash:ip range end":         {"RANGE", []Probe{{Addr: a("192.0.2.21")}}, false},
		"bitmap:port":               {"NODEPORTS", []Probe{{Proto: 6, Port: 30080}}, true},
		"bitmap:port range":         {"NODEPORTS", []Probe{{Proto: 6, Port: 30093}}, true},
		"hash:net,port":             {"NETPORT", []Probe{{Addr: a("10.9.9.9")}, {Proto: 6, Port: 443}}, true},
		"hash:ip,mark":              {"MARKS", []Probe{{Addr: a("10.1.1.1")}, {Mark: 0x10}}, true},
		"list:set through a member": {"ALL", []Probe{{Addr: a("192.0.2.11")}}, true},
		"list:set miss":             {"ALL", []Probe{{Addr: a("8.8.8.8")}}, false},
		"extra probes are ignored":  {"HOSTS", []Probe{{Addr: a("172.18.0.2")}, {Port: 1}}, true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := sets.Test(tc.set, tc.probes)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Test(%s, %+v) = %v, want %v", tc.set, tc.probes, got, tc.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := map[string]struct{ save, want string }{
		"member of an unknown set": {"add NOPE 1.2.3.4\n", "line 1: member of set \"NOPE\""},
		"bad address":              {"create S hash:ip\nadd S 1.2.3\n", "line 2: set S: member \"1.2.3\""},
		"wrong dimensions":         {"create S hash:ip,port\nadd S 1.2.3.4\n", "has 1 values, type hash:ip,port wants 2"},
		"unknown type":             {"create S hash:foo\n", "unknown dimension"},
		"unknown command":          {"flush S\n", "unknown command"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.save)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want %q", err, tc.want)
			}
		})
	}
	sets, _ := Parse("create S hash:ip,port\n")
	if _, err := sets.Test("S", []Probe{{}}); err == nil {
		t.Error("Test with too few probes did not fail")
	}
	if _, err := sets.Test("MISSING", []Probe{{}}); err == nil {
		t.Error("Test of a missing set did not fail")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(save)
	f.Fuzz(func(t *testing.T, text string) {
		sets, err := Parse(text)
		if err != nil {
			return
		}
		for name := range sets.ByName {
			_, _ = sets.Test(name, []Probe{{Addr: netip.MustParseAddr("10.0.0.1"), Port: 80, Proto: 6}, {Port: 80, Proto: 6}, {}})
		}
	})
}
