// Package kubeproxytest records the rules the real kube-proxy writes, for the fixtures of the
// rule parsers and the service engine: it makes a network namespace that plays node-a, runs
// etcd, kube-apiserver and kube-proxy inside it, creates the cluster's objects through the API
// and waits until the rules name every service. Only the record tests (build tag record) use it.
package kubeproxytest
