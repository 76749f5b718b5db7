#!/usr/bin/env bash
# Builds the CNI plugins the lab wires pods with (bridge, host-local, ptp, loopback, portmap)
# from the Go module proxy into bin/cni/, once. The lab invokes them exactly as a container
# runtime does: CNI_COMMAND, CNI_NETNS, CNI_IFNAME, CNI_PATH in the environment and the network
# configuration on stdin.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CNI_VERSION="${CNI_VERSION:-v1.10.0}"
OUT="${ROOT}/bin/cni"
PLUGINS=(${PLUGINS:-main/bridge ipam/host-local main/ptp main/loopback meta/portmap})

mkdir -p "${OUT}"
export CGO_ENABLED=0
for p in "${PLUGINS[@]}"; do
  name="${p##*/}"
  [[ -x "${OUT}/${name}" ]] && continue
  echo "building CNI ${name} ${CNI_VERSION}" >&2
  GOBIN="${OUT}" go install -trimpath -ldflags "-s -w" \
    "github.com/containernetworking/plugins/plugins/${p}@${CNI_VERSION}"
done
echo "${OUT}"
