package kubectlcmd

import (
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/bundle"
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

var _ = Describe("kubectl netdiag bundle", func() {
	It("writes the bundle the controller kept for a diagnosis, and says how to ask it again", func(ctx SpecContext) {
		ns := newNamespace(ctx, "")
		controllerNS := newNamespace(ctx, "netdiag-system")
		nd := &diagv1alpha1.NetworkDiagnosis{
			ObjectMeta: metav1.ObjectMeta{Name: "kept", Namespace: ns},
			Spec: diagv1alpha1.NetworkDiagnosisSpec{
				Source:      diagv1alpha1.Source{Pod: &diagv1alpha1.PodReference{Name: "web"}},
				Destination: diagv1alpha1.Destination{Pod: &diagv1alpha1.PodReference{Name: "db"}},
				Protocol:    diagv1alpha1.ProtocolTCP, Port: new(int32(5432)), KeepSnapshots: new(true),
			},
		}
		Expect(admin.Create(ctx, nd)).To(Succeed())

		// The bundle as the controller keeps it: a tarball in ConfigMaps of its namespace.
		q := bundle.NewQuestion(ns+"/kept", cluster.EndpointRef{Type: model.EndpointPod, Namespace: ns, Name: "web"},
			cluster.EndpointRef{Type: model.EndpointPod, Namespace: ns, Name: "db"}, model.TCP, 5432, "flannel", nil)
		tarball, err := (&bundle.Bundle{Question: q, Cluster: &cluster.Snapshot{Pods: []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}}}}}).Tarball()
		Expect(err).NotTo(HaveOccurred())
		for _, cm := range bundle.ConfigMaps(tarball, controllerNS, nd.UID) {
			Expect(admin.Create(ctx, cm)).To(Succeed())
		}

		path := filepath.Join(GinkgoT().TempDir(), "kept.tar.gz")
		got := run(ctx, "bundle", "kept", "-n", ns, "-o", path)
		Expect(got.code).To(Equal(0), got.stderr)
		Expect(got.stdout).To(Equal(bundle.Hint(path, q)))
		Expect(got.stdout).To(ContainSubstring("netdiag diagnose --snapshot " + path + " --source pod:" + ns + "/web"))
		back, err := bundle.Read(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(back.Question).To(Equal(q), "the file holds the question the controller kept")
		Expect(back.Cluster.Pods).To(HaveLen(1))

		missing := run(ctx, "bundle", "kept-not", "-n", ns, "-o", path+".2")
		Expect(missing.code).To(Equal(ExitNoAnswer))
		Expect(strings.ToLower(missing.stderr)).To(ContainSubstring("not found"))
	}, SpecTimeout(time.Minute))
})
