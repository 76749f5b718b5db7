package cluster

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
)

// The helpers below are the tell-tales plugins recognise themselves by; each plugin's
// descriptor says which of its own it looks for.

// DaemonSetEvidence starts the evidence DaemonSetMentioning gives.
const DaemonSetEvidence = "DaemonSet "

// DaemonSetMentioning returns the first DaemonSet whose name, app labels, container names or
// images contain one of words (lower case), as "DaemonSet namespace/name".
func DaemonSetMentioning(s *Snapshot, words ...string) (evidence string, ok bool) {
	for i := range s.DaemonSets {
		if dsMentions(&s.DaemonSets[i], words) {
			return DaemonSetEvidence + s.DaemonSets[i].Namespace + "/" + s.DaemonSets[i].Name, true
		}
	}
	return "", false
}

// NodeAnnotated returns the first node that carries the annotation key, as "Node name
// annotation key".
func NodeAnnotated(s *Snapshot, key string) (evidence string, ok bool) {
	for i := range s.Nodes {
		if _, ok := s.Nodes[i].Annotations[key]; ok {
			return "Node " + s.Nodes[i].Name + " annotation " + key, true
		}
	}
	return "", false
}

// DaemonSetsIn returns the snapshot's DaemonSets that live in one of namespaces.
func DaemonSetsIn(s *Snapshot, namespaces []string) []appsv1.DaemonSet {
	var out []appsv1.DaemonSet
	for i := range s.DaemonSets {
		if slices.Contains(namespaces, s.DaemonSets[i].Namespace) {
			out = append(out, s.DaemonSets[i])
		}
	}
	return out
}

func dsMentions(ds *appsv1.DaemonSet, words []string) bool {
	texts := []string{ds.Name, ds.Labels["app"], ds.Labels["k8s-app"], ds.Labels["app.kubernetes.io/name"]}
	spec := ds.Spec.Template.Spec
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		texts = append(texts, c.Name, c.Image)
	}
	for _, t := range texts {
		t = strings.ToLower(t)
		for _, w := range words {
			if strings.Contains(t, w) {
				return true
			}
		}
	}
	return false
}
