package admission

import (
	"context"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

// Two tenants' namespaces, and users bound to the built-in roles (which the controller
// manager fills from the shipped roles' aggregation labels) and to the shipped ones.
const (
	tenantNS = "team-a"
	otherNS  = "team-b"

	editorRole  = "netdiag-networkdiagnosis-editor"
	probeRole   = "netdiag-probe"
	nodesRole   = "netdiag-nodes"
	managerSA   = "system:serviceaccount:netdiag-system:netdiag-manager"
	clusterRoot = "root"
)

// The users. All but editorOnly, viewer and nsAdmin hold the built-in edit in tenantNS.
const (
	// tenant is a namespace editor, and nothing more.
	tenant = "alice"
	// nsAdmin holds the built-in admin in tenantNS.
	nsAdmin = "adam"
	// viewer holds the built-in view in tenantNS.
	viewer = "vera"
	// editorOnly holds netdiag's editor role but may not read the namespace's pods or services.
	editorOnly = "erin"
	// crossReader also holds view in otherNS.
	crossReader = "carol"
	// prober also holds netdiag-probe in tenantNS.
	prober = "paul"
	// proberElsewhere holds netdiag-probe, but only in otherNS.
	proberElsewhere = "pete"
	// nodeViewer holds netdiag-nodes through a ClusterRoleBinding.
	nodeViewer = "nora"
	// nodeLocal holds netdiag-nodes through a RoleBinding in tenantNS only.
	nodeLocal = "nick"
)

// groupsOf holds the groups of the users who have some.
var groupsOf = map[string][]string{
	clusterRoot: {"system:masters"},
	managerSA:   {"system:serviceaccounts", "system:serviceaccounts:netdiag-system"},
}

func setUpTenants(ctx context.Context) {
	GinkgoHelper()
	for _, ns := range []string{tenantNS, otherNS} {
		Expect(admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}
	bind(ctx, tenantNS, "edit", tenant, crossReader, prober, proberElsewhere, nodeViewer, nodeLocal)
	bind(ctx, tenantNS, "admin", nsAdmin)
	bind(ctx, tenantNS, "view", viewer)
	bind(ctx, tenantNS, editorRole, editorOnly)
	bind(ctx, otherNS, "view", crossReader)
	bind(ctx, tenantNS, probeRole, prober)
	bind(ctx, otherNS, probeRole, proberElsewhere)
	bind(ctx, tenantNS, nodesRole, nodeLocal)
	bind(ctx, "", nodesRole, nodeViewer)
}

// bind binds the ClusterRole to the users in the namespace, or cluster-wide when it is empty.
func bind(ctx context.Context, namespace, role string, users ...string) {
	GinkgoHelper()
	var subjects []rbacv1.Subject
	for _, u := range users {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: u})
	}
	ref := rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}
	meta := metav1.ObjectMeta{GenerateName: role + "-", Namespace: namespace}
	var obj client.Object = &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}
	if namespace == "" {
		obj = &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}
	}
	Expect(admin.Create(ctx, obj)).To(Succeed())
}

// diagnosisBuilder builds a NetworkDiagnosis: diagnosis("d", ns).fromPod("", "web").toService(otherNS, "db", 5432).obj().
type diagnosisBuilder struct{ nd diagv1alpha1.NetworkDiagnosis }

// diagnosis starts a TCP diagnosis with no endpoints; the API server picks the name's suffix.
func diagnosis(name, namespace string) *diagnosisBuilder {
	return &diagnosisBuilder{diagv1alpha1.NetworkDiagnosis{ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Namespace: namespace}}}
}

func (b *diagnosisBuilder) obj() *diagv1alpha1.NetworkDiagnosis { return b.nd.DeepCopy() }

// fromPod names the source pod; an empty namespace is the diagnosis's own.
func (b *diagnosisBuilder) fromPod(namespace, name string) *diagnosisBuilder {
	b.nd.Spec.Source = diagv1alpha1.Source{Pod: &diagv1alpha1.PodReference{Namespace: namespace, Name: name}}
	return b
}

func (b *diagnosisBuilder) fromNode(name string) *diagnosisBuilder {
	b.nd.Spec.Source = diagv1alpha1.Source{Node: &diagv1alpha1.NodeReference{Name: name}}
	return b
}

func (b *diagnosisBuilder) fromIP(ip string) *diagnosisBuilder {
	b.nd.Spec.Source = diagv1alpha1.Source{IP: ip}
	return b
}

// toPod names the destination pod and port; an empty namespace is the diagnosis's own.
func (b *diagnosisBuilder) toPod(namespace, name string, port int32) *diagnosisBuilder {
	b.nd.Spec.Destination = diagv1alpha1.Destination{Pod: &diagv1alpha1.PodReference{Namespace: namespace, Name: name}}
	b.nd.Spec.Port = ptr.To(port)
	return b
}

// toService names the destination service and port; an empty namespace is the diagnosis's own.
func (b *diagnosisBuilder) toService(namespace, name string, port int32) *diagnosisBuilder {
	b.nd.Spec.Destination = diagv1alpha1.Destination{Service: &diagv1alpha1.ServiceReference{Namespace: namespace, Name: name}}
	b.nd.Spec.Port = ptr.To(port)
	return b
}

func (b *diagnosisBuilder) toNode(name string, port int32) *diagnosisBuilder {
	b.nd.Spec.Destination = diagv1alpha1.Destination{Node: &diagv1alpha1.NodeReference{Name: name}}
	b.nd.Spec.Port = ptr.To(port)
	return b
}

func (b *diagnosisBuilder) toIP(ip string, port int32) *diagnosisBuilder {
	b.nd.Spec.Destination = diagv1alpha1.Destination{IP: ip}
	b.nd.Spec.Port = ptr.To(port)
	return b
}

func (b *diagnosisBuilder) probe() *diagnosisBuilder {
	b.nd.Spec.Probe = true
	return b
}
