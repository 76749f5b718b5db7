package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/test/lab"
)

// The collector as users run it: the netdiag image that `make image` builds, started by a
// real containerd and runc with the collector pod's securityContext (root with four
// capabilities, read-only root filesystem, hostPID, the host's /run/netns, the service
// account token) in its node's network namespace, uploading through the API server.
var _ = Describe("The collector from the image under containerd", Ordered, Label("image"), func() {
	var e *env

	BeforeAll(func(ctx SpecContext) {
		requireLab()
		archive := filepath.Join(repoRoot, "bin", "image", "netdiag.oci.tar")
		if _, err := os.Stat(archive); err != nil {
			Skip("no image archive (make image builds it): " + err.Error())
		}
		for _, bin := range []string{"containerd", "ctr", "runc", "containerd-shim-runc-v2"} {
			if _, err := exec.LookPath(bin); err != nil {
				Skip(bin + " is not installed (hack/install-deps.sh installs it)")
			}
		}
		e = startEnv(ctx, "ndimg", lab.ModeFlannelVXLAN, lab.ProxyIPTables, func(c *lab.Config) {
			// No host binary stands for the image: a collector runs from the image or not at all.
			c.Images = nil
			c.OCIImages = map[string]string{collectorImage: archive}
		})
		DeferCleanup(func(ctx context.Context) {
			if CurrentSpecReport().Failed() {
				dumpCollectorLogs(e.lab.Config().Dir)
			}
			e.stop(ctx)
		})
	}, NodeTimeout(5*time.Minute))

	// Each collector of the spec ran as a container of the lab's containerd: the daemon logs
	// the shim it starts for each, named after the pod's UID and the collector's container.
	expectCollectorContainers := func(atLeast int) {
		GinkgoHelper()
		data, err := os.ReadFile(filepath.Join(e.lab.Containerd().Dir(), "containerd.log"))
		Expect(err).NotTo(HaveOccurred())
		started := regexp.MustCompile(`msg="starting signal loop" namespace=k8s.io path=\S+/[0-9a-f-]{36}-collect `).FindAll(data, -1)
		Expect(len(started)).To(BeNumerically(">=", atLeast), "collector containers started by containerd")
	}

	It("answers a healthy path across nodes from the snapshots the image's collectors uploaded", func(ctx SpecContext) {
		p := paths{e: e, ctx: ctx}
		e.expectDiagnosis(ctx, p.podToPod("web", "db", 5432), reachable())
		expectCollectorContainers(2)
	}, SpecTimeout(3*time.Minute))

	It("finds a DROP in a node's FORWARD chain with the image's iptables", func(ctx SpecContext) {
		p := paths{e: e, ctx: ctx}
		e.iptablesInsert(ctx, e.node("node-2").Netns, "FORWARD", "-d", e.podIP(ctx, "db").String()+"/32", "-j", "DROP")
		e.expectDiagnosis(ctx, p.podToPod("web", "db", 5432), unreachable(model.ReasonIPTablesDrop, "node-2"))
		expectCollectorContainers(4)
	}, SpecTimeout(3*time.Minute))
})

// dumpCollectorLogs prints what the collector containers wrote, as `kubectl logs` would.
func dumpCollectorLogs(labDir string) {
	logs, _ := filepath.Glob(filepath.Join(labDir, "logs", "pods", controllerNamespace+"_*.log"))
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		GinkgoWriter.Printf("--- %s\n%s\n", filepath.Base(path), data)
	}
}
