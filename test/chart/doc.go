// Package chart holds the tests of the Helm chart in dist/chart: rendered by a real helm
// (hack/build-helm.sh) with its default values, it makes the same objects as `kubectl
// kustomize config/default`, the only difference being Helm's own labels and the CRD's keep
// annotation; its values change what they name and nothing else; hack/gen-chart.sh writes
// exactly the chart committed, so that a change to config/ without `make chart` fails; and
// helm installs and uninstalls it on a real etcd and kube-apiserver (envtest).
package chart
