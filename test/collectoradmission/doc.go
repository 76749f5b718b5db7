// Package collectoradmission holds the specs of what a collector may write: a real etcd and
// kube-apiserver (envtest) load the collector's service account, Role and admission policy
// of config/collector exactly as shipped, and clients authenticated with service-account
// tokens bound to collector pods (the TokenRequest API, so the pod-name claim the policy
// reads is the API server's own) create, update and delete ConfigMaps. A collector's own
// snapshot is allowed; another pod's, an unowned or any other ConfigMap is refused.
package collectoradmission
