#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian or Ubuntu machine (CI runs as root): the
# kernel tools the collector and the lab drive (procps for the sysctl the end-to-end faults
# use, util-linux for the setpriv that runs a lab pod's command with only its capabilities),
# chromium and graphviz, in which tests read the pictures of a packet path as a browser and
# graphviz draw them,
# and the binaries envtest and the lab run, built from the Go module proxy: the control plane
# (about 8 minutes on 2 cores, once), the CNI plugins, flanneld and helm (4 to 8 minutes,
# once), which renders the chart in test/chart; mmdebstrap and umoci, with which
# hack/build-image.sh builds the image (about 2 minutes, once), and containerd and runc, which
# run it in the end-to-end suite, on the lab's real nodes with the pause and echo images
# hack/build-pause.sh builds (seconds); calico-felix with Calico's CRDs for the lab's calico
# modes (up to 25 minutes on 2 busy cores, once), with Debian's bird for their BGP; and CoreDNS
# (about 4 minutes, once), the lab's cluster DNS.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACKAGES=(iptables nftables ipset conntrack iproute2 procps util-linux ca-certificates git make chromium graphviz
  mmdebstrap umoci containerd runc bird)

SUDO=""
if [[ ${EUID} -ne 0 ]]; then
  SUDO="sudo"
fi

${SUDO} apt-get update
DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y --no-install-recommends "${PACKAGES[@]}"
# The lab runs its own bird per node namespace; the package's daemon in the root namespace is
# not wanted.
if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
  ${SUDO} systemctl disable --now bird.service bird6.service >/dev/null 2>&1 || true
fi

command -v go >/dev/null || { echo "go (1.26) is required: https://go.dev/dl/" >&2; exit 1; }
# mermaid as GitHub draws it, pinned by hack/mermaid's lock file, for the test that has it draw
# netdiag's mermaid pictures in chromium.
command -v npm >/dev/null || DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y --no-install-recommends nodejs npm
npm ci --prefix "${ROOT}/hack/mermaid" --no-audit --no-fund

"${ROOT}/hack/build-controlplane.sh"
"${ROOT}/hack/build-cni.sh"
"${ROOT}/hack/build-flannel.sh"
"${ROOT}/hack/build-pause.sh"
"${ROOT}/hack/build-helm.sh"
"${ROOT}/hack/build-image.sh"
"${ROOT}/hack/build-felix.sh"
"${ROOT}/hack/build-coredns.sh"
