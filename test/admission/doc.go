// Package admission holds the specs of who may ask what: a real etcd and kube-apiserver
// (envtest) load the CRD, the ValidatingAdmissionPolicy of config/admission and the roles of
// config/rbac exactly as shipped, a real kube-controller-manager aggregates those roles into
// the built-in admin, edit and view, and impersonated users bound to them create and update
// NetworkDiagnoses. Each admission rule is shown allowing and refusing, with the message that
// names the missing permission; the schema's refusal of addresses no probe may target is
// shown beside them.
package admission
