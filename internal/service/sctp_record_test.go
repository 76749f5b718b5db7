//go:build record

package service

// The SCTP fixtures in testdata/sctp/ are recorded from the real kube-proxy, as the others:
//
//	go test -tags record -run TestRecordSCTP -v ./internal/service/
//
// (as root). This kernel has no SCTP sockets, yet iptables-nft and nft accept and list SCTP
// rules, and kube-proxy programs SCTP services in both modes: those rules are what is
// recorded. Nothing is sent on any network (no SCTP packet could be); the namespace
// (ndt-svc-sctp-<pid>) is deleted at the end, also when the test fails.

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/netdiag/netdiag/internal/kubeproxytest"
)

func TestRecordSCTP(t *testing.T) {
	if !kubeproxytest.InNodeNamespace(t, "ndt-svc-sctp", 6*time.Minute) {
		return
	}
	out, err := filepath.Abs(filepath.Join("testdata", "sctp"))
	if err != nil {
		t.Fatal(err)
	}
	cp := kubeproxytest.StartControlPlane(t)
	ctx := t.Context()
	objs := kubeproxytest.Create(t, ctx, cp.Client, sctpPods, sctpServices())
	for _, mode := range []string{"iptables", "nftables"} {
		t.Run(mode, func(t *testing.T) {
			stop := cp.StartKubeProxy(t, ctx, mode)
			defer stop()
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			switch mode {
			case "iptables":
				rules := kubeproxytest.WaitForRules(t, func() string { return kubeproxytest.Run(t, "iptables-save", "-c") },
					[]string{`"shop/sig:m3ua cluster IP"`, `"shop/sig-np cluster IP"`, `"shop/sig:diameter cluster IP"`})
				kubeproxytest.WriteFile(t, filepath.Join(out, "node-a.iptables"), rules)
			case "nftables":
				text := kubeproxytest.WaitForRules(t, func() string { return kubeproxytest.Run(t, "nft", "list", "ruleset") },
					[]string{"shop/sig/sctp/m3ua", "shop/sig/tcp/diameter", "shop/sig-np/sctp/"})
				kubeproxytest.WriteFile(t, filepath.Join(out, "node-a.nft"), text)
				kubeproxytest.WriteFile(t, filepath.Join(out, "node-a.nft.json"), kubeproxytest.Run(t, "nft", "-j", "list", "ruleset"))
			}
		})
	}
	kubeproxytest.WriteFile(t, filepath.Join(out, "cluster.yaml"), string(kubeproxytest.ListYAML(t, objs)))
}
