// Package kindnettest builds test clusters in kindnet's layout: the node and pod state the
// CNI ptp and host-local plugins and kindnetd lay (HostState, PodState, MasqRules,
// DaemonSet), and TwoNodes, the flow tests' workload laid out that way.
package kindnettest
