package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func (l *Lab) bin(rel string) string { return filepath.Join(l.cfg.BinDir, rel) }

func (l *Lab) logPath(name string) string { return filepath.Join(l.cfg.Dir, "logs", name+".log") }

// startControlPlane runs etcd, kube-apiserver and kube-controller-manager in the control-plane
// namespace, where the nodes reach the API server over the underlay at controlPlaneIP:6443,
// and opens the root-namespace forwarder on 127.0.0.1 for tests and kubectl.
func (l *Lab) startControlPlane(ctx context.Context) error {
	cp := l.ns("cp")
	dir := l.cfg.Dir
	etcd, err := startProcess("etcd", cp, l.logPath("etcd"), []string{
		l.bin("k8s/current/etcd"),
		"--name=ndlab", "--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
		"--initial-cluster=ndlab=http://127.0.0.1:2380",
		// A throwaway cluster: durability buys nothing and fsync on a shared disk costs seconds.
		"--unsafe-no-fsync", "--log-level=warn",
	}, startOptions{})
	if err != nil {
		return err
	}
	l.procs.add(etcd)

	p := l.pki
	realFlags, err := l.realNodeAPIServerFlags()
	if err != nil {
		return err
	}
	api, err := startProcess("kube-apiserver", cp, l.logPath("kube-apiserver"), append([]string{
		l.bin("k8s/current/kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379",
		"--bind-address=0.0.0.0", "--secure-port=" + strconv.Itoa(apiServerPort),
		"--advertise-address=" + controlPlaneIP.String(),
		"--tls-cert-file=" + p.path(serverCertFile), "--tls-private-key-file=" + p.path(serverKeyFile),
		"--client-ca-file=" + p.path(caCertFile),
		"--token-auth-file=" + p.path(tokenFile),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.path(saPubFile),
		"--service-account-signing-key-file=" + p.path(saKeyFile),
		"--service-cluster-ip-range=" + serviceCIDR.String(),
		"--authorization-mode=" + l.authorizationModes(),
		// Collector pods are privileged hostNetwork pods, as on a real cluster.
		"--allow-privileged=true",
		"--cert-dir=" + filepath.Join(dir, "pki", "apiserver"),
		"--profiling=false", "--v=1",
	}, realFlags...), startOptions{})
	if err != nil {
		return err
	}
	l.procs.add(api)

	if err := l.startForwarder(); err != nil {
		return err
	}
	l.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(l.kubeconfig, "https://"+l.apiAddr.String(), p.caPEM, p.adminToken); err != nil {
		return err
	}
	inside := l.insideAPIServer()
	if err := writeKubeconfig(l.adminInsidePath(), inside, p.caPEM, p.adminToken); err != nil {
		return err
	}
	if err := writeKubeconfig(l.proxyKubeconfigPath(), inside, p.caPEM, p.proxyToken); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", l.kubeconfig)
	if err != nil {
		return fmt.Errorf("load lab kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	l.rest = cfg
	if l.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("build lab client: %w", err)
	}
	if err := l.waitAPIReady(ctx, etcd, api); err != nil {
		return err
	}

	kcm, err := startProcess("kube-controller-manager", cp, l.logPath("kube-controller-manager"), []string{
		l.bin("k8s/current/kube-controller-manager"),
		"--kubeconfig=" + l.adminInsidePath(),
		"--authentication-kubeconfig=" + l.adminInsidePath(),
		"--authorization-kubeconfig=" + l.adminInsidePath(),
		"--bind-address=127.0.0.1", "--leader-elect=false",
		"--service-account-private-key-file=" + p.path(saKeyFile),
		"--root-ca-file=" + p.path(caCertFile),
		"--allocate-node-cidrs=true", "--cluster-cidr=" + clusterCIDR.String(), "--node-cidr-mask-size=24",
		"--service-cluster-ip-range=" + serviceCIDR.String(),
		"--controllers=*",
		"--cert-dir=" + filepath.Join(dir, "pki", "kcm"),
		"--profiling=false", "--v=1",
	}, startOptions{})
	if err != nil {
		return err
	}
	l.procs.add(kcm)
	return nil
}

// insideAPIServer is the API server's URL for components inside the lab, which reach it
// over the underlay.
func (l *Lab) insideAPIServer() string {
	return "https://" + netip.AddrPortFrom(controlPlaneIP, uint16(apiServerPort)).String()
}

func (l *Lab) adminInsidePath() string { return filepath.Join(l.cfg.Dir, "kubeconfig-inside") }

func (l *Lab) proxyKubeconfigPath() string { return filepath.Join(l.cfg.Dir, "kubeconfig-kube-proxy") }

// waitAPIReady waits for /readyz and for the default service account machinery to be able to
// work (the default namespace exists).
func (l *Lab) waitAPIReady(ctx context.Context, procs ...*process) error {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	return waitFor(ctx, "the API server to be ready", 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		for _, p := range procs {
			if p.exited() {
				return false, fmt.Errorf("%s exited, see %s", p.name, l.logPath(p.name))
			}
		}
		body, err := l.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil || string(body) != "ok" {
			return false, err
		}
		_, err = l.client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		return err == nil, err
	})
}

// startForwarder listens on 127.0.0.1 in the root namespace and relays each connection to
// the API server through a socket opened in the control-plane namespace: the root namespace
// gets no lab address or route.
func (l *Lab) startForwarder() error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(l.cfg.APIPort)))
	if err != nil {
		return fmt.Errorf("listen for the API server forwarder: %w", err)
	}
	l.apiAddr = ln.Addr().(*net.TCPAddr).AddrPort()
	l.closers = append(l.closers, ln)
	target := netip.AddrPortFrom(controlPlaneIP, uint16(apiServerPort)).String()
	cp := l.ns("cp")
	l.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(c, cp, target)
		}
	})
	return nil
}

func relay(down net.Conn, ns, target string) {
	defer down.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	up, err := dialIn(ctx, ns, "tcp", target)
	cancel()
	if err != nil {
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	wg.Go(func() { pipe(up, down) })
	pipe(down, up)
	wg.Wait()
}

// ensureNamespace creates a namespace if it does not exist.
func ensureNamespace(ctx context.Context, c kubernetes.Interface, name string) error {
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
