package collector

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Backends of iptables.
const (
	BackendNFT    = "nft"
	BackendLegacy = "legacy"
)

// run runs a command in the calling thread's network namespace (the child inherits it) and
// returns its standard output.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		if msg != "" {
			return stdout.Bytes(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, msg)
		}
		return stdout.Bytes(), fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return stdout.Bytes(), nil
}

// readIPTables dumps the IPv4 rules with counters from the backend that holds them, as
// kube-proxy's iptables wrapper decides: where the kubelet's or kube-proxy's canary chains
// are, else where there are more rules, else nft. The backend-less iptables-save of an old
// image is used, with the backend it reports, when the split commands are missing.
func readIPTables(ctx context.Context) (rules, backend string, err error) {
	nftPath, nftErr := exec.LookPath("iptables-nft-save")
	legacyPath, legacyErr := exec.LookPath("iptables-legacy-save")
	if nftErr != nil && legacyErr != nil {
		if _, err := exec.LookPath("iptables-save"); err != nil {
			return "", "", fmt.Errorf("no iptables-save, iptables-nft-save or iptables-legacy-save in PATH")
		}
		out, err := run(ctx, "iptables-save", "-c")
		if err != nil {
			return "", "", err
		}
		ver, _ := run(ctx, "iptables-save", "--version")
		backend = BackendLegacy
		if strings.Contains(string(ver), "nf_tables") {
			backend = BackendNFT
		}
		return string(out), backend, nil
	}
	var nftOut, legacyOut []byte
	var errs []error
	if nftErr == nil {
		if nftOut, nftErr = run(ctx, nftPath, "-c"); nftErr != nil {
			errs = append(errs, nftErr)
		}
	}
	if legacyErr == nil {
		// A kernel without the legacy ip_tables module makes this fail or print nothing;
		// both just mean the legacy backend holds no rules.
		if legacyOut, legacyErr = run(ctx, legacyPath, "-c"); legacyErr != nil {
			errs = append(errs, legacyErr)
		}
	}
	if nftErr != nil && legacyErr != nil {
		return "", "", errors.Join(errs...)
	}
	switch {
	case nftErr != nil:
		return string(legacyOut), BackendLegacy, nil
	case legacyErr != nil:
		return string(nftOut), BackendNFT, nil
	}
	if ChooseBackend(nftOut, legacyOut) == BackendLegacy {
		return string(legacyOut), BackendLegacy, nil
	}
	return string(nftOut), BackendNFT, nil
}

// ChooseBackend picks the iptables backend that holds the node's rules from the output of
// iptables-nft-save and iptables-legacy-save, as kube-proxy's iptables wrapper does.
func ChooseBackend(nftSave, legacySave []byte) string {
	nftCanary, nftRules := countSave(nftSave)
	legacyCanary, legacyRules := countSave(legacySave)
	switch {
	case nftCanary:
		return BackendNFT
	case legacyCanary:
		return BackendLegacy
	case legacyRules > nftRules:
		return BackendLegacy
	}
	return BackendNFT
}

// countSave reports whether an iptables-save output holds the chains kubelet and kube-proxy
// create to mark the backend they use, and how many rules it has.
func countSave(save []byte) (canary bool, rules int) {
	sc := bufio.NewScanner(bytes.NewReader(save))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte("-A ")), bytes.HasPrefix(line, []byte("[")):
			// With -c a rule line starts with its counters: "[0:0] -A ...".
			rules++
		case bytes.HasPrefix(line, []byte(":KUBE-IPTABLES-HINT ")), bytes.HasPrefix(line, []byte(":KUBE-KUBELET-CANARY ")):
			canary = true
		}
	}
	return canary, rules
}

// savedTables lists the tables an iptables-save output holds ("*filter" lines).
func savedTables(save string) map[string]bool {
	out := map[string]bool{}
	for line := range strings.Lines(save) {
		if name, ok := strings.CutPrefix(line, "*"); ok {
			out[strings.TrimSpace(name)] = true
		}
	}
	return out
}

// xtablesNames are the tables iptables-nft and ip6tables-nft create.
var xtablesNames = map[string]bool{"filter": true, "nat": true, "mangle": true, "raw": true, "security": true}

type nftTable struct{ family, name string }

var nftFamilies = map[uint8]string{
	unix.NFPROTO_INET:   "inet",
	unix.NFPROTO_IPV4:   "ip",
	unix.NFPROTO_ARP:    "arp",
	unix.NFPROTO_NETDEV: "netdev",
	unix.NFPROTO_BRIDGE: "bridge",
	unix.NFPROTO_IPV6:   "ip6",
}

// listNFTTables lists the nftables tables of the calling thread's namespace through netlink.
// `nft list tables` would do, but nft 1.0 fetches every rule of every table to answer it,
// which takes seconds on a node with 100,000 iptables-nft rules.
func listNFTTables() ([]nftTable, error) {
	const (
		nfnlSubsysNFTables = 10
		nftMsgGetTable     = 1
		nftaTableName      = 1
	)
	req := nl.NewNetlinkRequest(nfnlSubsysNFTables<<8|nftMsgGetTable, unix.NLM_F_DUMP)
	req.AddData(&nl.Nfgenmsg{NfgenFamily: unix.AF_UNSPEC, Version: 0})
	msgs, err := req.Execute(unix.NETLINK_NETFILTER, 0)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	var out []nftTable
	for _, m := range msgs {
		if len(m) < nl.SizeofNfgenmsg {
			continue
		}
		attrs, err := parseAttrs(m[nl.SizeofNfgenmsg:])
		if err != nil {
			return out, fmt.Errorf("parse nftables table: %w", err)
		}
		for _, a := range attrs {
			if a.Attr.Type == nftaTableName {
				family, ok := nftFamilies[m[0]]
				if !ok {
					family = fmt.Sprint(m[0])
				}
				out = append(out, nftTable{family: family, name: string(bytes.TrimRight(a.Value, "\x00"))})
			}
		}
	}
	return out, nil
}

// readNFTables lists the nftables ruleset as `nft -j list ruleset` would, without the
// tables that iptables-nft owns (their rules are in the iptables part already, and listing
// 100,000 of them as JSON takes nft many seconds). skip names the iptables tables to leave
// out for family ip; ip6 tables with iptables' names are left out when iptables-nft is the
// backend, since the snapshot carries no ip6tables part yet.
func readNFTables(ctx context.Context, skip map[string]bool, backendNFT bool) (string, error) {
	if _, err := exec.LookPath("nft"); err != nil {
		return "", fmt.Errorf("no nft in PATH: %w", err)
	}
	tables, err := listNFTTables()
	if err != nil {
		return "", err
	}
	merged := struct {
		NFTables []json.RawMessage `json:"nftables"`
	}{NFTables: []json.RawMessage{}}
	var errs []error
	for _, t := range tables {
		if (t.family == "ip" && skip[t.name]) || (t.family == "ip6" && backendNFT && xtablesNames[t.name]) {
			continue
		}
		out, err := run(ctx, "nft", "-j", "list", "table", t.family, t.name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var doc struct {
			NFTables []json.RawMessage `json:"nftables"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			errs = append(errs, fmt.Errorf("parse nft output for table %s %s: %w", t.family, t.name, err))
			continue
		}
		for i, item := range doc.NFTables {
			// Every listing starts with the same metainfo object; keep the first.
			if i == 0 && len(merged.NFTables) > 0 && bytes.Contains(item, []byte(`"metainfo"`)) {
				continue
			}
			merged.NFTables = append(merged.NFTables, item)
		}
	}
	b, err := json.Marshal(merged)
	if err != nil {
		return "", fmt.Errorf("encode nftables ruleset: %w", err)
	}
	return string(b), errors.Join(errs...)
}

// readIPSets dumps the ipsets as `ipset save` prints them.
func readIPSets(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("ipset"); err != nil {
		return "", fmt.Errorf("no ipset in PATH: %w", err)
	}
	out, err := run(ctx, "ipset", "save")
	return string(out), err
}
