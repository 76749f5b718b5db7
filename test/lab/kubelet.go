package lab

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// kubelet stands in for the kubelet of every lab node, and for the scheduler: it binds
// unscheduled pods, wires bound pods through CNI, serves their container ports, runs the
// command of hostNetwork pods whose image it knows, reports status, and tears pods down when
// they are deleted.
type kubelet struct {
	l      *Lab
	queue  workqueue.TypedRateLimitingInterface[string]
	lister corelisters.PodLister
	stopCh chan struct{}
	wg     sync.WaitGroup

	mu   sync.Mutex
	pods map[string]*podState // by namespace/name
	next int                  // round-robin scheduling
}

// podState is what the stand-in holds for a running pod.
type podState struct {
	uid     types.UID
	node    *Node
	netns   string // the pod's own namespace; empty for hostNetwork pods
	ip      netip.Addr
	started metav1.Time
	closers []io.Closer
	procs   map[string]*process // by container name
	saDir   string
}

func newKubelet(l *Lab) *kubelet {
	return &kubelet{
		l:      l,
		queue:  workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]()),
		stopCh: make(chan struct{}),
		pods:   map[string]*podState{},
	}
}

func (k *kubelet) start(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(k.l.client, 0)
	inf := factory.Core().V1().Pods()
	k.lister = inf.Lister()
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			k.queue.Add(key)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	factory.Start(k.stopCh)
	for typ, ok := range factory.WaitForCacheSync(k.stopCh) {
		if !ok {
			return fmt.Errorf("sync informer for %v", typ)
		}
	}
	// Pods are wired in parallel: collectors on every node start at once.
	for range 4 {
		k.wg.Go(func() {
			for k.work(ctx) {
			}
		})
	}
	// A pod's command ends without any API event; a ticker notices and reports the exit.
	k.wg.Go(func() {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-k.stopCh:
				return
			case <-t.C:
			}
			k.mu.Lock()
			for key, st := range k.pods {
				for _, p := range st.procs {
					if p.exited() {
						k.queue.Add(key)
						break
					}
				}
			}
			k.mu.Unlock()
		}
	})
	return nil
}

// stop ends the workers and tears every pod down.
func (k *kubelet) stop(ctx context.Context) error {
	select {
	case <-k.stopCh:
		return nil
	default:
	}
	close(k.stopCh)
	k.queue.ShutDown()
	k.wg.Wait()
	k.mu.Lock()
	defer k.mu.Unlock()
	var errs []error
	for key, st := range k.pods {
		errs = append(errs, k.teardown(ctx, st))
		delete(k.pods, key)
	}
	return errors.Join(errs...)
}

func (k *kubelet) work(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	if err := k.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			k.l.cfg.Log.Error(err, "Sync Pod", "pod", key)
		}
		k.queue.AddRateLimited(key)
		return true
	}
	k.queue.Forget(key)
	return true
}

func (k *kubelet) sync(ctx context.Context, key string) error {
	ns, name, _ := strings.Cut(key, "/")
	pod, err := k.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return k.forget(ctx, key, "")
	}
	if err != nil {
		return err
	}
	if pod.Spec.NodeName == "" {
		return k.schedule(ctx, pod)
	}
	if k.l.cfg.NodeKind == NodesReal {
		return nil // the node's own kubelet runs it
	}
	node := k.nodeFor(pod.Spec.NodeName)
	if node == nil {
		return nil // a node the lab does not run
	}
	if pod.DeletionTimestamp != nil {
		if err := k.forget(ctx, key, ""); err != nil {
			return err
		}
		// The kubelet's last word on a deleted pod: remove it for good once it has stopped.
		err := k.l.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To[int64](0), Preconditions: metav1.NewUIDPreconditions(string(pod.UID)),
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete pod %s: %w", key, err)
		}
		return nil
	}
	if err := k.forget(ctx, key, pod.UID); err != nil { // a pod of the same name, replaced
		return err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	k.mu.Lock()
	st := k.pods[key]
	k.mu.Unlock()
	if st == nil {
		if st, err = k.setup(ctx, pod, node); err != nil {
			return err
		}
		k.mu.Lock()
		k.pods[key] = st
		k.mu.Unlock()
		if err := k.l.writeState(); err != nil {
			return err
		}
	}
	return k.writeStatus(ctx, pod, st)
}

// forget tears down the pod held under key unless it is the pod with uid keep.
func (k *kubelet) forget(ctx context.Context, key string, keep types.UID) error {
	k.mu.Lock()
	st := k.pods[key]
	if st == nil || (keep != "" && st.uid == keep) {
		k.mu.Unlock()
		return nil
	}
	delete(k.pods, key)
	k.mu.Unlock()
	err := k.teardown(ctx, st)
	return errors.Join(err, k.l.writeState())
}

func (k *kubelet) nodeFor(name string) *Node {
	for _, n := range k.l.nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// schedule binds a pod to a node: the node its nodeSelector names by hostname, else the
// next node in turn.
func (k *kubelet) schedule(ctx context.Context, pod *corev1.Pod) error {
	if s := pod.Spec.SchedulerName; s != "" && s != corev1.DefaultSchedulerName {
		return nil
	}
	var node *Node
	if host := pod.Spec.NodeSelector["kubernetes.io/hostname"]; host != "" {
		if node = k.nodeFor(host); node == nil {
			return nil // unschedulable here, as with a real scheduler
		}
	} else {
		k.mu.Lock()
		node = k.l.nodes[k.next%len(k.l.nodes)]
		k.next++
		k.mu.Unlock()
	}
	err := k.l.client.CoreV1().Pods(pod.Namespace).Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node.Name},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("bind pod %s to %s: %w", klogKey(pod), node.Name, err)
	}
	return nil
}

func klogKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

var netnsUnsafe = regexp.MustCompile(`[^a-zA-Z0-9_.-]`)

// podNetnsName names a pod's namespace after the pod, so `ip netns` reads like a pod list.
func (k *kubelet) podNetnsName(pod *corev1.Pod) string {
	return podNetnsName(k.l.cfg.Name, pod.Namespace, pod.Name)
}

func podNetnsName(labName, namespace, podName string) string {
	name := netnsUnsafe.ReplaceAllString(labName+"-pod-"+namespace+"-"+podName, "_")
	if len(name) > 120 {
		name = name[:120]
	}
	return name
}

func (k *kubelet) setup(ctx context.Context, pod *corev1.Pod, node *Node) (*podState, error) {
	st := &podState{uid: pod.UID, node: node, started: metav1.Now(), procs: map[string]*process{}}
	ok := false
	defer func() {
		if !ok {
			_ = k.teardown(context.WithoutCancel(ctx), st)
		}
	}()
	if pod.Spec.HostNetwork {
		st.ip = node.IP
		for _, c := range pod.Spec.Containers {
			if err := k.serve(node.Netns, c, st); err != nil {
				return nil, err
			}
		}
		for _, c := range pod.Spec.Containers {
			if err := k.runCommand(ctx, pod, node, node.Netns, c, st); err != nil {
				return nil, err
			}
		}
		ok = true
		return st, nil
	}
	st.netns = k.podNetnsName(pod)
	if err := addNetns(ctx, st.netns); err != nil {
		return nil, err
	}
	ip, err := k.l.wirePod(ctx, node, st.netns, string(pod.UID), pod.Namespace, pod.Name)
	if err != nil {
		return nil, err
	}
	st.ip = ip
	for _, c := range pod.Spec.Containers {
		if _, runs := k.l.cfg.Images[c.Image]; runs {
			// The command serves the container's ports itself (CoreDNS).
			if err := k.runCommand(ctx, pod, node, st.netns, c, st); err != nil {
				return nil, err
			}
			continue
		}
		if err := k.serve(st.netns, c, st); err != nil {
			return nil, err
		}
	}
	ok = true
	return st, nil
}

// serve answers every container port with an echo server of its protocol.
func (k *kubelet) serve(ns string, c corev1.Container, st *podState) error {
	for _, p := range c.Ports {
		addr := netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p.ContainerPort))
		var closer io.Closer
		var err error
		switch p.Protocol {
		case corev1.ProtocolUDP:
			closer, err = serveUDPEcho(ns, addr)
		case corev1.ProtocolTCP, "":
			closer, err = serveTCPEcho(ns, addr)
		default:
			continue // SCTP: nothing in the lab speaks it
		}
		if err != nil {
			return fmt.Errorf("serve port %d/%s of container %s: %w", p.ContainerPort, p.Protocol, c.Name, err)
		}
		st.closers = append(st.closers, closer)
	}
	return nil
}

func (k *kubelet) teardown(ctx context.Context, st *podState) error {
	for _, p := range st.procs {
		p.stop(2 * time.Second)
	}
	for _, c := range st.closers {
		_ = c.Close()
	}
	if st.saDir != "" {
		_ = os.RemoveAll(st.saDir)
	}
	if st.netns == "" {
		return nil
	}
	return k.l.unwirePod(ctx, st.node, st.netns, string(st.uid))
}

// writeStatus reports the pod as running (ready) or, once every command it runs has exited,
// as Succeeded or Failed with each container's exit code.
func (k *kubelet) writeStatus(ctx context.Context, pod *corev1.Pod, st *podState) error {
	want := podStatus(pod, st)
	if statusEqual(pod.Status, want) {
		return nil
	}
	pod = pod.DeepCopy()
	pod.Status = want
	_, err := k.l.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
		return fmt.Errorf("write status of pod %s: %w", klogKey(pod), err)
	}
	if apierrors.IsConflict(err) {
		return err // retried with the newer pod
	}
	return nil
}

func statusEqual(a, b corev1.PodStatus) bool {
	if a.Phase != b.Phase || a.PodIP != b.PodIP || len(a.ContainerStatuses) != len(b.ContainerStatuses) || len(a.Conditions) != len(b.Conditions) {
		return false
	}
	for i := range a.ContainerStatuses {
		x, y := a.ContainerStatuses[i], b.ContainerStatuses[i]
		if x.Ready != y.Ready || (x.State.Terminated == nil) != (y.State.Terminated == nil) {
			return false
		}
	}
	return true
}

func podStatus(pod *corev1.Pod, st *podState) corev1.PodStatus {
	s := corev1.PodStatus{
		Phase:     corev1.PodRunning,
		HostIP:    st.node.IP.String(),
		HostIPs:   []corev1.HostIP{{IP: st.node.IP.String()}},
		PodIP:     st.ip.String(),
		PodIPs:    []corev1.PodIP{{IP: st.ip.String()}},
		StartTime: &st.started,
		// The API server sets the class at creation from the requests and limits, and
		// rejects any other value afterwards.
		QOSClass: cmp.Or(pod.Status.QOSClass, corev1.PodQOSBestEffort),
	}
	finished, failed := len(st.procs) > 0, false
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "ndlab://" + c.Image,
			ContainerID: "ndlab://" + string(pod.UID) + "-" + c.Name,
			Started:     ptr.To(true), Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: st.started}},
		}
		if p := st.procs[c.Name]; p != nil {
			if p.exited() {
				code := p.exitCode()
				reason := "Completed"
				if code != 0 {
					reason, failed = "Error", true
				}
				cs.Ready, cs.Started = false, ptr.To(false)
				cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: int32(code), Reason: reason, StartedAt: st.started, FinishedAt: metav1.Now(),
					ContainerID: cs.ContainerID,
				}}
			} else {
				finished = false
			}
		}
		s.ContainerStatuses = append(s.ContainerStatuses, cs)
	}
	ready := corev1.ConditionTrue
	if finished {
		ready = corev1.ConditionFalse
		s.Phase = corev1.PodSucceeded
		if failed {
			s.Phase = corev1.PodFailed
		}
	}
	now := metav1.Now()
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodScheduled} {
		s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: st.started})
	}
	for _, t := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
		c := corev1.PodCondition{Type: t, Status: ready, LastTransitionTime: now}
		if finished {
			c.Reason = "PodCompleted"
		}
		s.Conditions = append(s.Conditions, c)
	}
	return s
}

// runCommand runs a container's command in netns (its node's for a hostNetwork pod, else
// the pod's own) when the lab knows the binary that stands for the container's image. The
// binary replaces the command's first word; the rest of the command and the args follow, with $(VAR) expanded from the
// container's environment as the kubelet does.
func (k *kubelet) runCommand(ctx context.Context, pod *corev1.Pod, node *Node, netns string, c corev1.Container, st *podState) error {
	if img, ok := k.l.containerd.image(c.Image); ok {
		return k.runInContainerd(ctx, pod, node, c, st, img)
	}
	bin, ok := k.l.cfg.Images[c.Image]
	if !ok {
		return nil
	}
	env, err := k.containerEnv(ctx, pod, node, c)
	if err != nil {
		return err
	}
	lookup := envMap(env)
	argv := []string{bin}
	if len(c.Command) > 1 {
		argv = append(argv, c.Command[1:]...)
	}
	argv = append(argv, c.Args...)
	for i := 1; i < len(argv); i++ {
		argv[i] = expandVars(argv[i], lookup)
	}
	opt := startOptions{env: env}
	mountToken := pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken
	if mountToken {
		dir, err := k.serviceAccountDir(ctx, pod)
		if err != nil {
			return err
		}
		st.saDir = dir
		opt.env = append(opt.env, "NDLAB_SA_DIR="+dir)
	}
	// The command runs with what its securityContext leaves it, so a pod that asks for too
	// little fails here as it would on a real node.
	opt.shell = containerPrivileges(pod, c).shell(mountToken)
	logName := fmt.Sprintf("pods/%s_%s_%s", pod.Namespace, pod.Name, c.Name)
	p, err := startProcess(logName, netns, k.l.logPath(logName), argv, opt)
	if err != nil {
		return err
	}
	st.procs[c.Name] = p
	return nil
}

// envMap indexes NAME=value pairs by name, for expandVars.
func envMap(env []string) map[string]string {
	out := map[string]string{}
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		out[name] = value
	}
	return out
}

var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)`)

// expandVars replaces $(NAME) with the variable's value when it is defined, as the kubelet
// expands command and args.
func expandVars(s string, env map[string]string) string {
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		if v, ok := env[ref[2:len(ref)-1]]; ok {
			return v
		}
		return ref
	})
}

// containerEnv resolves a container's environment as the kubelet does: the service
// environment, literal values, the downward API, and ConfigMap and Secret keys.
func (k *kubelet) containerEnv(ctx context.Context, pod *corev1.Pod, node *Node, c corev1.Container) ([]string, error) {
	env := []string{
		"HOSTNAME=" + node.Name,
		"KUBERNETES_SERVICE_HOST=" + kubernetesSvcIP.String(),
		"KUBERNETES_SERVICE_PORT=443",
		"KUBERNETES_SERVICE_PORT_HTTPS=443",
		"KUBERNETES_PORT=tcp://" + kubernetesSvcIP.String() + ":443",
	}
	core := k.l.client.CoreV1()
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := core.ConfigMaps(pod.Namespace).Get(ctx, from.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("envFrom ConfigMap %s: %w", from.ConfigMapRef.Name, err)
			}
			for key, v := range cm.Data {
				env = append(env, from.Prefix+key+"="+v)
			}
		case from.SecretRef != nil:
			sec, err := core.Secrets(pod.Namespace).Get(ctx, from.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("envFrom Secret %s: %w", from.SecretRef.Name, err)
			}
			for key, v := range sec.Data {
				env = append(env, from.Prefix+key+"="+string(v))
			}
		}
	}
	for _, e := range c.Env {
		v := e.Value
		if src := e.ValueFrom; src != nil {
			switch {
			case src.FieldRef != nil:
				v = fieldValue(pod, node, src.FieldRef.FieldPath)
			case src.ConfigMapKeyRef != nil:
				cm, err := core.ConfigMaps(pod.Namespace).Get(ctx, src.ConfigMapKeyRef.Name, metav1.GetOptions{})
				if err != nil {
					return nil, fmt.Errorf("env %s from ConfigMap %s: %w", e.Name, src.ConfigMapKeyRef.Name, err)
				}
				v = cm.Data[src.ConfigMapKeyRef.Key]
			case src.SecretKeyRef != nil:
				sec, err := core.Secrets(pod.Namespace).Get(ctx, src.SecretKeyRef.Name, metav1.GetOptions{})
				if err != nil {
					return nil, fmt.Errorf("env %s from Secret %s: %w", e.Name, src.SecretKeyRef.Name, err)
				}
				v = string(sec.Data[src.SecretKeyRef.Key])
			case src.ResourceFieldRef != nil:
				v = "0"
			}
		}
		env = append(env, e.Name+"="+v)
	}
	return env, nil
}

// fieldValue resolves a downward API field path.
func fieldValue(pod *corev1.Pod, node *Node, path string) string {
	switch path {
	case "metadata.name":
		return pod.Name
	case "metadata.namespace":
		return pod.Namespace
	case "metadata.uid":
		return string(pod.UID)
	case "spec.nodeName":
		return node.Name
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName
	case "status.hostIP", "status.podIP":
		return node.IP.String() // only hostNetwork pods run commands
	}
	for _, m := range []struct {
		prefix string
		values map[string]string
	}{{"metadata.labels['", pod.Labels}, {"metadata.annotations['", pod.Annotations}} {
		if key, ok := strings.CutPrefix(path, m.prefix); ok {
			return m.values[strings.TrimSuffix(key, "']")]
		}
	}
	return ""
}

// serviceAccountDir writes what the kubelet projects into kube-api-access: a bound token from
// the TokenRequest API, the cluster CA and the namespace.
func (k *kubelet) serviceAccountDir(ctx context.Context, pod *corev1.Pod) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	tr, err := k.l.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: ptr.To[int64](3600),
			BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request token for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	dir := filepath.Join(k.l.cfg.Dir, "pods", string(pod.UID), "serviceaccount")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create service account directory: %w", err)
	}
	for name, data := range map[string][]byte{
		"token": []byte(tr.Status.Token), "ca.crt": k.l.pki.caPEM, "namespace": []byte(pod.Namespace),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", fmt.Errorf("write service account %s: %w", name, err)
		}
	}
	return dir, nil
}

func (k *kubelet) podNetns(namespace, name string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	st := k.pods[namespace+"/"+name]
	if st == nil {
		return "", false
	}
	if st.netns == "" {
		return st.node.Netns, true
	}
	return st.netns, true
}

func (k *kubelet) podNamespaces() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]string{}
	for key, st := range k.pods {
		ns := st.netns
		if ns == "" {
			ns = st.node.Netns
		}
		out[key] = ns
	}
	return out
}

// WaitPodRunning waits until the pod runs (phase Running, Ready) and returns it.
func (l *Lab) WaitPodRunning(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := waitFor(ctx, "pod "+namespace+"/"+name+" to run", 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		var err error
		pod, err = l.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "", nil
	})
	return pod, err
}
