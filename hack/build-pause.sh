#!/usr/bin/env bash
# Builds the two images the lab's real nodes import with `ctr images import`, once, into
# bin/pause/: the pod sandbox (pause) and the workload the lab's pods run (labecho, an echo
# server on the pod's ports). Both are static Go programs from hack/, committed into one-layer
# OCI archives by hack/ociarchive, so nothing is pulled from a registry.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/bin/pause"
PAUSE_IMAGE="${PAUSE_IMAGE:-ndlab.local/pause:3.10}"
ECHO_IMAGE="${ECHO_IMAGE:-ndlab.local/labecho:1}"

[[ -f "${OUT}/pause.oci.tar" && -f "${OUT}/labecho.oci.tar" ]] && { echo "${OUT}"; exit 0; }
mkdir -p "${OUT}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
cd "${ROOT}"
export CGO_ENABLED=0
go build -trimpath -ldflags "-s -w" -o "${work}/pause" ./hack/pause
go build -trimpath -ldflags "-s -w" -o "${work}/labecho" ./hack/labecho
go build -o "${work}/ociarchive" ./hack/ociarchive
# The sandbox runs as nobody, as upstream's pause image does; the echo server keeps root so
# the pod's securityContext, not the image, decides.
"${work}/ociarchive" -o "${work}/pause.oci.tar" -name "${PAUSE_IMAGE}" -entrypoint /pause -user 65535:65535 "${work}/pause=/pause"
"${work}/ociarchive" -o "${work}/labecho.oci.tar" -name "${ECHO_IMAGE}" -entrypoint /labecho "${work}/labecho=/labecho"
mv "${work}/pause.oci.tar" "${work}/labecho.oci.tar" "${OUT}/"
echo "${OUT}"
