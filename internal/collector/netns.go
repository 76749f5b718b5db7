package collector

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/netdiag/netdiag/internal/netstack"
)

// DefaultNetNSDirs are the places container runtimes and `ip netns` bind-mount network
// namespaces: iproute2, containerd and CRI-O use /var/run/netns (often /run/netns behind a
// symlink), Docker /var/run/docker/netns.
var DefaultNetNSDirs = []string{"/var/run/netns", "/run/netns", "/var/run/docker/netns", "/run/docker/netns"}

// nsKey identifies a network namespace: the nsfs inode that every path to it (a bind mount
// under /var/run/netns, /proc/<pid>/ns/net) resolves to.
type nsKey struct{ dev, ino uint64 }

func statNetNS(path string) (nsKey, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return nsKey{}, fmt.Errorf("stat %s: %w", path, err)
	}
	return nsKey{dev: st.Dev, ino: st.Ino}, nil
}

// PodNetNS is where a pod's network namespace was found.
type PodNetNS struct {
	Pod  netstack.PodRef
	Path string
	// Also lists other namespaces that hold the pod's IP too (a leftover namespace of a
	// deleted pod, say). One wired to this node by a veth wins over those that are not,
	// which are left out; among equals the first one found wins and the others are
	// reported.
	Also []string
}

// FindPodNetNS finds the network namespaces of pods by their IP, without asking a container
// runtime: first the namespaces bind-mounted in dirs, then those of every process under
// procRoot (which needs hostPID), each namespace looked at once however many paths lead to
// it. A pod whose IP no namespace holds is missing from the result.
func FindPodNetNS(ctx context.Context, pods []netstack.PodRef, dirs []string, procRoot string) (map[netip.Addr]*PodNetNS, error) {
	want := map[netip.Addr]netstack.PodRef{}
	for _, p := range pods {
		want[p.IP.Unmap()] = p
	}
	found := map[netip.Addr]*PodNetNS{}
	// attached[a] says the namespace found for a hangs off this node by a veth.
	attached := map[netip.Addr]bool{}
	peers := peerNamespaces()
	seen := map[nsKey]bool{}
	var errs []error

	look := func(path string) {
		key, err := statNetNS(path)
		if err != nil || seen[key] {
			return
		}
		seen[key] = true
		addrs, err := namespaceAddrs(path)
		if err != nil {
			// Namespaces come and go while we look; one we cannot read is not an error of
			// the pod we are after.
			return
		}
		ours := isPeerNamespace(path, peers)
		for _, a := range addrs {
			p, ok := want[a]
			if !ok {
				continue
			}
			f := found[a]
			switch {
			case f == nil:
				found[a], attached[a] = &PodNetNS{Pod: p, Path: path}, ours
			case ours && !attached[a]:
				// A namespace wired to this node beats one that only holds the address
				// (another node's pod on a machine that runs several, a leftover).
				found[a], attached[a] = &PodNetNS{Pod: p, Path: path}, true
			case ours == attached[a]:
				f.Also = append(f.Also, path)
			}
		}
	}

	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("list network namespaces in %s: %w", dir, err))
			}
			continue
		}
		for _, e := range entries {
			if ctx.Err() != nil {
				return found, ctx.Err()
			}
			look(filepath.Join(dir, e.Name()))
		}
	}
	if len(found) == len(want) || procRoot == "" {
		return found, errors.Join(errs...)
	}

	entries, err := os.ReadDir(procRoot)
	if err != nil {
		errs = append(errs, fmt.Errorf("list processes in %s: %w", procRoot, err))
		return found, errors.Join(errs...)
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if ctx.Err() != nil {
			return found, ctx.Err()
		}
		look(filepath.Join(procRoot, e.Name(), "ns", "net"))
		if len(found) == len(want) {
			break
		}
	}
	return found, errors.Join(errs...)
}

// peerNamespaces returns the ids (as the calling thread's namespace numbers them) of the
// namespaces its veths lead to: a pod's namespace is wired to its node by a veth, so the
// node holds an id for it that its end of the veth names.
func peerNamespaces() map[int]bool {
	links, err := netlink.LinkList()
	if err != nil {
		return nil
	}
	out := map[int]bool{}
	for _, l := range links {
		if id := l.Attrs().NetNsID; id >= 0 && l.Type() == "veth" {
			out[id] = true
		}
	}
	return out
}

// isPeerNamespace reports whether the namespace at path is one of peers.
func isPeerNamespace(path string, peers map[int]bool) bool {
	if len(peers) == 0 {
		return false
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return false
	}
	defer ns.Close()
	id, err := netlink.GetNetNsIdByFd(int(ns))
	return err == nil && id >= 0 && peers[id]
}

// namespaceAddrs lists the addresses on every interface of a namespace, through a netlink
// socket opened there (no thread of ours enters it).
func namespaceAddrs(path string) ([]netip.Addr, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink in network namespace %s: %w", path, err)
	}
	defer h.Close()
	list, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return nil, fmt.Errorf("list addresses in network namespace %s: %w", path, err)
	}
	out := make([]netip.Addr, 0, len(list))
	for _, a := range list {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// retryDump repeats a netlink dump that the kernel interrupted because the table changed
// under it; the last interrupted result is still better than none.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var (
		out []T
		err error
	)
	for range 5 {
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}
