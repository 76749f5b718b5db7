// Package lab brings up a real Kubernetes data plane on one machine, inside network namespaces:
// etcd, kube-apiserver and kube-controller-manager in a control-plane namespace, N nodes as
// namespaces on a shared underlay bridge, pods as namespaces wired by the real CNI plugins,
// flannel (vxlan, host-gw) or calico-style (routed, vxlan) routing between nodes, and the real
// kube-proxy in every node. Only the kubelet is emulated: a stand-in binds pods, wires them
// through CNI, serves their container ports, runs a hostNetwork pod's command in its node's
// namespace and reports status.
//
// The lab is the truth the end-to-end suite checks diagnoses against: Probe sends real
// packets between namespaces and reports what the kernel did.
//
// Nothing the lab does touches the root network namespace's addresses or routes: the API
// server is reached from the root namespace through a forwarder that listens on 127.0.0.1 and
// dials from a socket opened inside the control-plane namespace.
package lab
