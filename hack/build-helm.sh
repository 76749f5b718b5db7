#!/usr/bin/env bash
# Builds helm from the Go module proxy into bin/helm/<version>/, once. The chart test renders
# dist/chart with it and compares the objects with the kustomize tree's. Like the control
# plane, nothing here downloads a prebuilt binary.
#
# helm's go.mod has no replace directives, so `go install module@version` builds it as
# released; the flags are those of helm's Makefile, so that `helm version` names the release
# and `.Capabilities.KubeVersion` is the Kubernetes its client-go speaks, not the v1.20 helm
# assumes when the flags are absent.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
OUT="${ROOT}/bin/helm/${HELM_VERSION}"

if [[ ! -x "${OUT}/helm" ]]; then
  echo "building helm ${HELM_VERSION}" >&2
  mkdir -p "${OUT}"
  export GOFLAGS="${GOFLAGS:-} -mod=mod"
  export CGO_ENABLED=0
  # The Kubernetes minor helm renders for is that of the client-go it requires.
  gomod="$(go mod download -json "helm.sh/helm/v3@${HELM_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
  client_go="$(sed -n 's#^\s*k8s\.io/client-go v0\.\([0-9]*\)\..*#\1#p' "${gomod}")"
  ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in chartutil lint/rules; do
    ldflags+=" -X helm.sh/helm/v3/pkg/${pkg}.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/${pkg}.k8sVersionMinor=${client_go}"
  done
  GOBIN="${OUT}" go install -trimpath -ldflags "${ldflags}" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi
# The chart test and `make chart` look here first.
ln -sfn "${HELM_VERSION}" "${ROOT}/bin/helm/current"
echo "${OUT}/helm"
