// Package kindnettest builds test clusters in kindnet's layout (Layout, a fixture.Layout):
// the node and pod state the CNI ptp and host-local plugins and kindnetd lay, from the
// kindnet package's constants; TwoNodes is the flow tests' workload laid out that way.
package kindnettest
