#!/usr/bin/env bash
# Builds Calico's calico-felix (the iptables and nftables dataplanes; no eBPF, so no cgo and no
# libbpf) from the Go module proxy, once, into bin/calico/<version>/, and copies Calico's CRDs
# of the same commit beside it into bin/calico/<version>/crd/, for the lab's calico modes.
#
# Calico publishes no tagged Go module, so the release is required by the pseudo-versions of its
# commits. The checksum database has no entry for these, so their hashes are pinned here and
# written into go.sum before anything is downloaded: the go command refuses a zip that does not
# match. GONOSUMDB spares only github.com/projectcalico from the database; every other module is
# still checked against it.
#
# Calico's go.mod points its own nested modules (./api, ./lib/...) at directories of its
# repository, and every k8s.io module at one release. Replace lines of a dependency do not apply
# to the module requiring it, so the throwaway module repeats Calico's k8s.io block, and requires
# the nested modules it needs at their published pseudo-versions instead of the ./ paths.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CALICO_VERSION="${CALICO_VERSION:-v3.31.0}"
# The commits the v3.31.0 tag points at, in github.com/projectcalico/calico and .../api.
CALICO_MODULE_VERSION="v0.0.0-20251021213802-b1f3c43f8437"
API_MODULE_VERSION="v0.0.0-20251022175904-f2ab03771208"
OUT="${ROOT}/bin/calico/${CALICO_VERSION}"

if [[ -x "${OUT}/calico-felix" && -d "${OUT}/crd" ]]; then
  echo "${OUT}"
  exit 0
fi

mkdir -p "${OUT}"
export GOFLAGS="${GOFLAGS:-} -mod=mod"
export GONOSUMDB="github.com/projectcalico"
export GOPRIVATE=""
export GONOPROXY=""
export CGO_ENABLED=0

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
echo "building calico-felix ${CALICO_VERSION}" >&2
cd "${work}"
go mod init netdiag.local/felix >/dev/null 2>&1

cat >go.sum <<EOF
github.com/projectcalico/api ${API_MODULE_VERSION} h1:ltTWo/cCc/8pEpzmlzIjt6r2383x2XDPkuBcd/9kE3k=
github.com/projectcalico/api ${API_MODULE_VERSION}/go.mod h1:0+91//9pw8kMOyWwG1egVY9a9y43kVTLZfiEF1l5IQc=
github.com/projectcalico/calico ${CALICO_MODULE_VERSION} h1:PbLe6D0Yis8ce4F+o/Dmlrv4Her2ZN6ns8rmlZoFoEY=
github.com/projectcalico/calico ${CALICO_MODULE_VERSION}/go.mod h1:HPgBjvttb5ao4PdYZJOQ2H9G71fnWOUM1CRAPPOUyc0=
github.com/projectcalico/calico/lib/std ${CALICO_MODULE_VERSION} h1:iLY3Uzt4pVX3jpS9Wt+mxakq1nfzN/32t6YZK9n7p/U=
github.com/projectcalico/calico/lib/std ${CALICO_MODULE_VERSION}/go.mod h1:CjRtnCtQlXAxROAfoVztMfaBDWFqpuZmWM9EfBkcj8c=
EOF

# Calico's go.mod, checked against the pinned hash above when downloaded.
gomod="$(go mod download -json "github.com/projectcalico/calico@${CALICO_MODULE_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')"
{
  echo "require ("
  echo "  github.com/projectcalico/calico ${CALICO_MODULE_VERSION}"
  echo "  github.com/projectcalico/api ${API_MODULE_VERSION}"
  echo "  github.com/projectcalico/calico/lib/std ${CALICO_MODULE_VERSION}"
  echo ")"
  # Calico's replace block, less the lines pointing into its own repository.
  sed -n '/^replace (/,/^)/p' "${gomod}" | grep -v '=> \./'
  # whisker-backend's module is required by Calico's go.mod at the zero version and published
  # nowhere; felix imports nothing of it, so an empty module stands in.
  echo "replace github.com/projectcalico/calico/lib/httpmachinery => ./httpmachinery"
} >>go.mod
mkdir httpmachinery
echo "module github.com/projectcalico/calico/lib/httpmachinery" >httpmachinery/go.mod

pkg="github.com/projectcalico/calico/felix/cmd/calico-felix"
cat >tools.go <<EOF
//go:build tools

package tools

import _ "${pkg}"
EOF
go mod tidy >/dev/null
go build -trimpath \
  -ldflags "-s -w -X github.com/projectcalico/calico/pkg/buildinfo.Version=${CALICO_VERSION} -X github.com/projectcalico/calico/pkg/buildinfo.GitRevision=${CALICO_MODULE_VERSION##*-}" \
  -o "${OUT}/calico-felix" "${pkg}"

dir="$(go list -m -f '{{.Dir}}' github.com/projectcalico/calico)"
rm -rf "${OUT}/crd"
mkdir -p "${OUT}/crd"
cp "${dir}"/libcalico-go/config/crd/*.yaml "${OUT}/crd/"
chmod -R u+w "${OUT}/crd"
ln -sfn "${CALICO_VERSION}" "${ROOT}/bin/calico/current"
echo "${OUT}"
