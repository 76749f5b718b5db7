package controllers

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/transport"
)

func podIn(phase corev1.PodPhase, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{Status: corev1.PodStatus{Phase: phase}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func TestCollectorStatus(t *testing.T) {
	terminated := func(code int32, reason, msg string) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "collect", State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg},
			}}}
		}
	}
	cases := map[string]struct {
		pod  *corev1.Pod
		snap snapshotState
		want diagv1alpha1.CollectorStatus
	}{
		"no pod yet": {
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorPending, Message: "Collector pod not created yet"},
		},
		"pending on an image pull": {
			pod: podIn(corev1.PodPending, func(p *corev1.Pod) {
				p.Status.ContainerStatuses = []corev1.ContainerStatus{{State: corev1.ContainerState{
					Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "pull access denied"},
				}}}
			}),
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorPending, Message: "Collector pod is pending: ImagePullBackOff: pull access denied"},
		},
		"running": {
			pod:  podIn(corev1.PodRunning),
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorRunning, Message: "Collecting"},
		},
		"failed with an exit code": {
			pod: podIn(corev1.PodFailed, terminated(2, "Error", "read routes: operation not permitted\n")),
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonCollectorFailed,
				Message: "Collector pod failed: container collect exited with code 2 (Error): read routes: operation not permitted"},
		},
		"killed by its deadline": {
			pod: podIn(corev1.PodFailed, func(p *corev1.Pod) {
				p.Status.Reason, p.Status.Message = "DeadlineExceeded", "Pod was active on the node longer than the specified deadline"
			}),
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonCollectorFailed,
				Message: "Collector pod failed: DeadlineExceeded; Pod was active on the node longer than the specified deadline"},
		},
		"failed without a word": {
			pod:  podIn(corev1.PodFailed),
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonCollectorFailed, Message: "Collector pod failed: no reason given"},
		},
		"exited without a snapshot": {
			pod:  podIn(corev1.PodSucceeded),
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonCollectorFailed, Message: "Collector pod exited without uploading a complete snapshot"},
		},
		"snapshot complete": {
			pod:  podIn(corev1.PodSucceeded),
			snap: snapshotState{Complete: true},
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorCollected},
		},
		"snapshot complete before the pod reports": {
			pod:  podIn(corev1.PodRunning),
			snap: snapshotState{Complete: true},
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorCollected},
		},
		"snapshot unreadable": {
			pod:  podIn(corev1.PodSucceeded),
			snap: snapshotState{Err: errors.New(`snapshot version "v0", want "v1"`)},
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonCollectorFailed,
				Message: `The snapshot of node n1 cannot be read: snapshot version "v0", want "v1"`},
		},
		"snapshot over a limit": {
			pod:  podIn(corev1.PodSucceeded),
			snap: snapshotState{Err: fmt.Errorf("decode snapshot (gzip-json): %w", &transport.LimitError{What: "decoded size", Max: "64 MiB"})},
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonCollectorFailed,
				Message: "The snapshot of node n1 was refused: decoded size over 64 MiB"},
		},
		"only chunks from an unexpected writer": {
			pod:  podIn(corev1.PodSucceeded),
			snap: snapshotState{Refused: "Refused 1 snapshot ConfigMaps from an unexpected writer (ConfigMap x-0 has no owner, not the collector Pod netdiag-x)"},
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonCollectorFailed,
				Message: "Collector pod exited without uploading a complete snapshot; Refused 1 snapshot ConfigMaps from an unexpected writer (ConfigMap x-0 has no owner, not the collector Pod netdiag-x)"},
		},
		"complete, beside chunks from an unexpected writer": {
			pod:  podIn(corev1.PodSucceeded),
			snap: snapshotState{Complete: true, Refused: "Refused 2 snapshot ConfigMaps from an unexpected writer (...)"},
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorCollected, Message: "Refused 2 snapshot ConfigMaps from an unexpected writer (...)"},
		},
		"pod being deleted": {
			pod:  podIn(corev1.PodRunning, func(p *corev1.Pod) { p.DeletionTimestamp = &metav1.Time{Time: time.Now()} }),
			want: diagv1alpha1.CollectorStatus{Phase: diagv1alpha1.CollectorPending, Message: "Collector pod is being deleted and will be created again"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.want.Node, tc.want.Pod = "n1", "netdiag-x"
			got := collectorStatus("n1", "netdiag-x", tc.pod, tc.snap)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("collectorStatus() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGiveUpAndOutcome(t *testing.T) {
	in := []diagv1alpha1.CollectorStatus{
		{Node: "a", Phase: diagv1alpha1.CollectorCollected},
		{Node: "b", Phase: diagv1alpha1.CollectorRunning, Message: "Collecting"},
		{Node: "c", Phase: diagv1alpha1.CollectorPending},
		{Node: "d", Phase: diagv1alpha1.CollectorFailed, Message: "Collector pod failed: OOMKilled"},
	}
	if got := outcome(in); got.Done {
		t.Errorf("outcome() = %+v, want not done while b and c run", got)
	}
	var after []diagv1alpha1.CollectorStatus
	for _, c := range in {
		after = append(after, giveUp(c, 2*time.Minute))
	}
	want := []diagv1alpha1.CollectorStatus{
		{Node: "a", Phase: diagv1alpha1.CollectorCollected},
		{Node: "b", Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonTimeout, Message: "No snapshot from node b within 2m0s (Collecting)"},
		{Node: "c", Phase: diagv1alpha1.CollectorFailed, Reason: diagv1alpha1.ReasonTimeout, Message: "No snapshot from node c within 2m0s"},
		{Node: "d", Phase: diagv1alpha1.CollectorFailed, Message: "Collector pod failed: OOMKilled"},
	}
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("giveUp() (-want +got):\n%s", diff)
	}
	wantOutcome := collectOutcome{Done: true, Collected: []string{"a"}, Failed: []string{"b", "c", "d"}}
	if diff := cmp.Diff(wantOutcome, outcome(after)); diff != "" {
		t.Errorf("outcome() (-want +got):\n%s", diff)
	}
	wantMsg := "node b: No snapshot from node b within 2m0s (Collecting); node c: No snapshot from node c within 2m0s; node d: Collector pod failed: OOMKilled"
	if got := failureMessage(after); got != wantMsg {
		t.Errorf("failureMessage() = %q, want %q", got, wantMsg)
	}
}

func TestDeadlineAndTTL(t *testing.T) {
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		now         time.Time
		wantExpired bool
		wantLeft    time.Duration
	}{
		"just started":    {now: start, wantLeft: 2 * time.Minute},
		"half way":        {now: start.Add(time.Minute), wantLeft: time.Minute},
		"at the deadline": {now: start.Add(2 * time.Minute), wantExpired: true},
		"past it":         {now: start.Add(3 * time.Minute), wantExpired: true, wantLeft: -time.Minute},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			expired, left := deadline(&metav1.Time{Time: start}, 2*time.Minute, tc.now)
			if expired != tc.wantExpired || left != tc.wantLeft {
				t.Errorf("deadline() = %v, %v; want %v, %v", expired, left, tc.wantExpired, tc.wantLeft)
			}
		})
	}

	done := diagv1alpha1.NetworkDiagnosisStatus{Phase: diagv1alpha1.PhaseSucceeded, CompletionTime: &metav1.Time{Time: start}}
	ttlCases := map[string]struct {
		status              diagv1alpha1.NetworkDiagnosisStatus
		ttl                 *int32
		now                 time.Time
		wantOK, wantExpired bool
		wantLeft            time.Duration
	}{
		"no ttl":           {status: done, now: start.Add(time.Hour)},
		"still running":    {status: diagv1alpha1.NetworkDiagnosisStatus{Phase: diagv1alpha1.PhaseCollecting}, ttl: ptr.To[int32](0), now: start},
		"not yet":          {status: done, ttl: ptr.To[int32](60), now: start.Add(20 * time.Second), wantOK: true, wantLeft: 40 * time.Second},
		"expired":          {status: done, ttl: ptr.To[int32](60), now: start.Add(61 * time.Second), wantOK: true, wantExpired: true, wantLeft: -time.Second},
		"zero deletes now": {status: done, ttl: ptr.To[int32](0), now: start, wantOK: true, wantExpired: true},
	}
	for name, tc := range ttlCases {
		t.Run("ttl "+name, func(t *testing.T) {
			ok, expired, left := ttlLeft(tc.status, tc.ttl, tc.now)
			if ok != tc.wantOK || expired != tc.wantExpired || left != tc.wantLeft {
				t.Errorf("ttlLeft() = %v, %v, %v; want %v, %v, %v", ok, expired, left, tc.wantOK, tc.wantExpired, tc.wantLeft)
			}
		})
	}
}

func TestApplyResult(t *testing.T) {
	web := &model.NetNode{ID: model.PodID("shop", "web"), Type: model.NetNodePod, Name: "shop/web", Node: "n1"}
	n1 := &model.NetNode{ID: model.NodeID("n1"), Type: model.NetNodeNode, Name: "n1", Node: "n1"}
	svc := &model.NetNode{ID: model.ServiceID("shop", "db"), Type: model.NetNodeService, Name: "shop/db"}
	pkt := model.Packet{Src: netip.MustParseAddr("10.244.1.5"), Dst: netip.MustParseAddr("10.96.0.10"), Protocol: model.TCP, SrcPort: 40000, DstPort: 5432}
	path := func(failed ...*model.NetNode) *model.PacketPath {
		p := model.NewPacketPath()
		p.AddLink(web, n1, model.Link{Type: model.LinkVeth, FromInterface: "eth0", ToInterface: "veth1", Packet: pkt})
		p.AddLink(n1, svc, model.Link{Type: model.LinkService})
		for _, f := range failed {
			p.MarkFailed(f)
		}
		return p
	}
	noPort := model.Suspicion{Level: model.Critical, Reason: model.ReasonServicePortMissing, Message: "Service shop/db has no port 5433"}
	plugin := model.Suspicion{Level: model.Info, Reason: model.ReasonPluginUnknown, Message: "Unknown plugin"}
	wantPath := &diagv1alpha1.PacketPath{
		Hops: []diagv1alpha1.Hop{
			{ID: "pod/shop/web", Type: diagv1alpha1.HopPod, Name: "shop/web", Node: "n1"},
			{ID: "node/n1", Type: diagv1alpha1.HopNode, Name: "n1", Node: "n1"},
			{ID: "service/shop/db", Type: diagv1alpha1.HopService, Name: "shop/db"},
		},
		Links: []diagv1alpha1.Link{
			{From: "pod/shop/web", To: "node/n1", Type: "veth", FromInterface: "eth0", ToInterface: "veth1", Packet: "TCP 10.244.1.5:40000 -> 10.96.0.10:5432"},
			{From: "node/n1", To: "service/shop/db", Type: "service"},
		},
	}
	many := make([]model.Suspicion, 70)
	for i := range many {
		many[i] = model.Suspicion{Level: model.Warning, Reason: model.ReasonMTUMismatch, Node: fmt.Sprintf("n%d", i), Message: "MTU"}
	}

	cases := map[string]struct {
		res     *diagnose.Result
		partial []string
		want    diagv1alpha1.NetworkDiagnosisStatus
	}{
		"reachable": {
			res: &diagnose.Result{Verdict: diagnose.Reachable, Suspicions: []model.Suspicion{plugin}, Path: path(), Summary: "Reachable through n1"},
			want: diagv1alpha1.NetworkDiagnosisStatus{
				Verdict: diagv1alpha1.VerdictReachable, Summary: "Reachable through n1", PacketPath: wantPath,
				Suspicions: []diagv1alpha1.Suspicion{{Level: diagv1alpha1.LevelInfo, Reason: "NetworkPluginUnknown", Message: "Unknown plugin"}},
			},
		},
		"unreachable at the service": {
			res: &diagnose.Result{Verdict: diagnose.Unreachable, Suspicions: []model.Suspicion{noPort, plugin}, Path: path(svc), Summary: "Unreachable: no port"},
			want: diagv1alpha1.NetworkDiagnosisStatus{
				Verdict: diagv1alpha1.VerdictUnreachable, Where: "shop/db", Why: "ServicePortMissing", Summary: "Unreachable: no port",
				PacketPath: func() *diagv1alpha1.PacketPath {
					p := wantPath.DeepCopy()
					p.Hops[2].Failed = true
					return p
				}(),
				Suspicions: []diagv1alpha1.Suspicion{
					{Level: diagv1alpha1.LevelCritical, Reason: "ServicePortMissing", Message: "Service shop/db has no port 5433"},
					{Level: diagv1alpha1.LevelInfo, Reason: "NetworkPluginUnknown", Message: "Unknown plugin"},
				},
			},
		},
		"partial, without a path": {
			res:     &diagnose.Result{Verdict: diagnose.Unknown, Suspicions: []model.Suspicion{{Level: model.Info, Reason: model.ReasonSnapshotMissing, Node: "n2", Message: "n2 missing"}}, Path: model.NewPacketPath(), Summary: "Unknown"},
			partial: []string{"n2"},
			want: diagv1alpha1.NetworkDiagnosisStatus{
				Verdict: diagv1alpha1.VerdictUnknown, Where: "n2", Why: "SnapshotMissing", Summary: "Unknown (partial: not collected from n2)",
				Suspicions: []diagv1alpha1.Suspicion{{Level: diagv1alpha1.LevelInfo, Reason: "SnapshotMissing", Node: "n2", Message: "n2 missing"}},
			},
		},
		"too many suspicions": {
			res: &diagnose.Result{Verdict: diagnose.Reachable, Suspicions: many, Summary: "Reachable"},
			want: diagv1alpha1.NetworkDiagnosisStatus{
				Verdict: diagv1alpha1.VerdictReachable, Where: "n0", Why: "MTUMismatch", Summary: "Reachable (6 more suspicions not shown)",
				Suspicions: func() []diagv1alpha1.Suspicion {
					var out []diagv1alpha1.Suspicion
					for _, s := range many[:64] {
						out = append(out, diagv1alpha1.Suspicion{Level: diagv1alpha1.LevelWarning, Reason: "MTUMismatch", Node: s.Node, Message: "MTU"})
					}
					return out
				}(),
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var got diagv1alpha1.NetworkDiagnosisStatus
			applyResult(&got, tc.res, tc.partial)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("applyResult() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPacketPathIsBounded(t *testing.T) {
	p := model.NewPacketPath()
	prev := &model.NetNode{ID: "node/n0", Type: model.NetNodeNode, Name: "n0"}
	for i := 1; i < 300; i++ {
		next := &model.NetNode{ID: fmt.Sprintf("node/n%d", i), Type: model.NetNodeNode, Name: fmt.Sprintf("n%d", i)}
		p.AddLink(prev, next, model.Link{Type: model.LinkHost})
		prev = next
	}
	got := packetPath(p)
	if len(got.Hops) != maxHops || len(got.Links) != maxLinks || !got.Truncated {
		t.Errorf("packetPath() has %d hops, %d links, truncated %v; want %d, %d, true", len(got.Hops), len(got.Links), got.Truncated, maxHops, maxLinks)
	}
}

func TestTruncate(t *testing.T) {
	cases := map[string]struct {
		in   string
		n    int
		want string
	}{
		"short":          {in: "abc", n: 5, want: "abc"},
		"exact":          {in: "abcde", n: 5, want: "abcde"},
		"cut":            {in: "abcdefgh", n: 6, want: "abc..."},
		"on a rune edge": {in: "ééééé", n: 8, want: "éé..."},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := truncate(tc.in, tc.n)
			if got != tc.want || len(got) > tc.n || !utf8.ValidString(got) {
				t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func TestWhereWhyPrefersTheFailedHop(t *testing.T) {
	pod := &model.NetNode{ID: model.PodID("shop", "web"), Type: model.NetNodePod, Name: "shop/web"}
	p := model.NewPacketPath()
	p.MarkFailed(pod)
	res := &diagnose.Result{Verdict: diagnose.Unreachable, Path: p, Suspicions: []model.Suspicion{
		{Level: model.Critical, Reason: model.ReasonRouteMissing, Node: "n1", Pod: "shop/web", Interface: "eth0"},
	}}
	where, why := whereWhy(res)
	if where != "shop/web" || why != "RouteMissing" {
		t.Errorf("whereWhy() = %q, %q; want shop/web, RouteMissing", where, why)
	}
	if !strings.HasPrefix(res.Suspicions[0].Where(), "shop/web") {
		t.Errorf("suspicion place %q", res.Suspicions[0].Where())
	}
}
