#!/usr/bin/env bash
# Builds the control-plane binaries the tests and the lab run (etcd, kube-apiserver,
# kube-controller-manager, kube-proxy, kubectl, and the kubelet of the lab's real nodes) from
# the Go module proxy, once, into bin/k8s/<version>/. The usual envtest download site is often
# out of reach (air-gapped clusters, CI sandboxes), so nothing here downloads a prebuilt binary.
#
# k8s.io/kubernetes cannot be required like an ordinary module: its go.mod points every
# k8s.io/<staging> module at ./staging. A throwaway module replaces each of them with its
# published v0.X.Y twin, which is exactly what the release tags contain.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
OUT="${ROOT}/bin/k8s/${KUBE_VERSION}"
COMMANDS=(${COMMANDS:-kube-apiserver kube-controller-manager kube-proxy kubectl kubelet})

mkdir -p "${OUT}"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export CGO_ENABLED=0

build_etcd() {
  [[ -x "${OUT}/etcd" ]] && return 0
  local work
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  echo "building etcd ${ETCD_VERSION}" >&2
  (
    cd "${work}"
    go mod init netdiag.local/etcd >/dev/null 2>&1
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >/dev/null
    go build -trimpath -ldflags "-s -w" -o "${OUT}/etcd" go.etcd.io/etcd/server/v3
  )
}

build_kube() {
  local missing=()
  for cmd in "${COMMANDS[@]}"; do
    [[ -x "${OUT}/${cmd}" ]] || missing+=("${cmd}")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0

  local work gomod
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  echo "building ${missing[*]} ${KUBE_VERSION}" >&2
  cd "${work}"
  go mod init netdiag.local/kube >/dev/null 2>&1
  gomod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
  # Every "k8s.io/x => ./staging/src/k8s.io/x" line becomes "k8s.io/x => k8s.io/x v0.N.M".
  {
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/src/.*#replace \1 => \1 '"${STAGING_VERSION}"'#p' "${gomod}"
  } >>go.mod
  local pkgs=()
  for cmd in "${missing[@]}"; do
    pkgs+=("k8s.io/kubernetes/cmd/${cmd}")
  done
  go mod tidy >/dev/null 2>&1 || true
  # Without these the binaries call themselves v0.0.0-master, and version-skew checks between
  # kubectl, the API server and kube-proxy complain.
  local minor="${KUBE_VERSION#v1.}"
  minor="${minor%%.*}"
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${minor}"
  ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
  for cmd in "${missing[@]}"; do
    go build -trimpath -ldflags "${ldflags}" -o "${OUT}/${cmd}" "k8s.io/kubernetes/cmd/${cmd}"
  done
}

build_etcd
(build_kube)
# envtest looks for these names in one directory.
ln -sfn "${KUBE_VERSION}" "${ROOT}/bin/k8s/current"
echo "${OUT}"
