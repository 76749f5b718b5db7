package kubectlcmd

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

func TestNewDiagnosis(t *testing.T) {
	pod := func(ns, name string) *diagv1alpha1.PodReference {
		return &diagv1alpha1.PodReference{Namespace: ns, Name: name}
	}
	node := func(name string) *diagv1alpha1.NodeReference { return &diagv1alpha1.NodeReference{Name: name} }
	tcp := diagv1alpha1.ProtocolTCP
	cases := map[string]struct {
		args  []string
		flags questionFlags
		want  diagv1alpha1.NetworkDiagnosisSpec
		// name is the generateName prefix.
		name string
	}{
		"pod to a service's port": {
			args: []string{"pod/web", "svc/db:5432"},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{Service: &diagv1alpha1.ServiceReference{Name: "db"}}, Protocol: tcp, Port: ptr.To[int32](5432)},
			name: "web-to-db-",
		},
		"kubectl's long kind names and another namespace": {
			args: []string{"pods/shop/web", "service/data/db:5432"},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("shop", "web")},
				Destination: diagv1alpha1.Destination{Service: &diagv1alpha1.ServiceReference{Namespace: "data", Name: "db"}}, Protocol: tcp, Port: ptr.To[int32](5432)},
			name: "web-to-db-",
		},
		"pod to pod with --port, a probe and a timeout": {
			args:  []string{"po/web", "pod/api"},
			flags: questionFlags{port: 8080, probe: true, timeout: 30 * time.Second},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{Pod: pod("", "api")}, Protocol: tcp, Port: ptr.To[int32](8080),
				Probe: true, Timeout: &metav1.Duration{Duration: 30 * time.Second}},
			name: "web-to-api-",
		},
		"the same port twice is one port": {
			args:  []string{"pod/web", "pod/api:8080"},
			flags: questionFlags{port: 8080},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{Pod: pod("", "api")}, Protocol: tcp, Port: ptr.To[int32](8080)},
			name: "web-to-api-",
		},
		"a DNS name with name/": {
			args: []string{"pod/web", "name/db.data:5432"},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{Name: "db.data"}, Protocol: tcp, Port: ptr.To[int32](5432)},
			name: "web-to-db-data-",
		},
		"a bare DNS name, its final dot kept": {
			args: []string{"pod/web", "Example.COM.:443"},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{Name: "example.com."}, Protocol: tcp, Port: ptr.To[int32](443)},
			name: "web-to-example-com-",
		},
		"dns/ as name/, with --port": {
			args:  []string{"pod/web", "dns/web-0.web.shop.svc.cluster.local"},
			flags: questionFlags{port: 8080},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{Name: "web-0.web.shop.svc.cluster.local"}, Protocol: tcp, Port: ptr.To[int32](8080)},
			name: "web-to-web-0-web-shop-svc-cluster-",
		},
		"UDP to a service": {
			args:  []string{"pod/web", "svc/dns:53"},
			flags: questionFlags{udp: true},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{Service: &diagv1alpha1.ServiceReference{Name: "dns"}}, Protocol: diagv1alpha1.ProtocolUDP, Port: ptr.To[int32](53)},
			name: "web-to-dns-",
		},
		"SCTP to a service": {
			args:  []string{"pod/web", "svc/sig:2905"},
			flags: questionFlags{sctp: true},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{Service: &diagv1alpha1.ServiceReference{Name: "sig"}}, Protocol: diagv1alpha1.ProtocolSCTP, Port: ptr.To[int32](2905)},
			name: "web-to-sig-",
		},
		"ICMP from a node to an address": {
			args:  []string{"node/node-1.example.com", "ip/10.0.0.7"},
			flags: questionFlags{icmp: true},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Node: node("node-1.example.com")},
				Destination: diagv1alpha1.Destination{IP: "10.0.0.7"}, Protocol: diagv1alpha1.ProtocolICMP},
			name: "node-1-example-com-to-10-0-0-7-",
		},
		"an outside address to a node's port": {
			args: []string{"ip/203.0.113.9", "no/node-2:30080"},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{IP: "203.0.113.9"},
				Destination: diagv1alpha1.Destination{Node: node("node-2")}, Protocol: tcp, Port: ptr.To[int32](30080)},
			name: "203-0-113-9-to-node-2-",
		},
		"IPv6 with a port in brackets, and a mapped IPv4 address": {
			args: []string{"ip/::ffff:198.51.100.1", "ip/[2001:db8::7]:443"},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{IP: "198.51.100.1"},
				Destination: diagv1alpha1.Destination{IP: "2001:db8::7"}, Protocol: tcp, Port: ptr.To[int32](443)},
			name: "198-51-100-1-to-2001-db8--7-",
		},
		"IPv6 without a port needs no brackets": {
			args:  []string{"pod/web", "ip/2001:db8::7"},
			flags: questionFlags{port: 443},
			want: diagv1alpha1.NetworkDiagnosisSpec{Source: diagv1alpha1.Source{Pod: pod("", "web")},
				Destination: diagv1alpha1.Destination{IP: "2001:db8::7"}, Protocol: tcp, Port: ptr.To[int32](443)},
			name: "web-to-2001-db8--7-",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			c.flags.keep = true
			nd, err := newDiagnosis(c.args, c.flags, "shop")
			if err != nil {
				t.Fatalf("newDiagnosis(%q) = %v", c.args, err)
			}
			if diff := cmp.Diff(c.want, nd.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
			if nd.GenerateName != c.name || nd.Namespace != "shop" || nd.Name != "" {
				t.Errorf("object %q generateName %q in %q, want generateName %q in shop", nd.Name, nd.GenerateName, nd.Namespace, c.name)
			}
		})
	}
}

func TestNewDiagnosisDeletesItselfUnlessKept(t *testing.T) {
	nd, err := newDiagnosis([]string{"pod/web", "svc/db:5432"}, questionFlags{}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if nd.Spec.TTLSecondsAfterFinished == nil || *nd.Spec.TTLSecondsAfterFinished != cleanupTTL {
		t.Errorf("ttlSecondsAfterFinished = %v, want %d so a killed command leaves nothing for long", nd.Spec.TTLSecondsAfterFinished, cleanupTTL)
	}
	kept, err := newDiagnosis([]string{"pod/web", "svc/db:5432"}, questionFlags{keep: true}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if kept.Spec.TTLSecondsAfterFinished != nil {
		t.Errorf("--keep sets ttlSecondsAfterFinished %d", *kept.Spec.TTLSecondsAfterFinished)
	}
}

func TestNewDiagnosisAsksAboutAPacketSize(t *testing.T) {
	nd, err := newDiagnosis([]string{"pod/web", "pod/db"}, questionFlags{icmp: true, packetSize: 1400, dontFragment: true}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if nd.Spec.PacketSize == nil || *nd.Spec.PacketSize != 1400 || !nd.Spec.DontFragment {
		t.Errorf("packetSize %v, dontFragment %v: want 1400 with DF", nd.Spec.PacketSize, nd.Spec.DontFragment)
	}
}

func TestGenerateNameFitsALabel(t *testing.T) {
	long := strings.Repeat("a", 200)
	nd, err := newDiagnosis([]string{"node/" + long, "node/" + long + ":80"}, questionFlags{}, "shop")
	if err != nil {
		t.Fatal(err)
	}
	// The API server appends five characters.
	if n := len(nd.GenerateName) + 5; n > 63 {
		t.Errorf("generateName %q makes names of %d characters, want at most 63", nd.GenerateName, n)
	}
}

func TestNewDiagnosisRefuses(t *testing.T) {
	cases := map[string]struct {
		args  []string
		flags questionFlags
		// want is a part of the error a person reads.
		want string
	}{
		"no arguments":                {args: nil, want: "want a source and a destination"},
		"one argument":                {args: []string{"pod/web"}, want: "got 1 arguments"},
		"three arguments":             {args: []string{"pod/web", "svc/db:5432", "pod/api"}, want: "got 3 arguments"},
		"no kind":                     {args: []string{"web", "svc/db:5432"}, want: `source "web": want pod/NAME`},
		"no name":                     {args: []string{"pod/", "svc/db:5432"}, want: `source "pod/": want pod/NAME`},
		"unknown kind":                {args: []string{"deploy/web", "svc/db:5432"}, want: `unknown kind "deploy"`},
		"a name as the source":        {args: []string{"name/web.shop", "svc/db:5432"}, want: "a DNS name is only a destination"},
		"a bare name as the source":   {args: []string{"web.shop", "svc/db:5432"}, want: `source "web.shop": want pod/NAME`},
		"a name that is an address":   {args: []string{"pod/web", "name/10.0.0.1:80"}, want: "is an address, not a DNS name: name it as ip/10.0.0.1"},
		"a bad name":                  {args: []string{"pod/web", "db_1.shop:80"}, want: `DNS name "db_1.shop"`},
		"a name's label too long":     {args: []string{"pod/web", strings.Repeat("a", 64) + ".example:80"}, want: "longer than 63 characters"},
		"a service as the source":     {args: []string{"svc/web", "pod/db:5432"}, want: "a service sends no traffic"},
		"a port on the source":        {args: []string{"pod/web:8080", "pod/db"}, want: "a source has no port"},
		"a bad pod name":              {args: []string{"pod/Web_1", "svc/db:5432"}, want: `pod name "Web_1"`},
		"a bad service name":          {args: []string{"pod/web", "svc/1db:5432"}, want: `service name "1db"`},
		"a bad namespace":             {args: []string{"pod/Shop/web", "svc/db:5432"}, want: `namespace "Shop"`},
		"a node with a namespace":     {args: []string{"node/a/b", "svc/db:5432"}, want: `source "node/a/b": want`},
		"too many slashes":            {args: []string{"pod/a/b/c", "svc/db:5432"}, want: `source "pod/a/b/c": want`},
		"a port that is no number":    {args: []string{"pod/web", "svc/db:pg"}, want: `port "pg": want a number from 1 to 65535`},
		"port zero":                   {args: []string{"pod/web", "svc/db:0"}, want: `port "0"`},
		"a port too high":             {args: []string{"pod/web", "svc/db:65536"}, want: `port "65536"`},
		"--port too high":             {args: []string{"pod/web", "svc/db"}, flags: questionFlags{port: 70000}, want: "--port 70000"},
		"no port for TCP":             {args: []string{"pod/web", "svc/db"}, want: "TCP needs a port"},
		"no port for UDP":             {args: []string{"pod/web", "svc/dns"}, flags: questionFlags{udp: true}, want: "UDP needs a port"},
		"two different ports":         {args: []string{"pod/web", "svc/db:5432"}, flags: questionFlags{port: 5433}, want: "port 5432 and --port 5433 differ"},
		"a port for ICMP":             {args: []string{"pod/web", "pod/db:5432"}, flags: questionFlags{icmp: true}, want: "--icmp has no port"},
		"--port for ICMP":             {args: []string{"pod/web", "pod/db"}, flags: questionFlags{icmp: true, port: 1}, want: "--icmp has no port"},
		"UDP and ICMP":                {args: []string{"pod/web", "pod/db"}, flags: questionFlags{icmp: true, udp: true}, want: "pick one protocol"},
		"SCTP and UDP":                {args: []string{"pod/web", "pod/db:9"}, flags: questionFlags{sctp: true, udp: true}, want: "--sctp and --udp: pick one protocol"},
		"no port for SCTP":            {args: []string{"pod/web", "svc/sig"}, flags: questionFlags{sctp: true}, want: "SCTP needs a port"},
		"not an address":              {args: []string{"pod/web", "ip/10.0.0:80"}, want: `"10.0.0:80" is not an IP address`},
		"IPv6 and a port unbracketed": {args: []string{"pod/web", "ip/2001:db8::7:443:x"}, want: "is not an IP address"},
		"an address with port 0":      {args: []string{"pod/web", "ip/10.0.0.7:0"}, want: "port 0"},
		"a loopback address":          {args: []string{"pod/web", "ip/127.0.0.1:80"}, want: "127.0.0.1 is not a unicast address"},
		"a link-local address":        {args: []string{"pod/web", "ip/169.254.169.254:80"}, want: "169.254.169.254 is not a unicast address"},
		"the broadcast address":       {args: []string{"ip/255.255.255.255", "pod/db:80"}, want: "255.255.255.255 is not a unicast address"},
		"a multicast address":         {args: []string{"pod/web", "ip/ff02::1"}, flags: questionFlags{icmp: true}, want: "ff02::1 is not a unicast address"},
		"the unspecified address":     {args: []string{"ip/0.0.0.0", "pod/db:80"}, want: "0.0.0.0 is not a unicast address"},
		"an address with a zone":      {args: []string{"pod/web", "ip/fe80::1%eth0"}, flags: questionFlags{icmp: true}, want: "zone"},
		"a timeout too short":         {args: []string{"pod/web", "svc/db:5432"}, flags: questionFlags{timeout: time.Second}, want: "--timeout 1s: want between 10s and 1h0m0s"},
		"a timeout too long":          {args: []string{"pod/web", "svc/db:5432"}, flags: questionFlags{timeout: 2 * time.Hour}, want: "--timeout 2h0m0s"},
		"a negative timeout":          {args: []string{"pod/web", "svc/db:5432"}, flags: questionFlags{timeout: -time.Minute}, want: "--timeout -1m0s"},
		"a packet too small":          {args: []string{"pod/web", "pod/db"}, flags: questionFlags{icmp: true, packetSize: 20}, want: "--packet-size 20: want 68 to 65535"},
		"DF without a size":           {args: []string{"pod/web", "pod/db"}, flags: questionFlags{icmp: true, dontFragment: true}, want: "--dont-fragment needs --packet-size"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			nd, err := newDiagnosis(c.args, c.flags, "shop")
			if err == nil {
				t.Fatalf("newDiagnosis(%q) = %+v, want an error", c.args, nd.Spec)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("newDiagnosis(%q) = %q, want it to say %q", c.args, err, c.want)
			}
		})
	}
}
