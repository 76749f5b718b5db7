package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/collector"
	"github.com/netdiag/netdiag/internal/dnsname"
	"github.com/netdiag/netdiag/internal/netnsutil"
)

// CoreDNSImage is the image of the cluster DNS pod; the lab runs bin/coredns/current/coredns
// (hack/build-coredns.sh) for it.
const CoreDNSImage = "registry.k8s.io/coredns/coredns:v1.14.7"

// ClusterDNSIP is the kube-dns Service's cluster IP, as kubeadm allocates it: the kubelet's
// --cluster-dns.
var ClusterDNSIP = netip.MustParseAddr("10.96.0.10")

// ClusterDomain is the lab's cluster domain.
const ClusterDomain = dnsname.DefaultClusterDomain

// coreDNSBinary is where hack/build-coredns.sh leaves CoreDNS, relative to BinDir.
const coreDNSBinary = "coredns/current/coredns"

// withCoreDNS adds CoreDNS's image to the images the kubelet stand-in runs, when the binary
// was built; the caller's map is not changed.
func withCoreDNS(images map[string]string, binDir string) map[string]string {
	bin := filepath.Join(binDir, coreDNSBinary)
	if _, err := os.Stat(bin); err != nil {
		return images
	}
	out := map[string]string{CoreDNSImage: bin}
	for k, v := range images {
		out[k] = v
	}
	return out
}

// corefile is kubeadm's default Corefile without the forwarder (nothing upstream answers DNS
// in the lab): the kubernetes plugin against the API server, through the kubernetes
// Service's address and the pod's service account token, as in a cluster. www.example.com
// stands for a name outside, at the external host's internet address.
func corefile() string {
	return fmt.Sprintf(`.:53 {
    errors
    log
    kubernetes %s in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }
    hosts {
        %s www.example.com
        fallthrough
    }
    loadbalance
}
`, ClusterDomain, internetIP)
}

// DeployCoreDNS runs the cluster DNS as kubeadm deploys it (its service account and
// system:coredns role, a CoreDNS pod labelled k8s-app=kube-dns on node, the kube-dns Service
// at ClusterDNSIP on UDP and TCP 53) and returns once it answers a query from node.
func (l *Lab) DeployCoreDNS(ctx context.Context, node string) error {
	if _, ok := l.cfg.Images[CoreDNSImage]; !ok {
		return fmt.Errorf("no CoreDNS binary at %s (run hack/build-coredns.sh)", filepath.Join(l.cfg.BinDir, coreDNSBinary))
	}
	n, ok := l.Node(node)
	if !ok {
		return fmt.Errorf("no node %s", node)
	}
	conf := filepath.Join(l.cfg.Dir, "coredns", "Corefile")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		return fmt.Errorf("create the Corefile's directory: %w", err)
	}
	if err := os.WriteFile(conf, []byte(corefile()), 0o644); err != nil {
		return fmt.Errorf("write the Corefile: %w", err)
	}
	labels := map[string]string{"k8s-app": "kube-dns"}
	objs := []func() error{
		func() error {
			_, err := l.client.CoreV1().ServiceAccounts("kube-system").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "coredns"}}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := l.client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
				ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"},
				Rules: []rbacv1.PolicyRule{
					{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
					{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
				},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := l.client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"},
				RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "system:coredns"},
				Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "coredns", Namespace: "kube-system"}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			_, err := l.client.CoreV1().Services("kube-system").Create(ctx, &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Labels: labels},
				Spec: corev1.ServiceSpec{ClusterIP: ClusterDNSIP.String(), Selector: labels, Ports: []corev1.ServicePort{
					{Name: "dns", Port: 53, TargetPort: intstr.FromInt32(53), Protocol: corev1.ProtocolUDP},
					{Name: "dns-tcp", Port: 53, TargetPort: intstr.FromInt32(53), Protocol: corev1.ProtocolTCP},
				}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error { return l.StartCoreDNSPod(ctx, n.Name, conf) },
	}
	for _, create := range objs {
		if err := create(); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("deploy CoreDNS: %w", err)
		}
	}
	return l.waitDNS(ctx, n.Netns)
}

// coreDNSPod is the CoreDNS pod's name in kube-system.
const coreDNSPod = "coredns"

// StartCoreDNSPod creates the CoreDNS pod on node, reading the Corefile at conf, with the
// securityContext kubeadm gives it; DeleteCoreDNSPod takes it away (its endpoint goes with
// it).
func (l *Lab) StartCoreDNSPod(ctx context.Context, node, conf string) error {
	_, err := l.client.CoreV1().Pods("kube-system").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: coreDNSPod, Labels: map[string]string{"k8s-app": "kube-dns"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "coredns",
			DNSPolicy:          corev1.DNSDefault,
			NodeSelector:       map[string]string{"kubernetes.io/hostname": node},
			Containers: []corev1.Container{{
				Name: "coredns", Image: CoreDNSImage, Args: []string{"-conf", conf},
				Ports: []corev1.ContainerPort{
					{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
					{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
				},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}, Drop: []corev1.Capability{"ALL"}},
					ReadOnlyRootFilesystem:   ptr.To(true),
				},
			}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create pod kube-system/%s: %w", coreDNSPod, err)
	}
	_, err = l.WaitPodRunning(ctx, "kube-system", coreDNSPod)
	return err
}

// DeleteCoreDNSPod deletes the CoreDNS pod and waits until it is gone.
func (l *Lab) DeleteCoreDNSPod(ctx context.Context) error {
	pods := l.client.CoreV1().Pods("kube-system")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pods.Delete(ctx, coreDNSPod, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod kube-system/%s: %w", coreDNSPod, err)
	}
	return waitFor(ctx, "pod kube-system/"+coreDNSPod+" to go", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, err := pods.Get(ctx, coreDNSPod, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// CoreDNSConf is the Corefile DeployCoreDNS wrote, for StartCoreDNSPod.
func (l *Lab) CoreDNSConf() string { return filepath.Join(l.cfg.Dir, "coredns", "Corefile") }

// waitDNS waits until the cluster DNS answers for the kubernetes Service from netns: CoreDNS
// runs, has synced with the API server, and kube-proxy has its Service's rules.
func (l *Lab) waitDNS(ctx context.Context, netns string) error {
	rc := dnsname.ResolvConf{Nameservers: []netip.Addr{ClusterDNSIP}, Ndots: 1}
	name := "kubernetes.default.svc." + ClusterDomain + "."
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last collector.LookupResult
	err := waitFor(ctx, "the cluster DNS to answer", 250*time.Millisecond, func(ctx context.Context) (bool, error) {
		last = collector.Lookup(ctx, netnsutil.Path(netns), rc, name, false, time.Second)
		return len(last.Addrs) > 0, nil
	})
	if err != nil {
		return fmt.Errorf("%w (last: %s)", err, last.Err)
	}
	return nil
}

// PodResolvConf is the pod's resolv.conf as the kubelet writes it, with the lab's cluster
// DNS and domain and the nodes' own resolv.conf empty.
func (l *Lab) PodResolvConf(ctx context.Context, namespace, name string) (dnsname.ResolvConf, error) {
	pod, err := l.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return dnsname.ResolvConf{}, fmt.Errorf("get pod %s/%s: %w", namespace, name, err)
	}
	rc, ok := dnsname.PodResolvConf(pod, ClusterDomain, []netip.Addr{ClusterDNSIP}, &dnsname.ResolvConf{Ndots: 1})
	if !ok {
		return dnsname.ResolvConf{}, fmt.Errorf("pod %s/%s has no resolver", namespace, name)
	}
	return rc, nil
}

// Resolve sends the real queries a resolver inside the pod sends for host, with the pod's
// resolv.conf, over UDP or TCP, each bounded by timeout.
func (l *Lab) Resolve(ctx context.Context, namespace, name, host string, tcp bool, timeout time.Duration) (collector.LookupResult, error) {
	rc, err := l.PodResolvConf(ctx, namespace, name)
	if err != nil {
		return collector.LookupResult{}, err
	}
	netns, ok := l.PodNetns(namespace, name)
	if !ok {
		return collector.LookupResult{}, fmt.Errorf("pod %s/%s has no network namespace", namespace, name)
	}
	return collector.Lookup(ctx, netnsutil.Path(netns), rc, host, tcp, timeout), nil
}
