package controllers

import (
	"strings"
	"testing"
	"time"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
)

func TestAdmit(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ns, name string, minute int, running bool, pods int) load {
		return load{namespace: ns, name: name, created: t0.Add(time.Duration(minute) * time.Minute), running: running, pods: pods}
	}
	caps := LoadCaps{PerNamespace: 2, InFlight: 3, CollectorPods: 6}
	cases := map[string]struct {
		caps   LoadCaps
		self   load
		others []load
		want   admission
		// message holds words the message must carry.
		message []string
	}{
		"room everywhere": {caps: caps, self: at("a", "x", 5, false, 2),
			others: []load{at("a", "r1", 0, true, 1), at("b", "r2", 0, true, 1)},
			want:   admission{admit: true, reason: diagv1alpha1.ReasonAdmitted}},
		"its namespace is full": {caps: caps, self: at("a", "x", 5, false, 1),
			others:  []load{at("a", "r1", 0, true, 1), at("a", "r2", 0, true, 1)},
			want:    admission{reason: diagv1alpha1.ReasonNamespaceCapReached},
			message: []string{"2 diagnoses of namespace a are in flight", "--max-diagnoses-per-namespace=2", "0 wait ahead"}},
		"an older one of its namespace waits for the last slot": {caps: caps, self: at("a", "x", 5, false, 1),
			others:  []load{at("a", "r1", 0, true, 1), at("a", "older", 1, false, 1)},
			want:    admission{reason: diagv1alpha1.ReasonNamespaceCapReached},
			message: []string{"1 diagnoses of namespace a", "1 waits ahead"}},
		"a younger one waiting does not hold it back": {caps: caps, self: at("a", "x", 5, false, 1),
			others: []load{at("a", "r1", 0, true, 1), at("a", "younger", 9, false, 1)},
			want:   admission{admit: true, reason: diagv1alpha1.ReasonAdmitted}},
		"the cluster is full": {caps: caps, self: at("c", "x", 5, false, 1),
			others:  []load{at("a", "r1", 0, true, 1), at("a", "r2", 0, true, 1), at("b", "r3", 0, true, 1)},
			want:    admission{reason: diagv1alpha1.ReasonInFlightCapReached},
			message: []string{"3 diagnoses are in flight in the cluster", "--max-diagnoses=3"}},
		"an older one held by its own namespace does not take the cluster's last slot": {caps: caps, self: at("c", "x", 5, false, 1),
			others: []load{at("a", "r1", 0, true, 1), at("a", "r2", 0, true, 1), at("a", "held", 1, false, 1)},
			want:   admission{admit: true, reason: diagv1alpha1.ReasonAdmitted}},
		"an older one of another namespace takes the cluster's last slot": {caps: caps, self: at("c", "x", 5, false, 1),
			others:  []load{at("a", "r1", 0, true, 1), at("b", "r2", 0, true, 1), at("d", "first", 1, false, 1)},
			want:    admission{reason: diagv1alpha1.ReasonInFlightCapReached},
			message: []string{"1 waits ahead"}},
		"not enough collector pods free": {caps: caps, self: at("c", "x", 5, false, 3),
			others:  []load{at("a", "r1", 0, true, 4)},
			want:    admission{reason: diagv1alpha1.ReasonCollectorPodCapReached},
			message: []string{"4 collector pods are at work", "needs 3 more", "--max-collector-pods=6"}},
		"the pods an older one needs come first": {caps: caps, self: at("c", "x", 5, false, 1),
			others:  []load{at("a", "r1", 0, true, 2), at("b", "big", 1, false, 4)},
			want:    admission{reason: diagv1alpha1.ReasonCollectorPodCapReached},
			message: []string{"1 waits ahead"}},
		"more pods than the cap, ever": {caps: caps, self: at("c", "x", 5, false, 7),
			want:    admission{never: true, reason: diagv1alpha1.ReasonCollectorPodCapReached},
			message: []string{"The path needs 7 collector pods", "--max-collector-pods=6"}},
		"no caps": {caps: LoadCaps{}, self: at("a", "x", 5, false, 500),
			others: []load{at("a", "r1", 0, true, 100), at("a", "r2", 0, true, 100), at("a", "older", 1, false, 100)},
			want:   admission{admit: true, reason: diagv1alpha1.ReasonAdmitted}},
		"same second, ordered by name": {caps: LoadCaps{PerNamespace: 1}, self: at("a", "b", 0, false, 1),
			others:  []load{at("a", "a", 0, false, 1)},
			want:    admission{reason: diagv1alpha1.ReasonNamespaceCapReached},
			message: []string{"1 waits ahead"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := admit(tc.caps, tc.self, tc.others)
			if got.admit != tc.want.admit || got.never != tc.want.never || got.reason != tc.want.reason {
				t.Fatalf("admit() = %+v, want admit=%v never=%v reason=%s", got, tc.want.admit, tc.want.never, tc.want.reason)
			}
			for _, w := range tc.message {
				if !strings.Contains(got.message(), w) {
					t.Errorf("message %q lacks %q", got.message(), w)
				}
			}
		})
	}
}

// TestQueueDrains checks that diagnoses queued behind caps all start, oldest first, as the
// ones in flight finish: no order of arrival leaves one waiting forever.
func TestQueueDrains(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	caps := LoadCaps{PerNamespace: 2, InFlight: 3, CollectorPods: 4}
	var queue []load
	for i, ns := range []string{"a", "a", "a", "b", "a", "c", "b", "b", "c", "a"} {
		queue = append(queue, load{namespace: ns, name: string(rune('a' + i)), created: t0.Add(time.Duration(i) * time.Second), pods: 1 + i%3})
	}
	var order []string
	for round := 0; round < 100 && len(order) < len(queue); round++ {
		// Every waiting diagnosis asks, in any order; then the oldest running one finishes.
		for i := len(queue) - 1; i >= 0; i-- {
			if queue[i].running || queue[i].name == "" {
				continue
			}
			others := make([]load, 0, len(queue))
			for j, o := range queue {
				if j != i && o.name != "" {
					others = append(others, o)
				}
			}
			if admit(caps, queue[i], others).admit {
				queue[i].running = true
				order = append(order, queue[i].name)
			}
		}
		for i := range queue {
			if queue[i].running && queue[i].name != "" {
				queue[i].name = "" // finished
				break
			}
		}
	}
	if len(order) != len(queue) {
		t.Fatalf("started %v of %d diagnoses: the queue never drained", order, len(queue))
	}
}
