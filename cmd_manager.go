package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/controllers"
	"github.com/netdiag/netdiag/internal/dnsname"
	"github.com/netdiag/netdiag/internal/metrics"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/internal/service"
	"github.com/netdiag/netdiag/internal/transport"
)

// managerOptions are the flags of `netdiag manager`.
type managerOptions struct {
	collectorImage  string
	namespace       string
	metrics         metricsOptions
	probeAddr       string
	leaderElect     bool
	kubeconfig      string
	verbosity       int
	concurrency     int
	snapshots       snapshotOptions
	keepSnapshots   bool
	maxServiceNodes int
	clusterDomain   string
	// plugins are the network plugins the controller simulates; their flags, bound to the
	// command's, are the cluster's defaults.
	plugins *plugin.Registry
	load    loadOptions
}

// loadOptions say which plugin the cluster runs and how much diagnoses may run at once.
type loadOptions struct {
	networkPlugin        string
	systemNamespaces     []string
	caps                 controllers.LoadCaps
	priorityClass        string
	tolerateControlPlane bool
	apiViaService        bool
}

// bindLoadFlags binds the flags of detection, load caps and collector placement.
func bindLoadFlags(f *pflag.FlagSet, o *loadOptions, reg *plugin.Registry) {
	def := controllers.DefaultLoadCaps()
	f.StringVar(&o.networkPlugin, "network-plugin", plugin.Auto, "network plugin the cluster runs ("+strings.Join(pluginNames(reg), ", ")+
		"), for diagnoses whose spec.networkPlugin is auto; auto detects it from the nodes and the system namespaces' DaemonSets")
	f.StringSliceVar(&o.systemNamespaces, "system-namespaces", reg.DefaultSystemNamespaces(),
		"namespaces whose DaemonSets detection reads; only cluster administrators should be able to create DaemonSets there")
	f.IntVar(&o.caps.PerNamespace, controllers.FlagMaxPerNamespace, def.PerNamespace, "diagnoses of one namespace collecting or diagnosing at once; more wait in phase Pending (0: no cap)")
	f.IntVar(&o.caps.InFlight, controllers.FlagMaxInFlight, def.InFlight, "diagnoses collecting or diagnosing at once in the cluster; more wait in phase Pending (0: no cap)")
	f.IntVar(&o.caps.CollectorPods, controllers.FlagMaxCollectorPods, def.CollectorPods, "collector pods at work at once; a diagnosis that would exceed it waits (0: no cap)")
	f.StringVar(&o.priorityClass, "collector-priority-class", controllers.DefaultCollectorPriorityClass, `PriorityClass of collector pods (config/manager ships it); "" for none`)
	f.BoolVar(&o.tolerateControlPlane, controllers.FlagTolerateControlPlane, false, "let collectors run on control-plane nodes; otherwise a diagnosis whose path crosses one fails")
	f.BoolVar(&o.apiViaService, controllers.FlagCollectorAPIViaService, false, "collectors reach the API server through the kubernetes Service; by default they go straight to its EndpointSlice's addresses, so that a node's broken Service rules cannot keep its snapshot from arriving")
}

// apply checks the options and sets the registry's detection from them.
func (o *loadOptions) apply(reg *plugin.Registry) error {
	if o.caps.PerNamespace < 0 || o.caps.InFlight < 0 || o.caps.CollectorPods < 0 {
		return fmt.Errorf("--%s, --%s and --%s must not be negative", controllers.FlagMaxPerNamespace, controllers.FlagMaxInFlight, controllers.FlagMaxCollectorPods)
	}
	if err := reg.SetSystemNamespaces(o.systemNamespaces); err != nil {
		return fmt.Errorf("--system-namespaces: %w", err)
	}
	if err := reg.SetClusterPlugin(o.networkPlugin); err != nil {
		return fmt.Errorf("--network-plugin: %w", err)
	}
	return nil
}

// pluginNames are the names --network-plugin accepts.
func pluginNames(reg *plugin.Registry) []string {
	names := []string{plugin.Auto}
	for _, d := range reg.Descriptors() {
		names = append(names, d.Name)
	}
	return names
}

func newManagerCommand() *cobra.Command {
	o := managerOptions{namespace: os.Getenv("POD_NAMESPACE"), plugins: plugins.Registry()}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the NetworkDiagnosis controller",
		Long: `Run the NetworkDiagnosis controller. It watches NetworkDiagnosis objects in every
namespace, runs collector pods (the same image, "netdiag collect") in its own namespace on
the nodes a diagnosis needs, and writes the engine's answer into each object's status.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return runManager(ctrl.SetupSignalHandler(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.collectorImage, "collector-image", "", "image of the collector pods (default: the image of this pod's manager container, found through $POD_NAME)")
	f.StringVar(&o.namespace, "namespace", o.namespace, "namespace of the controller, its collector pods and their snapshots (default $POD_NAMESPACE)")
	o.metrics.bindFlags(f)
	f.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "address the health and readiness probes bind to")
	f.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader, so that only one of several replicas acts")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig to reach the API server (default: in-cluster, then $KUBECONFIG, then ~/.kube/config)")
	f.IntVarP(&o.verbosity, "v", "v", 0, "log verbosity: 1 says what happened, 2 and more how")
	f.IntVar(&o.concurrency, "max-concurrent-reconciles", 4, "diagnoses reconciled at once")
	o.snapshots.bindFlags(f)
	bindLoadFlags(f, &o.load, o.plugins)
	f.IntVar(&o.maxServiceNodes, "max-service-nodes", service.DefaultMaxNodes, "nodes hosting a service's endpoints one diagnosis collects and follows; beyond it, a deterministic spread over them, which the answer reports")
	f.BoolVar(&o.keepSnapshots, "keep-snapshots", false, "keep what the engine read as a support bundle until the diagnosis is deleted, for diagnoses whose spec.keepSnapshots is unset")
	f.StringVar(&o.clusterDomain, "cluster-domain", dnsname.DefaultClusterDomain, "the cluster's DNS domain, as the kubelet's --cluster-domain: destination names are resolved in it")
	// The cluster's network plugin options: a diagnosis starts from these and may override
	// them in spec.networkPluginConfig.
	o.plugins.BindFlags(f)
	return cmd
}

func runManager(ctx context.Context, o managerOptions) error {
	if o.namespace == "" {
		return errors.New("--namespace is required (or set POD_NAMESPACE)")
	}
	if o.plugins == nil {
		o.plugins = plugins.Registry()
	}
	for _, name := range o.plugins.Simulated() {
		if _, err := o.plugins.Config(name, nil); err != nil {
			return err
		}
	}
	if err := o.load.apply(o.plugins); err != nil {
		return err
	}
	log := textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(o.verbosity)))
	ctrl.SetLogger(log)
	klog.SetLogger(log)

	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(diagv1alpha1.AddToScheme(scheme))
	if o.collectorImage == "" {
		var pinned bool
		if o.collectorImage, pinned, err = ownImage(ctx, cfg, scheme, o.namespace, os.Getenv("POD_NAME")); err != nil {
			return err
		}
		if pinned {
			log.Info("Collector image pinned by digest from this manager's Pod", "image", o.collectorImage)
		} else {
			log.Info("Collector image named by tag: this manager's Pod status shows no image digest", "image", o.collectorImage)
		}
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controllers.CacheOptions(o.namespace, o.plugins.SystemNamespaces()...),
		Client:                  controllers.ClientOptions(),
		Metrics:                 o.metrics.serverOptions(),
		HealthProbeBindAddress:  o.probeAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "netdiag.diagnosis.netdiag.dev",
		LeaderElectionNamespace: o.namespace,
		// A new leader starts at once instead of waiting out the old lease.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	// The controller's own metrics, served with controller-runtime's on the same endpoint.
	m := metrics.New(metrics.Options{
		CollectorsInFlight: controllers.CollectorsInFlight(mgr.GetClient(), o.namespace),
		DiagnosesWaiting:   controllers.DiagnosesWaiting(mgr.GetClient()),
	})
	if err := m.Register(ctrlmetrics.Registry); err != nil {
		return err
	}
	r := &controllers.NetworkDiagnosisReconciler{
		Namespace:               o.namespace,
		CollectorImage:          o.collectorImage,
		MaxConcurrentReconciles: o.concurrency,
		SnapshotLimits:          o.snapshots.limits(),
		MaxConcurrentDecodes:    o.snapshots.concurrentDecodes,
		Plugins:                 o.plugins,
		Caps:                    &o.load.caps,
		CollectorPriorityClass:  o.load.priorityClass,
		TolerateControlPlane:    o.load.tolerateControlPlane,
		CollectorAPIViaService:  o.load.apiViaService,
		KeepSnapshots:           o.keepSnapshots,
		MaxServiceNodes:         o.maxServiceNodes,
		ClusterDomain:           o.clusterDomain,
		Metrics:                 m,
	}
	if err := r.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("set up the NetworkDiagnosis controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add readiness check: %w", err)
	}
	log.Info("Starting manager", "namespace", o.namespace, "collectorImage", o.collectorImage, "apiServer", cfg.Host)
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}

// ownImage is the image of the manager container of the pod this process runs in: the
// collector pods run the same image, so that a deployment names it once. pinned says the
// image is named by the digest the node pulled, not by a tag that may move.
func ownImage(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, namespace, podName string) (image string, pinned bool, err error) {
	if podName == "" {
		return "", false, errors.New("--collector-image is required outside a pod (or set POD_NAME)")
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return "", false, fmt.Errorf("create client: %w", err)
	}
	pod := &corev1.Pod{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: podName}, pod); err != nil {
		return "", false, fmt.Errorf("read this manager's Pod %s/%s for its image (or set --collector-image): %w", namespace, podName, err)
	}
	image, pinned = podImage(pod, managerContainer)
	return image, pinned, nil
}

// managerContainer is the name of the manager's container in its Deployment.
const managerContainer = "manager"

// podImage is the image a pod's container runs: the repository and digest the runtime
// reports in its status (repo@sha256:...) when it reports one, so that every collector
// runs the very bytes the manager runs even if the tag moves; the spec's image otherwise
// (a runtime that reports only a local image ID, or a container not started yet). The
// container named name, else the first.
func podImage(pod *corev1.Pod, name string) (image string, pinned bool) {
	if len(pod.Spec.Containers) == 0 {
		return "", false
	}
	spec := pod.Spec.Containers[0]
	for _, ctr := range pod.Spec.Containers {
		if ctr.Name == name {
			spec = ctr
			break
		}
	}
	if strings.Contains(spec.Image, "@sha256:") {
		return spec.Image, true
	}
	for _, st := range pod.Status.ContainerStatuses {
		if st.Name != spec.Name {
			continue
		}
		// Docker's shim prefixed the digest with its own scheme.
		id := strings.TrimPrefix(st.ImageID, "docker-pullable://")
		repo, digest, ok := strings.Cut(id, "@sha256:")
		if ok && repo != "" && !strings.Contains(repo, "://") && len(digest) == 64 {
			return id, true
		}
	}
	return spec.Image, false
}

// restConfig reads the kubeconfig named by the flag, or finds one the usual way.
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := ctrl.GetConfig()
		if err != nil {
			return nil, fmt.Errorf("find a kubeconfig: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	return cfg, nil
}

// snapshotOptions bound what decoding the collectors' snapshots may cost the manager; the
// other transport.Limits keep their defaults.
type snapshotOptions struct {
	maxDecodedMiB     int
	concurrentDecodes int
}

func (o *snapshotOptions) bindFlags(f *pflag.FlagSet) {
	f.IntVar(&o.maxDecodedMiB, "snapshot-max-decoded-mib", transport.DefaultMaxDecodedSize>>20,
		"MiB a node snapshot may decode to (its JSON and iptables rulesets together); a larger one is refused")
	f.IntVar(&o.concurrentDecodes, "max-concurrent-decodes", controllers.DefaultConcurrentDecodes,
		"node snapshots decoded at once by all workers together; each may cost about twice --snapshot-max-decoded-mib")
}

func (o snapshotOptions) limits() transport.Limits {
	return transport.Limits{MaxDecodedSize: o.maxDecodedMiB << 20}
}
