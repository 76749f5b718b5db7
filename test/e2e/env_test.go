package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/netdiag/netdiag/test/lab"
	"github.com/netdiag/netdiag/test/shipped"
)

const (
	// controllerNamespace holds the manager's collector pods and their snapshots.
	controllerNamespace = "netdiag-system"
	// shopNamespace holds the workload the specs diagnose.
	shopNamespace = "shop"
	// nodePort is the web Service's NodePort, reached from the lab's external host.
	nodePort = 30080
)

// env is one lab with the controller running on it and the shop deployed: what every spec
// of a mode shares.
type env struct {
	mode   lab.Mode
	proxy  lab.ProxyMode
	lab    *lab.Lab
	client client.WithWatch
	// upTook is how long lab.Up took.
	upTook time.Duration

	manager    *exec.Cmd
	managerLog string
	managerErr chan error
	// metricsAddr is where the manager serves its metrics, on 127.0.0.1.
	metricsAddr string
}

// plugin is the network plugin the lab's mode is, as netdiag names it.
func (e *env) plugin() string {
	if e.mode == lab.ModeKindnet {
		return "kindnet"
	}
	if e.mode == lab.ModeCanal {
		return "canal"
	}
	if e.mode.Flannel() {
		return "flannel"
	}
	return "calico"
}

// startEnvNodes is startEnv with a lab of nodes nodes (0: the lab's default, 2).
func startEnvNodes(ctx context.Context, name string, mode lab.Mode, proxy lab.ProxyMode, nodes int) *env {
	return startEnv(ctx, name, mode, proxy, func(c *lab.Config) { c.Nodes = nodes })
}

// startEnv brings a lab up in mode, installs netdiag's CRD and collector RBAC, deploys the
// shop and starts the manager. Everything is undone by stop. configure, when given, changes
// the lab's Config before it comes up.
func startEnv(ctx context.Context, name string, mode lab.Mode, proxy lab.ProxyMode, configure ...func(*lab.Config)) *env {
	e := &env{mode: mode, proxy: proxy}
	dir, err := os.MkdirTemp("", "ndE2E-"+name+"-")
	Expect(err).NotTo(HaveOccurred())
	start := time.Now()
	cfg := lab.Config{
		Name: name, Mode: mode, ProxyMode: proxy, Dir: filepath.Join(dir, "lab"),
		Images: map[string]string{collectorImage: netdiagBinary},
		Log:    GinkgoLogr.WithName(name),
	}
	for _, c := range configure {
		c(&cfg)
	}
	l, err := lab.Up(ctx, cfg)
	Expect(err).NotTo(HaveOccurred(), "bring the lab up")
	e.upTook = time.Since(start)
	e.lab = l
	e.managerLog = filepath.Join(dir, "manager.log")
	GinkgoWriter.Printf("Lab %s (%s, kube-proxy %s) up in %s\n", name, mode, proxy, e.upTook.Round(time.Millisecond))

	e.client, err = client.NewWithWatch(l.RESTConfig(), client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	_, err = envtest.InstallCRDs(l.RESTConfig(), envtest.CRDInstallOptions{
		Paths: []string{filepath.Join(repoRoot, "config", "crd", "bases")}, ErrorIfPathMissing: true,
	})
	Expect(err).NotTo(HaveOccurred(), "install the NetworkDiagnosis CRD")
	e.create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: controllerNamespace, Labels: controllerNamespaceLabels()}})
	e.applyFile(ctx, filepath.Join(repoRoot, "config", "collector", "collector_rbac.yaml"))
	// The collectors write their snapshots under the policy a cluster gets.
	e.applyFile(ctx, filepath.Join(repoRoot, "config", "collector", "collector_policy.yaml"))
	e.applyFile(ctx, filepath.Join(repoRoot, "config", "manager", "priorityclass.yaml"))
	e.declarePlugin(ctx)
	e.deployShop(ctx)
	e.startManager()
	return e
}

// stop ends the manager and takes the lab down; on failure it prints the manager's log.
func (e *env) stop(ctx context.Context) {
	if e == nil {
		return
	}
	e.stopManager()
	if CurrentSpecReport().Failed() {
		e.dumpManagerLog()
	}
	if e.lab != nil {
		Expect(e.lab.Down(ctx)).To(Succeed(), "take the lab down")
	}
	if e.managerLog != "" {
		_ = os.RemoveAll(filepath.Dir(e.managerLog))
	}
}

func (e *env) dumpManagerLog() {
	data, err := os.ReadFile(e.managerLog)
	if err != nil {
		return
	}
	if len(data) > 20000 {
		data = data[len(data)-20000:]
	}
	GinkgoWriter.Printf("--- manager log (tail)\n%s\n", data)
}

// startManager runs `netdiag manager` as a process with the lab's kubeconfig, as `make run`
// runs it against a cluster. The process gets SIGKILL if the suite dies: it is started from
// an OS thread that stays locked for as long as the process lives, since the parent-death
// signal follows the thread that forked, not the process.
func (e *env) startManager() {
	logFile, err := os.Create(e.managerLog)
	Expect(err).NotTo(HaveOccurred())
	e.metricsAddr = freeLocalAddr()
	cmd := exec.Command(netdiagBinary, "manager",
		"--kubeconfig", e.lab.Kubeconfig(),
		"--namespace", controllerNamespace,
		"--collector-image", collectorImage,
		"--metrics-bind-address", e.metricsAddr,
		"--health-probe-bind-address", "0",
		"--max-concurrent-reconciles", "8",
		// The figures time 50 diagnoses started at once in one namespace: throughput, not
		// the load caps, which the controller suite shows.
		"--max-diagnoses-per-namespace", "0", "--max-diagnoses", "0", "--max-collector-pods", "0",
		"-v", "1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	e.managerErr = make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// The thread is never unlocked: it ends with this goroutine, after the process.
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		err := cmd.Wait()
		logFile.Close()
		e.managerErr <- err
	}()
	Expect(<-started).To(Succeed(), "start netdiag manager")
	e.manager = cmd
}

// stopManager ends the manager process, if one runs, and waits for it to exit.
func (e *env) stopManager() {
	if e.manager == nil || e.manager.Process == nil {
		return
	}
	_ = e.manager.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.managerErr:
	case <-time.After(10 * time.Second):
		_ = e.manager.Process.Kill()
		<-e.managerErr
	}
	e.manager, e.managerErr = nil, nil
}

// managerRunning fails the spec when the manager process has exited.
func (e *env) managerRunning() {
	select {
	case err := <-e.managerErr:
		e.managerErr <- err
		e.dumpManagerLog()
		Fail(fmt.Sprintf("netdiag manager exited: %v", err))
	default:
	}
}

func (e *env) create(ctx context.Context, obj client.Object) {
	GinkgoHelper()
	Eventually(func() error {
		err := e.client.Create(ctx, obj)
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}).WithTimeout(30*time.Second).Should(Succeed(), "create %T %s", obj, obj.GetName())
}

// applyFile creates every object of a multi-document YAML file.
func (e *env) applyFile(ctx context.Context, path string) {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	objs, err := shipped.Decode(path, data)
	Expect(err).NotTo(HaveOccurred())
	for _, obj := range objs {
		e.create(ctx, obj)
	}
}

// declarePlugin creates the DaemonSet a real install of the lab's network plugin has, so
// that the controller's plugin auto-detection finds it. The lab runs flanneld (or lays
// calico's routes) outside pods, so the DaemonSet selects no node and runs nothing.
func (e *env) declarePlugin(ctx context.Context) {
	name, image := "kube-flannel-ds", "ghcr.io/flannel-io/flannel:v0.28.4"
	if !e.mode.Flannel() {
		name, image = "calico-node", "docker.io/calico/node:v3.31.0"
	}
	if e.mode == lab.ModeKindnet {
		name, image = "kindnet", "docker.io/kindest/kindnetd:v20250512-df8de77b"
	}
	containers := []corev1.Container{{Name: "node", Image: image}}
	if e.mode == lab.ModeCanal {
		name, containers = "canal", []corev1.Container{{Name: "calico-node", Image: "docker.io/calico/node:v3.31.0"}, {Name: "kube-flannel", Image: "ghcr.io/flannel-io/flannel:v0.28.4"}}
	}
	labels := map[string]string{"app": name}
	e.create(ctx, &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "kube-system"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"netdiag.dev/lab-runs-it-outside-pods": "true"},
					Containers:   containers,
				},
			},
		},
	})
}

// The shop: web and api on node-1, db on node-2; api serves TCP 8080 and UDP 5353.
var shopPods = map[string]struct {
	node  string
	ports []corev1.ContainerPort
}{
	"web": {"node-1", []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}},
	"api": {"node-1", []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}, {ContainerPort: 5353, Protocol: corev1.ProtocolUDP}}},
	"db":  {"node-2", []corev1.ContainerPort{{ContainerPort: 5432, Protocol: corev1.ProtocolTCP}}},
}

func (e *env) deployShop(ctx context.Context) {
	e.create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: shopNamespace}})
	for name, p := range shopPods {
		e.create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shopNamespace, Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{
				NodeSelector: map[string]string{"kubernetes.io/hostname": p.node},
				Containers:   []corev1.Container{e.lab.WorkloadContainer(name, "shop/"+name+":1", p.ports)},
			},
		})
	}
	e.create(ctx, service("web", "web", corev1.ServiceTypeNodePort,
		corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), NodePort: nodePort, Protocol: corev1.ProtocolTCP}))
	e.create(ctx, service("api", "api", corev1.ServiceTypeClusterIP,
		corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP},
		corev1.ServicePort{Name: "dns", Port: 53, TargetPort: intstr.FromInt32(5353), Protocol: corev1.ProtocolUDP}))
	e.create(ctx, service("db", "db", corev1.ServiceTypeClusterIP,
		corev1.ServicePort{Name: "pg", Port: 5432, TargetPort: intstr.FromInt32(5432), Protocol: corev1.ProtocolTCP}))
	for name, p := range shopPods {
		pod, err := e.lab.WaitPodRunning(ctx, shopNamespace, name)
		Expect(err).NotTo(HaveOccurred())
		Expect(pod.Spec.NodeName).To(Equal(p.node), "pod %s's node", name)
	}
}

func service(name, app string, typ corev1.ServiceType, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: shopNamespace},
		Spec:       corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": app}, Ports: ports},
	}
}

// pod returns a shop pod as it runs now.
func (e *env) pod(ctx context.Context, name string) *corev1.Pod {
	GinkgoHelper()
	pod := &corev1.Pod{}
	Expect(e.client.Get(ctx, client.ObjectKey{Namespace: shopNamespace, Name: name}, pod)).To(Succeed())
	return pod
}

func (e *env) podIP(ctx context.Context, name string) netip.Addr {
	GinkgoHelper()
	return netip.MustParseAddr(e.pod(ctx, name).Status.PodIP)
}

func (e *env) podNetns(name string) string {
	GinkgoHelper()
	ns, ok := e.lab.PodNetns(shopNamespace, name)
	Expect(ok).To(BeTrue(), "network namespace of pod %s", name)
	return ns
}

func (e *env) node(name string) lab.Node {
	GinkgoHelper()
	n, ok := e.lab.Node(name)
	Expect(ok).To(BeTrue(), "node %s", name)
	return n
}

func (e *env) clusterIP(ctx context.Context, name string) netip.Addr {
	GinkgoHelper()
	svc := &corev1.Service{}
	Expect(e.client.Get(ctx, client.ObjectKey{Namespace: shopNamespace, Name: name}, svc)).To(Succeed())
	return netip.MustParseAddr(svc.Spec.ClusterIP)
}

// createService creates a Service for one spec and deletes it when the spec ends.
func (e *env) createService(ctx context.Context, svc *corev1.Service) {
	GinkgoHelper()
	e.create(ctx, svc)
	DeferCleanup(func(ctx SpecContext) {
		Expect(client.IgnoreNotFound(e.client.Delete(ctx, svc))).To(Succeed())
	})
}
