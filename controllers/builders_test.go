package controllers

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// Fluent builders for the objects the tests create.

// DiagnosisWrapper builds a NetworkDiagnosis.
type DiagnosisWrapper struct{ diagv1alpha1.NetworkDiagnosis }

// MakeDiagnosis starts a TCP diagnosis with no endpoints.
func MakeDiagnosis(name, namespace string) *DiagnosisWrapper {
	return &DiagnosisWrapper{diagv1alpha1.NetworkDiagnosis{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
	}}
}

func (w *DiagnosisWrapper) Obj() *diagv1alpha1.NetworkDiagnosis { return w.NetworkDiagnosis.DeepCopy() }

func (w *DiagnosisWrapper) FromPod(name string) *DiagnosisWrapper {
	w.Spec.Source.Pod = &diagv1alpha1.PodReference{Name: name}
	return w
}

func (w *DiagnosisWrapper) FromNode(name string) *DiagnosisWrapper {
	w.Spec.Source.Node = &diagv1alpha1.NodeReference{Name: name}
	return w
}

func (w *DiagnosisWrapper) FromIP(ip string) *DiagnosisWrapper {
	w.Spec.Source.IP = ip
	return w
}

func (w *DiagnosisWrapper) ToPod(name string, port int32) *DiagnosisWrapper {
	w.Spec.Destination.Pod = &diagv1alpha1.PodReference{Name: name}
	return w.Port(port)
}

func (w *DiagnosisWrapper) ToService(name string, port int32) *DiagnosisWrapper {
	w.Spec.Destination.Service = &diagv1alpha1.ServiceReference{Name: name}
	return w.Port(port)
}

func (w *DiagnosisWrapper) ToNode(name string) *DiagnosisWrapper {
	w.Spec.Destination.Node = &diagv1alpha1.NodeReference{Name: name}
	return w
}

func (w *DiagnosisWrapper) ToIP(ip string) *DiagnosisWrapper {
	w.Spec.Destination.IP = ip
	return w
}

// Port sets the port; 0 leaves it unset.
func (w *DiagnosisWrapper) Port(port int32) *DiagnosisWrapper {
	w.Spec.Port = nil
	if port != 0 {
		w.Spec.Port = ptr.To(port)
	}
	return w
}

func (w *DiagnosisWrapper) Protocol(p diagv1alpha1.Protocol) *DiagnosisWrapper {
	w.Spec.Protocol = p
	return w
}

func (w *DiagnosisWrapper) Timeout(d metav1.Duration) *DiagnosisWrapper {
	w.Spec.Timeout = &d
	return w
}

// PacketSize asks about packets of size bytes; size 0 leaves it unset.
func (w *DiagnosisWrapper) PacketSize(size int32, dontFragment bool) *DiagnosisWrapper {
	if size != 0 {
		w.Spec.PacketSize = &size
	}
	w.Spec.DontFragment = dontFragment
	return w
}

func (w *DiagnosisWrapper) TTL(seconds int32) *DiagnosisWrapper {
	w.Spec.TTLSecondsAfterFinished = ptr.To(seconds)
	return w
}

func (w *DiagnosisWrapper) Probe() *DiagnosisWrapper {
	w.Spec.Probe = true
	return w
}

func (w *DiagnosisWrapper) NetworkPlugin(p string) *DiagnosisWrapper {
	w.Spec.NetworkPlugin = p
	return w
}

// PluginOption overrides one option of the network plugin for this diagnosis.
func (w *DiagnosisWrapper) PluginOption(key, value string) *DiagnosisWrapper {
	if w.Spec.NetworkPluginConfig == nil {
		w.Spec.NetworkPluginConfig = map[string]string{}
	}
	w.Spec.NetworkPluginConfig[key] = value
	return w
}

// PodWrapper builds a workload pod with its status.
type PodWrapper struct{ corev1.Pod }

func MakePod(name, namespace string) *PodWrapper {
	return &PodWrapper{corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}},
	}}
}

func (w *PodWrapper) Obj() *corev1.Pod { return w.Pod.DeepCopy() }

func (w *PodWrapper) Label(k, v string) *PodWrapper {
	w.Labels[k] = v
	return w
}

// On schedules the pod to node and gives it an address, as the scheduler and kubelet would.
func (w *PodWrapper) On(node, ip string) *PodWrapper {
	w.Spec.NodeName = node
	w.Status.Phase = corev1.PodRunning
	w.Status.PodIP = ip
	w.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	return w
}

func (w *PodWrapper) ContainerPort(port int32) *PodWrapper {
	w.Spec.Containers[0].Ports = append(w.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: port, Protocol: corev1.ProtocolTCP})
	return w
}

// NodeWrapper builds a node with its InternalIP.
type NodeWrapper struct{ corev1.Node }

func MakeNode(name string) *NodeWrapper {
	return &NodeWrapper{corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}}
}

func (w *NodeWrapper) Obj() *corev1.Node { return w.Node.DeepCopy() }

func (w *NodeWrapper) IP(ip string) *NodeWrapper {
	w.Status.Addresses = append(w.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip})
	return w
}

func (w *NodeWrapper) PodCIDR(cidr string) *NodeWrapper {
	w.Spec.PodCIDR = cidr
	w.Spec.PodCIDRs = []string{cidr}
	return w
}

func (w *NodeWrapper) Label(key, value string) *NodeWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[key] = value
	return w
}

// Ready sets the node's Ready condition, as its kubelet (True) or the node lifecycle
// controller (Unknown) reports it.
func (w *NodeWrapper) Ready(status corev1.ConditionStatus) *NodeWrapper {
	w.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "Test" + string(status)}}
	return w
}

func (w *NodeWrapper) Taint(key string) *NodeWrapper {
	w.Spec.Taints = append(w.Spec.Taints, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
	return w
}

// ServiceWrapper builds a ClusterIP service; the API server assigns the address.
type ServiceWrapper struct{ corev1.Service }

func MakeService(name, namespace string) *ServiceWrapper {
	return &ServiceWrapper{corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": name}},
	}}
}

func (w *ServiceWrapper) Obj() *corev1.Service { return w.Service.DeepCopy() }

func (w *ServiceWrapper) Selector(app string) *ServiceWrapper {
	w.Spec.Selector = map[string]string{"app": app}
	return w
}

func (w *ServiceWrapper) Port(port, target int32) *ServiceWrapper {
	w.Spec.Ports = append(w.Spec.Ports, corev1.ServicePort{Name: "p" + strconv.Itoa(int(port)), Port: port, TargetPort: intstr.FromInt32(target), Protocol: corev1.ProtocolTCP})
	return w
}

// EndpointSliceWrapper builds the slice the endpoint-slice controller would write.
type EndpointSliceWrapper struct{ discoveryv1.EndpointSlice }

func MakeEndpointSlice(service, namespace string) *EndpointSliceWrapper {
	return &EndpointSliceWrapper{discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: service + "-x1", Namespace: namespace, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}}
}

func (w *EndpointSliceWrapper) Obj() *discoveryv1.EndpointSlice { return w.EndpointSlice.DeepCopy() }

func (w *EndpointSliceWrapper) Port(port int32) *EndpointSliceWrapper {
	w.Ports = append(w.Ports, discoveryv1.EndpointPort{Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)})
	return w
}

// NamedPort adds a port by the name the Service's port has (ServiceWrapper.Port names it
// "p<port>"), as the endpoint-slice controller copies it, so that the engine matches the two.
func (w *EndpointSliceWrapper) NamedPort(port int32) *EndpointSliceWrapper {
	w.Ports = append(w.Ports, discoveryv1.EndpointPort{Name: ptr.To("p" + strconv.Itoa(int(port))), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)})
	return w
}

// Endpoint adds a ready endpoint for pod.
func (w *EndpointSliceWrapper) Endpoint(pod *corev1.Pod) *EndpointSliceWrapper {
	w.Endpoints = append(w.Endpoints, discoveryv1.Endpoint{
		Addresses:  []string{pod.Status.PodIP},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
		NodeName:   ptr.To(pod.Spec.NodeName),
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name},
	})
	return w
}
