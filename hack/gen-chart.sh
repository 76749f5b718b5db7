#!/usr/bin/env bash
# Writes the Helm chart's templates and values (dist/chart, or the folder given) from the
# kustomize tree, so that the chart never drifts from config/: one template per file of
# config/, values where the chart offers them, and the manager's flags as its `--help`
# shows them. `make chart` runs it; test/chart fails when its output differs from the chart
# committed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath "${1:-${ROOT}/dist/chart}")"
KUBECTL="${KUBECTL:-${ROOT}/bin/k8s/current/kubectl}"
[[ -x "${KUBECTL}" ]] || KUBECTL=kubectl

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# A kustomization over a tree that records each object's file, which names its template;
# the objects are written next to it, since the files are named relative to it.
build() {
  local tree="$1" dir="${work}/$2"
  mkdir -p "${dir}"
  cat >"${dir}/kustomization.yaml" <<EOF
resources:
- $(realpath --relative-to="${dir}" "${tree}")
buildMetadata: [originAnnotations]
${3:+namespace: $3}
EOF
  "${KUBECTL}" kustomize "${dir}" >"${dir}/objects.yaml"
}

cd "${ROOT}"
build config/default default
optional=()
# Trees config/default leaves out, offered behind NAME.enable (kubebuilder's
# config/prometheus: a ServiceMonitor, for clusters running the Prometheus operator).
# They go to config/default's namespace, as they would if it listed them.
namespace="$(sed -n 's/^namespace: *//p' config/default/kustomization.yaml)"
for name in prometheus; do
  if [[ -f "config/${name}/kustomization.yaml" ]]; then
    build "config/${name}" "${name}" "${namespace}"
    optional+=(-optional "${name}=${work}/${name}/objects.yaml")
  fi
done
go build -o "${work}/netdiag" .
"${work}/netdiag" manager --help >"${work}/manager-help.txt"
go run ./hack/genchart -manifests "${work}/default/objects.yaml" -config config \
  -manager-help "${work}/manager-help.txt" -out "${OUT}" "${optional[@]}"
