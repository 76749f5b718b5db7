// Package transporttest makes large, realistic inputs for the transport's tests and
// benchmarks: kube-proxy's iptables rules as iptables-save -c prints them on a busy node.
package transporttest
