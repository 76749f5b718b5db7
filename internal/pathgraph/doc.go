// Package pathgraph draws a diagnosis's packet path as a picture: one Graph, built from the
// engine's result or from a NetworkDiagnosis's status, with the Kubernetes nodes as boxes
// holding their pods and hops, every link labelled with its interfaces and the packet as it
// is on that link (so NAT shows), each branch of a service and the way back told apart, and
// the hop where the packet stops marked with its reason. Three writers render it: DOT for
// graphviz, mermaid for GitHub and wikis, and SVG laid out here, so no tool is needed to see
// it. Every writer's output depends only on the Graph.
package pathgraph
