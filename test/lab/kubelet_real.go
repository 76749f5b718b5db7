package lab

import (
	"fmt"
	"net/netip"
	"os"

	"sigs.k8s.io/yaml"
)

// kubeletConfig is the node's KubeletConfiguration. What differs from a kubeadm node, and
// why:
//   - failCgroupV1: false and the cgroupfs driver, because machines like this one have the
//     hybrid cgroup v1 layout and no systemd;
//   - cgroupRoot, the node's own cgroup, so the nodes' pods stay apart and Sweep finds them;
//   - no image garbage collection: the images are imported, and nothing could pull them back;
//   - eviction thresholds near zero: the nodes share one machine's memory and disk, and a
//     busy neighbour must not make a lab node evict its pods;
//   - swap allowed, as the machine may have some.
func (r *realNode) kubeletConfig() map[string]any {
	caFile := r.l.pki.path(caCertFile)
	return map[string]any{
		"apiVersion":               "kubelet.config.k8s.io/v1beta1",
		"kind":                     "KubeletConfiguration",
		"failCgroupV1":             false,
		"cgroupDriver":             "cgroupfs",
		"cgroupRoot":               r.cgroupRoot(),
		"failSwapOn":               false,
		"address":                  r.n.IP.String(),
		"port":                     kubeletPort,
		"readOnlyPort":             0,
		"healthzPort":              10248,
		"healthzBindAddress":       "127.0.0.1",
		"containerRuntimeEndpoint": "unix://" + r.containerd.Socket(),
		"clusterDNS":               []string{clusterDNSIP.String()},
		"clusterDomain":            "cluster.local",
		"resolvConf":               "/etc/resolv.conf",
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": caFile},
		},
		"authorization":               map[string]any{"mode": "Webhook"},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"evictionHard": map[string]string{
			"memory.available": "1Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%",
			"imagefs.available": "1%", "imagefs.inodesFree": "1%",
		},
		"serializeImagePulls":       false,
		"nodeStatusReportFrequency": "10s",
		"nodeStatusUpdateFrequency": "10s",
		"enableServer":              true,
		"rotateCertificates":        false,
		"serverTLSBootstrap":        false,
		"protectKernelDefaults":     false,
		"staticPodPath":             "",
		"maxPods":                   110,
	}
}

// kubeletPort is where each kubelet serves logs, exec and its metrics, on the node's
// underlay address: where the API server's `kubectl logs` goes.
const kubeletPort = 10250

// clusterDNSIP is the address kubelets write into pods' resolv.conf. The lab runs no DNS
// server: collectors and the echo workload never resolve names.
var clusterDNSIP = netip.MustParseAddr("10.96.0.10")

// startKubelet writes the kubelet's configuration and credentials (once) and starts it in
// the node's namespaces.
func (r *realNode) startKubelet() error {
	conf, kubeconfig := r.path("kubelet.yaml"), r.path("kubelet.kubeconfig")
	if _, err := os.Stat(kubeconfig); err != nil {
		data, err := yaml.Marshal(r.kubeletConfig())
		if err != nil {
			return fmt.Errorf("encode kubelet configuration of %s: %w", r.n.Name, err)
		}
		if err := os.WriteFile(conf, data, 0o644); err != nil {
			return fmt.Errorf("write kubelet configuration of %s: %w", r.n.Name, err)
		}
		// The identity the Node authorizer knows: it lets the kubelet read what its own pods
		// need (their secrets, their service account tokens) and nothing of other nodes.
		cert, key, err := r.l.pki.signClient("kubelet-"+r.n.Name, "system:node:"+r.n.Name, "system:nodes")
		if err != nil {
			return err
		}
		if err := writeCertKubeconfig(kubeconfig, r.l.insideAPIServer(), r.l.pki.caPEM, cert, key); err != nil {
			return err
		}
	}
	name := "kubelet-" + r.n.Name
	p, err := startProcess(name, r.n.Netns, r.l.logPath(name), r.enter(
		r.l.bin("k8s/current/kubelet"),
		"--config="+conf,
		"--kubeconfig="+kubeconfig,
		"--root-dir=/var/lib/kubelet",
		"--cert-dir="+r.path("kubelet-pki"),
		"--hostname-override="+r.n.Name,
		"--node-ip="+r.n.IP.String(),
		"--node-labels=ndlab.netdiag.dev/lab="+r.l.cfg.Name,
		"--v=2",
	), startOptions{})
	if err != nil {
		return err
	}
	r.l.procs.add(p)
	r.mu.Lock()
	r.kubelet = p
	r.mu.Unlock()
	return nil
}
