// Package main is the chart generator hack/gen-chart.sh runs: it turns the objects
// `kubectl kustomize config/default` builds into the templates of dist/chart, one template
// per file of config/, and writes values.yaml and values.schema.json from the tree and from
// `netdiag manager --help`. Values change only what they name, so the chart rendered with
// its defaults is the kustomize tree, with Helm's own labels added.
package main
