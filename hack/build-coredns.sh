#!/usr/bin/env bash
# Builds CoreDNS from the Go module proxy into bin/coredns/<version>/, once. The lab runs it as
# the cluster DNS (the kube-dns Service in kube-system) with the kubernetes plugin against the
# lab's API server, so DNS faults are checked against real queries.
#
# CoreDNS's own main links every plugin, the cloud ones (route53, azure, clouddns) with their
# SDKs among them. It is rebuilt here from coremain in a throwaway module that links only the
# plugins a cluster's default Corefile uses, in CoreDNS's own order (plugin.cfg), which keeps
# the cold build to a few minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
OUT="${ROOT}/bin/coredns/${COREDNS_VERSION}"
PLUGINS=(reload ready health errors log loadbalance cache hosts kubernetes loop forward whoami)

if [[ ! -x "${OUT}/coredns" ]]; then
  echo "building coredns ${COREDNS_VERSION}" >&2
  mkdir -p "${OUT}"
  export CGO_ENABLED=0
  export GOFLAGS="${GOFLAGS:-} -mod=mod"
  work="$(mktemp -d)"
  trap 'rm -rf "${work}"' EXIT
  (
    cd "${work}"
    go mod init netdiag.local/coredns >/dev/null 2>&1
    {
      echo "package main"
      echo
      echo "import ("
      echo "	\"github.com/coredns/coredns/core/dnsserver\""
      echo "	\"github.com/coredns/coredns/coremain\""
      for p in "${PLUGINS[@]}"; do echo "	_ \"github.com/coredns/coredns/plugin/${p}\""; done
      echo ")"
      echo
      printf 'var directives = []string{'
      for p in "${PLUGINS[@]}"; do printf '"%s", ' "${p}"; done
      echo '}'
      echo
      echo "func init() { dnsserver.Directives = directives }"
      echo
      echo "func main() { coremain.Run() }"
    } >main.go
    echo "require github.com/coredns/coredns ${COREDNS_VERSION}" >>go.mod
    go mod tidy 2>&1 | grep -v "^go: downloading" >&2 || true
    go build -trimpath -ldflags "-s -w" -o "${OUT}/coredns" .
  )
fi
# The lab looks here.
ln -sfn "${COREDNS_VERSION}" "${ROOT}/bin/coredns/current"
echo "${OUT}/coredns"
