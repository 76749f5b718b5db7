package controllers

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/netdiag/netdiag/internal/cluster"
)

// clusterSize is the size of a generated cluster.
type clusterSize struct {
	nodes, podsPerNode, namespaces, servicesPerNamespace, policiesPerNamespace int
}

// bigCluster is the size the controller must fit: 5,000 nodes, 150,000 pods, 20,000
// services (each with a slice) and 10,000 NetworkPolicies.
var bigCluster = clusterSize{nodes: 5000, podsPerNode: 30, namespaces: 1000, servicesPerNamespace: 20, policiesPerNamespace: 10}

// fillCluster adds a generated workload to snap, with objects as an API server serves them
// (managed fields, status, volumes, images), so that the cache's transform has its real work.
// Names and addresses stay clear of the fixture clusters': nodes filler-N on 172.24.0.0/16,
// pods on 10.160.0.0/11 (a /24 per node), services on 10.104.0.0/16, namespaces tenant-N.
func fillCluster(snap *cluster.Snapshot, size clusterSize) {
	for i := range size.namespaces {
		snap.Namespaces = append(snap.Namespaces, fatNamespace(i))
	}
	type svcKey struct{ ns, svc int }
	// Indexes into snap.Pods, which moves while it grows.
	backends := map[svcKey][]int{}
	for n := range size.nodes {
		snap.Nodes = append(snap.Nodes, fatNode(n))
		for j := range size.podsPerNode {
			k := n*size.podsPerNode + j
			ns := k % size.namespaces
			svc := (k / size.namespaces) % size.servicesPerNamespace
			ip := netip.AddrFrom4([4]byte{10, byte(160 + n/256), byte(n % 256), byte(j + 1)})
			backends[svcKey{ns, svc}] = append(backends[svcKey{ns, svc}], len(snap.Pods))
			snap.Pods = append(snap.Pods, fatPod(ns, svc, k, n, ip))
		}
	}
	podsOf := func(k svcKey) []*corev1.Pod {
		var out []*corev1.Pod
		for _, i := range backends[k] {
			out = append(out, &snap.Pods[i])
		}
		return out
	}
	for ns := range size.namespaces {
		for s := range size.servicesPerNamespace {
			n := ns*size.servicesPerNamespace + s
			ip := netip.AddrFrom4([4]byte{10, 104, byte(n / 256), byte(n % 256)})
			snap.Services = append(snap.Services, fatService(ns, s, ip))
			snap.EndpointSlices = append(snap.EndpointSlices, fatSlice(ns, s, podsOf(svcKey{ns, s})))
		}
		for p := range size.policiesPerNamespace {
			snap.NetworkPolicies = append(snap.NetworkPolicies, fatPolicy(ns, p, size.servicesPerNamespace))
		}
	}
}

func tenant(ns int) string { return fmt.Sprintf("tenant-%04d", ns) }

// managed is a managedFields entry of about the size a controller's or kubelet's is.
func managed(manager string, fields int) metav1.ManagedFieldsEntry {
	var b strings.Builder
	b.WriteString(`{"f:metadata":{"f:labels":{".":{}`)
	for i := range fields {
		fmt.Fprintf(&b, `,"f:field-%d":{}`, i)
	}
	b.WriteString(`}}}`)
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1",
		Time: &metav1.Time{}, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(b.String())}}
}

func fatNamespace(i int) corev1.Namespace {
	name := tenant(i)
	return corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(fmt.Sprintf("ns-%08d", i)), ResourceVersion: "1",
			Labels:        map[string]string{corev1.LabelMetadataName: name, "team": fmt.Sprintf("team-%d", i%50)},
			ManagedFields: []metav1.ManagedFieldsEntry{managed("kubectl", 5)}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	}
}

func fatNode(n int) corev1.Node {
	name := fmt.Sprintf("filler-%d", n)
	ip := netip.AddrFrom4([4]byte{172, 24, byte(n / 250), byte(1 + n%250)})
	cidr := fmt.Sprintf("10.%d.%d.0/24", 160+n/256, n%256)
	var images []corev1.ContainerImage
	for i := range 40 {
		images = append(images, corev1.ContainerImage{
			Names:     []string{fmt.Sprintf("registry.example.com/team/image-%d@sha256:%064d", i, i), fmt.Sprintf("registry.example.com/team/image-%d:v1.%d", i, i)},
			SizeBytes: int64(100_000_000 + i),
		})
	}
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi"), corev1.ResourcePods: resource.MustParse("110")}
	return corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(fmt.Sprintf("node-%08d", n)), ResourceVersion: "1",
			Labels: map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"topology.kubernetes.io/zone": fmt.Sprintf("zone-%d", n%3), "node.kubernetes.io/instance-type": "m5.4xlarge"},
			Annotations:   map[string]string{"node.alpha.kubernetes.io/ttl": "0", "volumes.kubernetes.io/controller-managed-attach-detach": "true"},
			ManagedFields: []metav1.ManagedFieldsEntry{managed("kubelet", 40), managed("kube-controller-manager", 5)}},
		Spec: corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}, ProviderID: "aws:///zone/i-" + name},
		Status: corev1.NodeStatus{
			Capacity: res, Allocatable: res,
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}, {Type: corev1.NodeHostName, Address: name}},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
				{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
				{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
			},
			NodeInfo: corev1.NodeSystemInfo{MachineID: fmt.Sprintf("%032d", n), SystemUUID: fmt.Sprintf("%036d", n), BootID: fmt.Sprintf("%036d", n),
				KernelVersion: "6.8.0", OSImage: "Ubuntu 24.04 LTS", ContainerRuntimeVersion: "containerd://2.0.0", KubeletVersion: "v1.37.2",
				OperatingSystem: "linux", Architecture: "amd64"},
			Images: images,
		},
	}
}

func fatPod(ns, svc, k, node int, ip netip.Addr) corev1.Pod {
	app := fmt.Sprintf("app-%d", svc)
	name := fmt.Sprintf("%s-7f9c6d5b8-%06d", app, k)
	nodeName := fmt.Sprintf("filler-%d", node)
	hostIP := netip.AddrFrom4([4]byte{172, 24, byte(node / 250), byte(1 + node%250)}).String()
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	cond := func(t corev1.PodConditionType) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tenant(ns), UID: types.UID(fmt.Sprintf("pod-%08d", k)), ResourceVersion: "1",
			GenerateName: app + "-7f9c6d5b8-",
			Labels:       map[string]string{"app": app, "pod-template-hash": "7f9c6d5b8"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: app + "-7f9c6d5b8",
				UID: types.UID(fmt.Sprintf("rs-%08d", ns*100+svc)), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{managed("kube-controller-manager", 20), managed("kubelet", 30)}},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3607), Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				}}}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "registry.example.com/team/" + app + ":v1.2.3",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{{Name: "LOG_LEVEL", Value: "info"}, {Name: "PORT", Value: "8080"},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
				Resources:              corev1.ResourceRequirements{Requests: res, Limits: res},
				VolumeMounts:           []corev1.VolumeMount{{Name: "kube-api-access", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}},
				ReadinessProbe:         &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}, PeriodSeconds: 10},
				TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy: corev1.PullIfNotPresent,
			}},
			RestartPolicy: corev1.RestartPolicyAlways, DNSPolicy: corev1.DNSClusterFirst, ServiceAccountName: "default",
			NodeName: nodeName, SchedulerName: "default-scheduler", Priority: ptr.To[int32](0),
			Tolerations: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
				{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](300)},
			},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{cond(corev1.PodReadyToStartContainers), cond(corev1.PodInitialized), cond(corev1.PodReady), cond(corev1.ContainersReady), cond(corev1.PodScheduled)},
			HostIP:     hostIP, HostIPs: []corev1.HostIP{{IP: hostIP}},
			PodIP: ip.String(), PodIPs: []corev1.PodIP{{IP: ip.String()}},
			StartTime: &metav1.Time{},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Started: ptr.To(true),
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				Image:       "registry.example.com/team/" + app + ":v1.2.3",
				ImageID:     fmt.Sprintf("registry.example.com/team/%s@sha256:%064d", app, svc),
				ContainerID: fmt.Sprintf("containerd://%064d", k)}},
			QOSClass: corev1.PodQOSGuaranteed,
		},
	}
}

func fatService(ns, s int, ip netip.Addr) corev1.Service {
	app := fmt.Sprintf("app-%d", s)
	return corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: tenant(ns), UID: types.UID(fmt.Sprintf("svc-%08d", ns*100+s)), ResourceVersion: "1",
			Annotations:   map[string]string{lastApplied: `{"apiVersion":"v1","kind":"Service","metadata":{"name":"` + app + `"},"spec":{"ports":[{"name":"http","port":80,"targetPort":8080}],"selector":{"app":"` + app + `"}}}`},
			ManagedFields: []metav1.ManagedFieldsEntry{managed("kubectl-client-side-apply", 10)}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ip.String(), ClusterIPs: []string{ip.String()},
			Selector: map[string]string{"app": app}, SessionAffinity: corev1.ServiceAffinityNone,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}, IPFamilyPolicy: ptr.To(corev1.IPFamilyPolicySingleStack),
			InternalTrafficPolicy: ptr.To(corev1.ServiceInternalTrafficPolicyCluster),
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
	}
}

func fatSlice(ns, s int, pods []*corev1.Pod) discoveryv1.EndpointSlice {
	app := fmt.Sprintf("app-%d", s)
	es := discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: app + "-x7k2p", Namespace: tenant(ns), ResourceVersion: "1",
			Labels:        map[string]string{discoveryv1.LabelServiceName: app, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"},
			ManagedFields: []metav1.ManagedFieldsEntry{managed("kube-controller-manager", 10)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, p := range pods {
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{p.Status.PodIP},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)},
			NodeName:   ptr.To(p.Spec.NodeName),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID},
		})
	}
	return es
}

func fatPolicy(ns, p, services int) networkingv1.NetworkPolicy {
	tcp := corev1.ProtocolTCP
	port := intstr.FromString("http")
	return networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("allow-%d", p), Namespace: tenant(ns), ResourceVersion: "1",
			ManagedFields: []metav1.ManagedFieldsEntry{managed("kubectl", 10)}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", p%services)}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{
					NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("team-%d", (ns+p)%50)}},
					PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app-%d", (p+1)%services)}},
				}},
				Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
			}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
}
