package service

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/netdiag/netdiag/internal/kubeproxytest"
)

// The objects testdata/sctp was recorded with: sig, a ClusterIP service with an SCTP port
// (m3ua, 2905) and a TCP port of the same number (diameter, 3868 on both protocols is how
// signalling gateways are exposed), and sig-np, an SCTP NodePort.
var sctpPods = []kubeproxytest.Pod{
	{Name: "sig-1", Node: "node-a", IP: "10.244.1.51", Ports: []corev1.ContainerPort{{Name: "m3ua", ContainerPort: 2905, Protocol: corev1.ProtocolSCTP}, {Name: "diameter", ContainerPort: 3868}}},
	{Name: "sig-2", Node: "node-b", IP: "10.244.2.52", Ports: []corev1.ContainerPort{{Name: "m3ua", ContainerPort: 2905, Protocol: corev1.ProtocolSCTP}, {Name: "diameter", ContainerPort: 3868}}},
}

func sctpServices() []kubeproxytest.Service {
	slicePort, up, svc := kubeproxytest.SlicePort, kubeproxytest.Up, kubeproxytest.NewService
	sctp := corev1.ProtocolSCTP
	return []kubeproxytest.Service{
		{
			Service: svc("sig", "10.96.0.60", corev1.ServiceSpec{Ports: []corev1.ServicePort{
				{Name: "m3ua", Protocol: sctp, Port: 2905, TargetPort: intstr.FromInt32(2905)},
				kubeproxytest.TCP("diameter", 3868, intstr.FromInt32(3868)),
			}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("m3ua", sctp, 2905), slicePort("diameter", corev1.ProtocolTCP, 3868)},
			Endpoints:  []kubeproxytest.Endpoint{up("sig-1"), up("sig-2")},
		},
		{
			Service: svc("sig-np", "10.96.0.61", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{
				{Protocol: sctp, Port: 2905, TargetPort: intstr.FromInt32(2905), NodePort: 30905},
			}}),
			SlicePorts: []discoveryv1.EndpointPort{slicePort("", sctp, 2905)},
			Endpoints:  []kubeproxytest.Endpoint{up("sig-1")},
		},
	}
}
