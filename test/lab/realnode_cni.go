package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// writeRealCNIConfigs writes each real node's CNI configuration into its /etc/cni/net.d,
// where containerd's CRI plugin finds it and the kubelet then reports the node's network
// ready. flannel's own CNI plugin only reads flanneld's subnet file and hands the bridge
// plugin a configuration made from it; the lab writes that configuration itself (the same
// one the stand-in hands the bridge plugin), followed by portmap as flannel's manifest has it.
func (l *Lab) writeRealCNIConfigs() error {
	for _, r := range l.real {
		bridge, err := flannelCNIConfig(r.n, filepath.Join(r.n.dir, "ipam"))
		if err != nil {
			return err
		}
		conflist, err := json.MarshalIndent(map[string]any{
			"cniVersion": "1.0.0",
			"name":       "cbr0",
			"plugins": []json.RawMessage{
				bridge,
				json.RawMessage(`{"type": "portmap", "capabilities": {"portMappings": true}}`),
			},
		}, "", "  ")
		if err != nil {
			return fmt.Errorf("encode CNI configuration of %s: %w", r.n.Name, err)
		}
		// Through the node's view of /etc/cni/net.d, which is this directory.
		path := r.path("fs", "etc/cni/net.d", "10-flannel.conflist")
		if err := os.WriteFile(path, conflist, 0o644); err != nil {
			return fmt.Errorf("write CNI configuration of %s: %w", r.n.Name, err)
		}
	}
	return nil
}

// realNodeAPIServerFlags are what the API server needs for real kubelets: a client
// certificate for `kubectl logs` and exec, which the API server forwards to the kubelet, at
// the node's InternalIP.
func (l *Lab) realNodeAPIServerFlags() ([]string, error) {
	if l.cfg.NodeKind != NodesReal {
		return nil, nil
	}
	cert, key, err := l.pki.signClient("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
	if err != nil {
		return nil, err
	}
	return []string{
		"--kubelet-client-certificate=" + cert, "--kubelet-client-key=" + key,
		"--kubelet-preferred-address-types=InternalIP",
	}, nil
}

// authorizationModes are the API server's: RBAC, and the Node authorizer before it where
// real kubelets ask for their pods' secrets and tokens.
func (l *Lab) authorizationModes() string {
	if l.cfg.NodeKind == NodesReal {
		return "Node,RBAC"
	}
	return "RBAC"
}

// CheckNodes reports why nodes of this kind cannot run here, or nil: real nodes need the
// kubelet (hack/build-controlplane.sh), the lab's images (hack/build-pause.sh), containerd,
// runc and nsenter, and run the flannel modes only.
func CheckNodes(binDir string, kind NodeKind) error {
	if kind != NodesReal {
		return nil
	}
	if binDir == "" {
		var err error
		if binDir, err = FindBinDir(); err != nil {
			return err
		}
	}
	var missing []string
	for rel, script := range map[string]string{
		"k8s/current/kubelet":   "hack/build-controlplane.sh",
		"pause/pause.oci.tar":   "hack/build-pause.sh",
		"pause/labecho.oci.tar": "hack/build-pause.sh",
	} {
		if _, err := os.Stat(filepath.Join(binDir, rel)); err != nil {
			missing = append(missing, fmt.Sprintf("%s (run %s)", filepath.Join(binDir, rel), script))
		}
	}
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "nsenter"} {
		if _, err := execLookPath(tool); err != nil {
			missing = append(missing, tool+" (run hack/install-deps.sh)")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing for real nodes: %s", strings.Join(missing, ", "))
	}
	if len(cgroupHierarchies()) == 0 {
		return errors.New("real nodes need the cgroup v1 hierarchies under /sys/fs/cgroup (the kubelet runs with the cgroupfs driver)")
	}
	return nil
}
