// Package canaltest builds test clusters in canal's layout, as the canal DaemonSet lays
// them: flannel's half (flannel.1 or host-gw routes, its annotations and masquerade) from
// flanneltest without its cni0 bridge, and calico's half (the pods' cali veths with proxy
// ARP, felix's policy chains) from calicotest, on the generic builder of internal/fixture.
package canaltest
