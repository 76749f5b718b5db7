package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Lab is a running lab. Up makes one; Down removes everything it made.
type Lab struct {
	cfg     Config
	pki     *pki
	procs   processes
	closers []io.Closer

	apiAddr    netip.AddrPort // the root-namespace forwarder
	kubeconfig string
	rest       *rest.Config
	client     kubernetes.Interface

	nodes   []*Node
	kubelet *kubelet
	// containerd runs the containers of Config.OCIImages; nil without them.
	containerd *Containerd

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Node is one lab node: a network namespace on the underlay.
type Node struct {
	// Name is the Node object's name ("node-1").
	Name string
	// Netns is the node's network namespace ("ndlab-node-1").
	Netns string
	// IP is the node's underlay (InternalIP) address.
	IP netip.Addr
	// PodCIDR is the node's pod range, from the controller manager's node IPAM.
	PodCIDR netip.Prefix

	index int
	dir   string
}

// Host is a namespace on the underlay that is not a node: the external host.
type Host struct {
	// Netns is the host's network namespace.
	Netns string
	// IP is its underlay address, the nodes' default gateway.
	IP netip.Addr
	// InternetIP stands for an address on the internet: routed to the host, never leaving it.
	InternetIP netip.Addr
}

func (l *Lab) ns(suffix string) string { return l.cfg.Name + "-" + suffix }

// Up brings a lab up and returns once nodes are Ready, kube-proxy runs on every node and the
// pod network is laid. On error everything already made is removed.
func Up(ctx context.Context, cfg Config) (*Lab, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := Check(cfg.BinDir, cfg.Mode); err != nil {
		return nil, err
	}
	start := time.Now()
	// Leftovers of an earlier lab of the same name (a crash, a killed test) go first.
	if err := Sweep(ctx, cfg.Name, cfg.Dir); err != nil {
		return nil, fmt.Errorf("remove leftovers of lab %s: %w", cfg.Name, err)
	}
	if err := markDir(cfg.Dir); err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	l := &Lab{cfg: cfg, cancel: cancel}
	// The kubelet stand-in mounts tokens over this path in private mount namespaces; the
	// directory itself must exist on the shared filesystem. It stays after Down: it looks
	// empty from here while other labs' commands have tokens mounted on it, and removing a
	// mount point detaches their mounts.
	if err := os.MkdirAll(secretsDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", secretsDir, err)
	}
	if err := l.up(ctx, runCtx); err != nil {
		downErr := l.Down(context.WithoutCancel(ctx))
		return nil, errors.Join(err, downErr)
	}
	cfg.Log.Info("Lab up", "name", cfg.Name, "mode", cfg.Mode, "proxyMode", cfg.ProxyMode,
		"nodes", cfg.Nodes, "kubeconfig", l.kubeconfig, "took", time.Since(start).Round(time.Millisecond))
	return l, nil
}

func (l *Lab) up(ctx, runCtx context.Context) error {
	log := l.cfg.Log
	if err := l.layUnderlay(ctx); err != nil {
		return err
	}
	log.V(1).Info("Underlay laid")
	ips := []net.IP{controlPlaneIP.AsSlice(), kubernetesSvcIP.AsSlice()}
	p, err := newPKI(filepath.Join(l.cfg.Dir, "pki"), ips)
	if err != nil {
		return err
	}
	l.pki = p
	if err := l.startControlPlane(ctx); err != nil {
		return err
	}
	log.V(1).Info("Control plane up", "api", l.apiAddr.String())
	if err := l.startNodes(ctx, runCtx); err != nil {
		return err
	}
	if err := l.startContainerd(ctx); err != nil {
		return err
	}
	l.kubelet = newKubelet(l)
	if err := l.kubelet.start(runCtx); err != nil {
		return err
	}
	return l.writeState()
}

// Down stops every process the lab started and removes its namespaces and files. It is safe
// to call more than once.
func (l *Lab) Down(ctx context.Context) error {
	if l.cancel != nil {
		l.cancel()
	}
	var errs []error
	if l.kubelet != nil {
		errs = append(errs, l.kubelet.stop(ctx))
	}
	// Closing the listeners ends the forwarder's accept loop that wg waits for.
	for _, c := range l.closers {
		_ = c.Close()
	}
	l.closers = nil
	l.wg.Wait()
	errs = append(errs, l.containerd.Stop(ctx))
	l.procs.stopAll(5 * time.Second)
	errs = append(errs, Sweep(ctx, l.cfg.Name, l.cfg.Dir))
	return errors.Join(errs...)
}

// Kubeconfig is the path of an admin kubeconfig for the root namespace (127.0.0.1).
func (l *Lab) Kubeconfig() string { return l.kubeconfig }

// RESTConfig is an admin client configuration for the root namespace.
func (l *Lab) RESTConfig() *rest.Config { return rest.CopyConfig(l.rest) }

// Client is an admin clientset.
func (l *Lab) Client() kubernetes.Interface { return l.client }

// Nodes lists the lab's nodes.
func (l *Lab) Nodes() []Node {
	out := make([]Node, len(l.nodes))
	for i, n := range l.nodes {
		out[i] = *n
	}
	return out
}

// Node returns the node called name.
func (l *Lab) Node(name string) (Node, bool) {
	for _, n := range l.nodes {
		if n.Name == name {
			return *n, true
		}
	}
	return Node{}, false
}

// External is the host outside the cluster, on the underlay: the nodes' default gateway,
// serving TCP and UDP echo on ExternalPorts at IP and InternetIP.
func (l *Lab) External() Host {
	return Host{Netns: l.ns("ext"), IP: externalIP, InternetIP: internetIP}
}

// ControlPlane is the namespace the API server runs in and its underlay address.
func (l *Lab) ControlPlane() Host { return Host{Netns: l.ns("cp"), IP: controlPlaneIP} }

// ServiceCIDR and ClusterCIDR are the cluster's ranges.
func (l *Lab) ServiceCIDR() netip.Prefix { return serviceCIDR }
func (l *Lab) ClusterCIDR() netip.Prefix { return clusterCIDR }

// Config is the configuration the lab runs with, defaults filled in.
func (l *Lab) Config() Config { return l.cfg }

// Exec runs a command inside a lab namespace (ip, iptables, sysctl...) and returns its
// combined output: how tests inject faults.
func (l *Lab) Exec(ctx context.Context, netns string, argv ...string) ([]byte, error) {
	return nsExec(ctx, netns, argv...)
}

// PodNetns is the network namespace of a running pod.
func (l *Lab) PodNetns(namespace, name string) (string, bool) {
	return l.kubelet.podNetns(namespace, name)
}

// State is what `ndlab status` and `ndlab exec` read back from <Dir>/state.json.
type State struct {
	Name       string            `json:"name"`
	Mode       Mode              `json:"mode"`
	ProxyMode  ProxyMode         `json:"proxyMode"`
	Kubeconfig string            `json:"kubeconfig"`
	API        string            `json:"api"`
	Nodes      []StateNode       `json:"nodes"`
	External   string            `json:"external"`
	Pods       map[string]string `json:"pods,omitempty"`
	PID        int               `json:"pid"`
}

// StateNode is one node in State.
type StateNode struct {
	Name    string `json:"name"`
	Netns   string `json:"netns"`
	IP      string `json:"ip"`
	PodCIDR string `json:"podCIDR"`
}

const (
	stateFile  = "state.json"
	secretsDir = "/run/secrets"
)

func (l *Lab) writeState() error {
	s := State{Name: l.cfg.Name, Mode: l.cfg.Mode, ProxyMode: l.cfg.ProxyMode, Kubeconfig: l.kubeconfig,
		API: l.apiAddr.String(), External: l.ns("ext"), PID: os.Getpid()}
	for _, n := range l.nodes {
		s.Nodes = append(s.Nodes, StateNode{Name: n.Name, Netns: n.Netns, IP: n.IP.String(), PodCIDR: n.PodCIDR.String()})
	}
	if l.kubelet != nil {
		s.Pods = l.kubelet.podNamespaces()
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := filepath.Join(l.cfg.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return os.Rename(tmp, filepath.Join(l.cfg.Dir, stateFile))
}

// ReadState reads the state a running lab keeps in dir.
func ReadState(dir string) (State, error) {
	var s State
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return s, fmt.Errorf("read lab state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("decode lab state: %w", err)
	}
	return s, nil
}

// layUnderlay makes the underlay bridge and plugs the control plane, the external host and
// the nodes into it. Veth pairs are created directly between the underlay and the target
// namespace, so nothing ever appears in the root namespace.
func (l *Lab) layUnderlay(ctx context.Context) error {
	u := l.ns("underlay")
	hosts := []struct {
		ns, port string
		ip       netip.Addr
	}{
		{l.ns("cp"), "cp", controlPlaneIP},
		{l.ns("ext"), "ext", externalIP},
	}
	for i := 1; i <= l.cfg.Nodes; i++ {
		hosts = append(hosts, struct {
			ns, port string
			ip       netip.Addr
		}{l.ns("node-" + strconv.Itoa(i)), "node-" + strconv.Itoa(i), nodeIP(i)})
	}
	if err := addNetns(ctx, u); err != nil {
		return err
	}
	lines := []string{"link set lo up", "link add br0 type bridge", "link set br0 up"}
	for _, h := range hosts {
		if err := addNetns(ctx, h.ns); err != nil {
			return err
		}
		lines = append(lines,
			fmt.Sprintf("link add %s type veth peer name eth0 netns %s", h.port, h.ns),
			fmt.Sprintf("link set %s master br0 up", h.port))
	}
	if err := batch(ctx, u, lines); err != nil {
		return fmt.Errorf("lay underlay: %w", err)
	}
	bits := underlayPrefix.Bits()
	for _, h := range hosts {
		lines := []string{
			"link set lo up",
			fmt.Sprintf("addr add %s/%d dev eth0", h.ip, bits),
			"link set eth0 up",
		}
		if h.ip != externalIP {
			lines = append(lines, fmt.Sprintf("route add default via %s dev eth0", externalIP))
		}
		if h.ip == externalIP {
			lines = append(lines, fmt.Sprintf("addr add %s/32 dev lo", internetIP))
		}
		if err := batch(ctx, h.ns, lines); err != nil {
			return fmt.Errorf("plug %s into the underlay: %w", h.ns, err)
		}
	}
	// The external host answers on its ports like any server outside the cluster would.
	for _, ip := range []netip.Addr{externalIP, internetIP} {
		for _, port := range ExternalPorts {
			closers, err := serveEcho(l.ns("ext"), netip.AddrPortFrom(ip, port))
			if err != nil {
				return err
			}
			l.closers = append(l.closers, closers...)
		}
	}
	return nil
}
