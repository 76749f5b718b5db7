package service

import (
	"encoding/json"
	"strings"

	"github.com/netdiag/netdiag/internal/netstack"
)

// Mode is the way the node's kube-proxy programs services.
type Mode string

const (
	ModeIPTables Mode = "iptables"
	ModeNFTables Mode = "nftables"
	ModeIPVS     Mode = "ipvs"
	// ModeNone means the node holds no service rules at all: kube-proxy is not running,
	// has not synced yet, or another service proxy (one that replaces kube-proxy) is in use.
	ModeNone Mode = "none"
)

// ipvsDummy is the dummy interface kube-proxy's ipvs mode binds every service address to.
const ipvsDummy = "kube-ipvs0"

// DetectMode tells the kube-proxy mode from the node's own state. ipvs mode also writes
// iptables rules (KUBE-SERVICES with ipset matches), so its own marks are checked first; a
// node switched between modes may keep stale rules of the old one, which the more specific
// marks win over.
func DetectMode(stack *netstack.Netstack) Mode {
	if stack == nil {
		return ModeNone
	}
	if len(stack.IPVS) > 0 {
		return ModeIPVS
	}
	for _, ifc := range stack.Interfaces {
		if ifc.Name == ipvsDummy {
			return ModeIPVS
		}
	}
	if hasNFTKubeProxyTable(stack.NFTables) {
		return ModeNFTables
	}
	if strings.Contains(stack.IPTables, ":KUBE-SERVICES ") {
		return ModeIPTables
	}
	return ModeNone
}

// hasNFTKubeProxyTable reports whether `nft -j list ruleset` output holds kube-proxy's
// "table ip kube-proxy".
func hasNFTKubeProxyTable(ruleset string) bool {
	if ruleset == "" {
		return false
	}
	var doc struct {
		NFTables []struct {
			Table *struct {
				Family string `json:"family"`
				Name   string `json:"name"`
			} `json:"table"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(ruleset), &doc); err != nil {
		return false
	}
	for _, o := range doc.NFTables {
		if o.Table != nil && o.Table.Family == "ip" && o.Table.Name == "kube-proxy" {
			return true
		}
	}
	return false
}
