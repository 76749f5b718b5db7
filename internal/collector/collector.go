package collector

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"

	"github.com/netdiag/netdiag/internal/netnsutil"
	"github.com/netdiag/netdiag/internal/netstack"
)

// Part names, as netstack.PartError.Part records them.
const (
	PartNetNS      = "netns"
	PartLinks      = "links"
	PartRoutes     = "routes"
	PartRules      = "rules"
	PartNeighbours = "neighbours"
	PartFDB        = "fdb"
	PartSysctls    = "sysctls"
	PartIPTables   = "iptables"
	PartNFTables   = "nftables"
	PartIPSets     = "ipsets"
	PartIPVS       = "ipvs"
	PartListening  = "listening"
	PartRecent     = "recent"
	PartProbe      = "probe"
)

// Options says what to collect on a node.
type Options struct {
	// Node is the node's name, recorded in the snapshot.
	Node string
	// Pods are the pods whose namespaces to collect (only those, not every pod of the node).
	Pods []netstack.PodRef
	// HostNetNS is the path of the node's network namespace; empty means the collector's own
	// (a hostNetwork pod).
	HostNetNS string
	// NetNSDirs are searched for pod namespaces first; nil means DefaultNetNSDirs.
	NetNSDirs []string
	// Proc is the proc mount to read sysctls, sockets and processes from; empty is /proc.
	Proc string
	// Probe, when set, sends a real connection attempt from the source.
	Probe *ProbeSpec
	// Lookup, when set, resolves a name with the source pod's resolver.
	Lookup *LookupSpec
	// Parallelism bounds how many namespaces are collected at once; zero means 4.
	Parallelism int
	// Now stamps the snapshot; nil means time.Now.
	Now func() time.Time
}

// Collect gathers the node's and the pods' network state. Parts that cannot be read are
// recorded in the snapshot's PartErrors; the error is only for a cancelled context.
func Collect(ctx context.Context, opts Options) (*netstack.NodeSnapshot, error) {
	log := logr.FromContextOrDiscard(ctx)
	opts.Proc = cmp.Or(opts.Proc, "/proc")
	if opts.NetNSDirs == nil {
		opts.NetNSDirs = DefaultNetNSDirs
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	snap := &netstack.NodeSnapshot{
		Version:     netstack.Version,
		Node:        opts.Node,
		CollectedAt: now().UTC(),
		Pods:        make([]netstack.Netstack, len(opts.Pods)),
	}

	start := time.Now()
	found, findErr := FindPodNetNS(ctx, opts.Pods, opts.NetNSDirs, opts.Proc)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("find pod network namespaces: %w", err)
	}
	log.V(2).Info("Found pod network namespaces", "found", len(found), "wanted", len(opts.Pods), "took", time.Since(start))

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(cmp.Or(opts.Parallelism, 4))
	g.Go(func() error {
		snap.Host = CollectNetstack(gctx, opts.HostNetNS, opts.Proc)
		log.V(1).Info("Collected node network namespace", "node", opts.Node, "errors", len(snap.Host.Errors))
		return nil
	})
	for i, pod := range opts.Pods {
		ref := pod
		f := found[pod.IP.Unmap()]
		if f == nil {
			msg := fmt.Sprintf("no network namespace on node %s holds pod IP %s", opts.Node, pod.IP)
			if findErr != nil {
				msg += ": " + findErr.Error()
			}
			snap.Pods[i] = netstack.Netstack{Pod: &ref, Errors: []netstack.PartError{{Part: PartNetNS, Error: msg}}}
			continue
		}
		g.Go(func() error {
			ns := CollectNetstack(gctx, f.Path, opts.Proc)
			ns.Pod = &ref
			if len(f.Also) > 0 {
				ns.Errors = append(ns.Errors, netstack.PartError{Part: PartNetNS, Error: fmt.Sprintf(
					"pod IP %s is also on an interface in %s; collected %s", pod.IP, strings.Join(f.Also, ", "), f.Path)})
			}
			snap.Pods[i] = ns
			log.V(1).Info("Collected pod network namespace", "pod", pod.Namespace+"/"+pod.Name, "netns", f.Path, "errors", len(ns.Errors))
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("collect node %s: %w", opts.Node, err)
	}

	if opts.Lookup != nil {
		snap.Lookup = opts.Lookup.run(ctx, found)
	}
	if opts.Probe != nil {
		path := opts.HostNetNS
		if opts.Probe.FromPod != "" {
			path = ""
			for _, f := range found {
				if f.Pod.Namespace+"/"+f.Pod.Name == opts.Probe.FromPod {
					path = f.Path
				}
			}
			if path == "" {
				snap.Probe = &netstack.ProbeResult{Inconclusive: true, Message: fmt.Sprintf("probe not sent: no network namespace found for pod %s", opts.Probe.FromPod)}
				return snap, nil
			}
		}
		res := Probe(ctx, path, *opts.Probe)
		snap.Probe = &res
		log.V(1).Info("Probed", "from", cmp.Or(opts.Probe.FromPod, "node"), "to", opts.Probe.To, "port", opts.Probe.Port, "reachable", res.Reachable, "message", res.Message)
	}
	return snap, nil
}

// CollectNetstack reads one network namespace's state: nsPath names it (empty is the
// collector's own), procRoot is the proc mount. It never fails: what cannot be read is in
// the result's Errors.
func CollectNetstack(ctx context.Context, nsPath, procRoot string) netstack.Netstack {
	ns := netstack.Netstack{NetNS: nsPath}
	fail := func(part string, err error) {
		if err != nil {
			ns.Errors = append(ns.Errors, netstack.PartError{Part: part, Error: err.Error()})
		}
	}
	err := netnsutil.Do(nsPath, func() error {
		var idx names
		var err error
		ns.Interfaces, idx, err = readLinks()
		fail(PartLinks, err)
		ns.Routes, err = readRoutes(idx)
		fail(PartRoutes, err)
		ns.Rules, err = readRules()
		fail(PartRules, err)
		ns.Neighbours, err = readNeighbours(idx)
		fail(PartNeighbours, err)
		ns.FDB, err = readFDB(idx)
		fail(PartFDB, err)
		ns.Sysctls, err = readSysctls(procRoot)
		fail(PartSysctls, err)
		ns.Listening, err = readListening(procRoot)
		fail(PartListening, err)
		ns.IPVS, err = readIPVS()
		fail(PartIPVS, err)
		ns.Recent, err = readRecent(procRoot)
		fail(PartRecent, err)

		ns.IPTables, ns.IPTablesBackend, err = readIPTables(ctx)
		fail(PartIPTables, err)
		skip := map[string]bool{}
		if ns.IPTablesBackend == BackendNFT {
			skip = savedTables(ns.IPTables)
		}
		ns.NFTables, err = readNFTables(ctx, skip, ns.IPTablesBackend == BackendNFT)
		fail(PartNFTables, err)
		ns.IPSets, err = readIPSets(ctx)
		fail(PartIPSets, err)
		return nil
	})
	fail(PartNetNS, err)
	ns.SetDigests()
	return ns
}

// ProbeSpec is a real connection attempt to send.
type ProbeSpec struct {
	// FromPod is "<namespace>/<name>" of a pod in Options.Pods; empty means the node.
	FromPod string
	To      netip.Addr
	// Protocol is TCP, UDP or ICMP.
	Protocol string
	Port     uint16
	Timeout  time.Duration
}
