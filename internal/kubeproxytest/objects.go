package kubeproxytest

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"
)

// Namespace holds every Pod, Service and EndpointSlice of a recording.
const Namespace = "shop"

// Pod is a running pod; its app label is its name up to the first dash.
type Pod struct {
	Name, Node, IP string
	Ports          []corev1.ContainerPort
	// NotReady leaves the pod's Ready condition false.
	NotReady bool
}

// Endpoint is an endpoint of a slice: a pod, and whether it is ready, serving, terminating.
type Endpoint struct {
	Pod                         string
	Ready, Serving, Terminating bool
}

// Up is a ready, serving endpoint.
func Up(pod string) Endpoint { return Endpoint{Pod: pod, Ready: true, Serving: true} }

// Service is a Service with its one EndpointSlice, as the endpointslice controller would
// write it (the recording runs no controller manager).
type Service struct {
	Service corev1.Service
	// SlicePorts are the resolved target ports, by service port name.
	SlicePorts []discoveryv1.EndpointPort
	Endpoints  []Endpoint
	// LBIngress, when set, is written to the status as the load balancer's VIP.
	LBIngress string
}

// NewService is a Service in Namespace that selects app=name, ClusterIP unless spec says
// otherwise.
func NewService(name, clusterIP string, spec corev1.ServiceSpec) corev1.Service {
	spec.ClusterIP = clusterIP
	spec.ClusterIPs = []string{clusterIP}
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	spec.Selector = map[string]string{"app": name}
	return corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name}, Spec: spec}
}

// TCP is a TCP service port.
func TCP(name string, port int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: target}
}

// SlicePort is an EndpointSlice port.
func SlicePort(name string, proto corev1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(port)}
}

// Slice is the one EndpointSlice of svc, named and labelled as the endpointslice controller
// writes it.
func Slice(svc *corev1.Service, ports []discoveryv1.EndpointPort, endpoints []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: svc.Namespace, Name: svc.Name + "-x1",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: "endpointslice-controller.k8s.io"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       ports,
		Endpoints:   endpoints,
	}
}

// NamespaceObject is the Namespace of a recording.
func NamespaceObject() *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}
}

// Nodes are the Ready nodes of a recording, with their status: node-a (172.18.0.2, pods
// 10.244.1.0/24) and node-b (172.18.0.3, 10.244.2.0/24).
func Nodes() []*corev1.Node {
	var nodes []*corev1.Node
	for _, n := range []struct{ name, ip, cidr string }{{"node-a", "172.18.0.2", "10.244.1.0/24"}, {"node-b", "172.18.0.3", "10.244.2.0/24"}} {
		nodes = append(nodes, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.name, Labels: map[string]string{"kubernetes.io/hostname": n.name}},
			Spec:       corev1.NodeSpec{PodCIDR: n.cidr, PodCIDRs: []string{n.cidr}},
			Status: corev1.NodeStatus{
				Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.ip}, {Type: corev1.NodeHostName, Address: n.name}},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now(), Reason: "KubeletReady"}},
			},
		})
	}
	return nodes
}

// PodObject is p running in Namespace, with the status its kubelet would report.
func PodObject(p Pod) *corev1.Pod {
	app, _, _ := strings.Cut(p.Name, "-")
	ready := corev1.ConditionTrue
	if p.NotReady {
		ready = corev1.ConditionFalse
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: p.Name, Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{NodeName: p.Node, Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10", Ports: p.Ports}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: p.IP, PodIPs: []corev1.PodIP{{IP: p.IP}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}},
		},
	}
}

// Create writes the cluster through the API: Namespace, the Ready nodes node-a (172.18.0.2,
// pods 10.244.1.0/24) and node-b (172.18.0.3, 10.244.2.0/24), the pods with their status, and
// each service with its status and slice. It returns the objects in the order it made them.
func Create(t testing.TB, ctx context.Context, c client.Client, pods []Pod, services []Service) []client.Object {
	t.Helper()
	var objs []client.Object
	create := func(o client.Object) {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
		objs = append(objs, o)
	}
	create(NamespaceObject())
	for _, node := range Nodes() {
		status := node.Status
		create(node)
		node.Status = status
		if err := c.Status().Update(ctx, node); err != nil {
			t.Fatalf("node %s status: %v", node.Name, err)
		}
	}
	byName := map[string]Pod{}
	for _, p := range pods {
		byName[p.Name] = p
		pod := PodObject(p)
		status := pod.Status
		create(pod)
		pod.Status = status
		if err := c.Status().Update(ctx, pod); err != nil {
			t.Fatalf("pod %s status: %v", p.Name, err)
		}
	}
	for _, s := range services {
		svc := s.Service.DeepCopy()
		create(svc)
		if s.LBIngress != "" {
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: s.LBIngress, IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}}
			if err := c.Status().Update(ctx, svc); err != nil {
				t.Fatalf("service %s status: %v", svc.Name, err)
			}
		}
		slice := Slice(svc, s.SlicePorts, []discoveryv1.Endpoint{})
		for _, e := range s.Endpoints {
			p, ok := byName[e.Pod]
			if !ok {
				t.Fatalf("service %s: endpoint names unknown pod %s", svc.Name, e.Pod)
			}
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{p.IP},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(e.Ready), Serving: ptr.To(e.Serving), Terminating: ptr.To(e.Terminating)},
				NodeName:   ptr.To(p.Node),
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: Namespace, Name: p.Name},
			})
		}
		create(slice)
	}
	return objs
}

// ListYAML is the objects as one v1 List, without the fields that change on every recording
// and that the engine never reads.
func ListYAML(t testing.TB, objs []client.Object) []byte {
	t.Helper()
	var items []any
	for _, o := range objs {
		gvk, err := apiutil.GVKForObject(o, clientgoscheme.Scheme)
		if err != nil {
			t.Fatalf("kind of %T: %v", o, err)
		}
		o.GetObjectKind().SetGroupVersionKind(gvk)
		o.SetManagedFields(nil)
		o.SetResourceVersion("")
		o.SetUID("")
		o.SetCreationTimestamp(metav1.Time{})
		o.SetGeneration(0)
		items = append(items, o)
	}
	b, err := yaml.Marshal(map[string]any{"apiVersion": "v1", "kind": "List", "items": items})
	if err != nil {
		t.Fatalf("marshal objects: %v", err)
	}
	return b
}
