package diagnose

import (
	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
)

// Verdict is the answer to a diagnosis.
type Verdict string

const (
	Reachable   Verdict = "Reachable"
	Unreachable Verdict = "Unreachable"
	Unknown     Verdict = "Unknown"
	// PartiallyReachable: some branches (a service's endpoints, the entry nodes from
	// outside) deliver and others are dropped, so some connections fail.
	PartiallyReachable Verdict = "PartiallyReachable"
)

// Input is everything the engine reads.
type Input struct {
	Cluster *cluster.Snapshot
	// Nodes holds each collected node's snapshot by node name. A node the path crosses but
	// that is missing here lowers confidence instead of failing the diagnosis.
	Nodes    map[string]*netstack.NodeSnapshot
	Question model.Question
	// NetworkPlugin is the plugin to simulate, or "auto" (or empty) to detect it.
	NetworkPlugin string
	// NetworkPluginConfig overrides the plugin's options for this diagnosis, keyed by the
	// option's flag name without the plugin's prefix ("mode" for --calico-mode).
	NetworkPluginConfig map[string]string
}

// Result is the engine's answer.
type Result struct {
	Verdict Verdict
	// Suspicions are ordered most severe first.
	Suspicions []model.Suspicion
	Path       *model.PacketPath
	// Trace is every step of the packet's way in order, per NetNode: the explanation.
	Trace []model.Step
	// Summary says the answer in one line.
	Summary string
	// NetworkPlugin is the plugin that was simulated.
	NetworkPlugin string
}
