package calico

import (
	"net/netip"
	"testing"

	"github.com/netdiag/netdiag/internal/model"
)

var noAddr netip.Addr

const hep = `
apiVersion: crd.projectcalico.org/v1
kind: HostEndpoint
metadata: {name: node-a-eth0, labels: {role: worker}}
spec: {node: node-a, interfaceName: eth0, expectedIPs: [192.168.0.10]}
`

func TestEvaluateHostEndpoint(t *testing.T) {
	cases := map[string]struct {
		objects string
		stage   Stage
		dir     Direction
		pkt     Packet
		want    string
		allowed bool
		fs      bool
	}{
		"no policy: the host's own traffic is denied": {
			objects: hep, stage: StageNormal, dir: Ingress, pkt: tcp(monIP, "192.168.0.10", 8080),
			want: "__PROFILE__|__PROFILE__.__NO_MATCH__|deny|-1"},
		"failsafe: ssh to the host passes whatever the policies": {
			objects: hep + "---\n" + gnp("default.deny-all", "role == 'worker'", "", "\n  ingress:\n  - action: Deny"),
			stage:   StageNormal, dir: Ingress, pkt: tcp(monIP, "192.168.0.10", 22), allowed: true, fs: true},
		"a global policy selecting the host endpoint allows": {
			objects: hep + "---\n" + gnp("default.kubelet", "role == 'worker'", "", "\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination: {ports: [10250]}"),
			stage:   StageNormal, dir: Ingress, pkt: tcp(monIP, "192.168.0.10", 10250),
			want: "default|default.kubelet|allow|0", allowed: true},
		"forwarded traffic without applyOnForward policies is not the host endpoint's": {
			objects: hep + "---\n" + gnp("default.deny", "role == 'worker'", "", "\n  ingress:\n  - action: Deny"),
			stage:   StageForward, dir: Ingress, pkt: tcp("192.168.0.20", dbIP, 5432), allowed: true},
		"applyOnForward policies decide forwarded traffic": {
			objects: hep + "---\n" + gnp("default.deny", "role == 'worker'", "", "\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    source: {nets: [192.168.0.0/24]}"),
			stage:   StageForward, dir: Ingress, pkt: tcp("192.168.0.20", dbIP, 5432),
			want: "default|default.deny|deny|0"},
		"preDNAT policies apply before NAT, on ingress": {
			objects: hep + "---\n" + gnp("default.nodeport", "role == 'worker'", "", "\n  preDNAT: true\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: TCP\n    destination: {ports: [30080]}"),
			stage:   StagePreDNAT, dir: Ingress, pkt: tcp("192.168.0.20", "192.168.0.10", 30080),
			want: "default|default.nodeport|deny|0"},
		"preDNAT policies are not normal ones": {
			objects: hep + "---\n" + gnp("default.nodeport", "role == 'worker'", "", "\n  preDNAT: true\n  applyOnForward: true\n  ingress:\n  - action: Allow"),
			stage:   StageNormal, dir: Ingress, pkt: tcp("192.168.0.20", "192.168.0.10", 8080),
			want: "__PROFILE__|__PROFILE__.__NO_MATCH__|deny|-1"},
		"doNotTrack policies in the raw stage": {
			objects: hep + "---\n" + gnp("default.untracked", "role == 'worker'", "", "\n  doNotTrack: true\n  applyOnForward: true\n  ingress:\n  - action: Deny\n    protocol: UDP"),
			stage:   StageUntracked, dir: Ingress, pkt: proto(model.UDP, "192.168.0.20", "192.168.0.10", 4789),
			want: "default|default.untracked|deny|0"},
		"namespaced policies never select a host endpoint": {
			objects: hep + "---\n" + np("shop", "all", "all()", "\n  ingress:\n  - action: Allow"),
			stage:   StageNormal, dir: Ingress, pkt: tcp(monIP, "192.168.0.10", 8080),
			want: "__PROFILE__|__PROFILE__.__NO_MATCH__|deny|-1"},
		"a rule selector matches a host endpoint by its expected IPs": {
			objects: hep + "---\n" + gnp("default.from-workers", "app == 'db'", "", "\n  ingress:\n  - action: Allow\n    source: {selector: role == 'worker'}"),
			stage:   StageNormal, dir: Ingress, pkt: tcp("192.168.0.10", dbIP, 5432),
			want: "default|default.from-workers|allow|0", allowed: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := world(t, tc.objects)
			ep := m.HostEndpointFor("node-a", "eth0", tc.pkt.Dst)
			if name == "a rule selector matches a host endpoint by its expected IPs" {
				ep = at(t, m, "shop", "db")
			}
			if ep == nil {
				t.Fatal("no host endpoint for node-a eth0")
			}
			v := m.Evaluate(ep, tc.dir, tc.stage, tc.pkt)
			if got := v.Decided.FlowLog(); (tc.want != "" && got != tc.want) || v.Allowed != tc.allowed || v.Failsafe != tc.fs {
				t.Errorf("decided %s (allowed %v, failsafe %v), want %s (allowed %v, failsafe %v)\ntrace: %s", got, v.Allowed, v.Failsafe, tc.want, tc.allowed, tc.fs, traceOf(v))
			}
		})
	}
}

func TestHostEndpointFor(t *testing.T) {
	m := world(t, hep+`---
apiVersion: crd.projectcalico.org/v1
kind: HostEndpoint
metadata: {name: node-a-all}
spec: {node: node-a, interfaceName: "*"}
`)
	if ep := m.HostEndpointFor("node-a", "eth0", noAddr); ep == nil || ep.Name != "node-a-eth0" {
		t.Errorf("eth0: %v, want the endpoint naming the interface", ep)
	}
	if ep := m.HostEndpointFor("node-a", "eth1", noAddr); ep == nil || ep.Name != "node-a-all" {
		t.Errorf("eth1: %v, want the all-interfaces endpoint", ep)
	}
	if ep := m.HostEndpointFor("node-b", "eth0", noAddr); ep != nil {
		t.Errorf("node-b: %v, want none", ep)
	}
}
