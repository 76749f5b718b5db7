#!/usr/bin/env bash
# Builds flanneld from the Go module proxy into bin/flannel/, once, together with flannel's CNI
# plugin. The lab runs flanneld in each node namespace with the kube subnet manager, so the
# vxlan and host-gw data planes are laid by flannel itself rather than imitated.
#
# flanneld's main package links every backend, and one of them (tencentvpc) depends on a module
# version the proxy no longer serves. flanneld is therefore rebuilt from its own main.go in a
# throwaway module that keeps the backends a lab can run (vxlan, host-gw, ipip, alloc,
# extension) and drops the cloud and VPN ones and udp (which needs cgo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FLANNEL_VERSION="${FLANNEL_VERSION:-v0.28.4}"
FLANNEL_CNI_VERSION="${FLANNEL_CNI_VERSION:-}"
OUT="${ROOT}/bin/flannel"

mkdir -p "${OUT}"
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -mod=mod"

build_flanneld() {
  [[ -x "${OUT}/flanneld" ]] && return 0
  echo "building flanneld ${FLANNEL_VERSION}" >&2
  local work src
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' RETURN
  src="$(go mod download -json "github.com/flannel-io/flannel@${FLANNEL_VERSION}" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
  (
    cd "${work}"
    go mod init netdiag.local/flanneld >/dev/null 2>&1
    sed -e '/pkg\/backend\/tencentvpc"/d' -e '/pkg\/backend\/ipsec"/d' -e '/pkg\/backend\/wireguard"/d' -e '/pkg\/backend\/udp"/d' \
      "${src}/main.go" >main.go
    echo "require github.com/flannel-io/flannel ${FLANNEL_VERSION}" >>go.mod
    go mod tidy 2>&1 | grep -v "^go: downloading" >&2 || true
    go build -trimpath -ldflags "-s -w -X github.com/flannel-io/flannel/pkg/version.Version=${FLANNEL_VERSION}" \
      -o "${OUT}/flanneld" .
  )
}

build_flanneld
echo "${OUT}"
