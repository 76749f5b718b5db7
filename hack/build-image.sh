#!/usr/bin/env bash
# Builds the netdiag image without a container engine into bin/image/netdiag-<version>.oci.tar
# (an OCI archive, as `ctr images import`, `skopeo copy oci-archive:` and `podman load` read
# it) and points bin/image/netdiag.oci.tar at it.
#
# Two layers: a Debian root filesystem that mmdebstrap makes from the pinned packages of
# hack/image-packages.txt (the Dockerfile installs the same list), cached under bin/image/cache
# by the hash of that list, and the static netdiag binary. umoci writes the image: no step runs
# a container, so nothing here touches the machine's network (a container engine's build step
# with its default network would add a bridge and firewall rules to the root namespace).
#
# Does nothing when the archive for the current content (package list, binary, image config)
# exists. Cold: about 2.5 minutes on 2 busy cores (the root filesystem); warm: the Go build, 15 s.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${ROOT}/bin/image"
PACKAGES_FILE="${ROOT}/hack/image-packages.txt"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
VERSION="${VERSION:-$(git -C "${ROOT}" describe --tags --always --dirty 2>/dev/null || echo dev)}"
LDFLAGS="${LDFLAGS:-}"
# Every timestamp in the image (files, config, history), so the same inputs give the same bytes.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-0}"
CREATED="$(date -u -d "@${SOURCE_DATE_EPOCH}" +%Y-%m-%dT%H:%M:%SZ)"

# What the image's config says; the Dockerfile says the same (test/image checks both).
ENTRYPOINT="/usr/local/bin/netdiag"
USER_ID="65532:65532"
IMAGE_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

suite="$(sed -n 's/^# suite: *//p' "${PACKAGES_FILE}")"
mapfile -t packages < <(grep -v -e '^#' -e '^[[:space:]]*$' "${PACKAGES_FILE}")
[[ -n "${suite}" && ${#packages[@]} -gt 0 ]] || { echo "${PACKAGES_FILE}: no '# suite:' line or no package" >&2; exit 1; }

# essential: dpkg's own base and the packages asked for, no apt; documentation and locales left
# out; /dev left to the runtime, which mounts its own.
include="$(IFS=,; echo "${packages[*]}")"
mmdebstrap_args=(--variant=essential --include="${include}" --skip=output/dev
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*')

hash() { sha256sum | cut -c1-16; }
base_key="$(printf '%s\n' "${suite}" "${MIRROR}" "${SOURCE_DATE_EPOCH}" "${mmdebstrap_args[@]}" | hash)"
base="${OUT}/cache/rootfs-${suite}-${base_key}.tar"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${OUT}/cache"

if [[ ! -s "${base}" ]]; then
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap is required (hack/install-deps.sh installs it)" >&2; exit 1; }
  echo "building the ${suite} root filesystem (${include})" >&2
  start=${SECONDS}
  mmdebstrap --quiet "${mmdebstrap_args[@]}" "${suite}" "${work}/rootfs.tar" "${MIRROR}"
  mv "${work}/rootfs.tar" "${base}"
  echo "root filesystem built in $((SECONDS - start)) s" >&2
fi

mkdir -p "${work}/layer/usr/local/bin"
(cd "${ROOT}" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w ${LDFLAGS}" -o "${work}/layer${ENTRYPOINT}" .)
bin_sha="$(sha256sum "${work}/layer${ENTRYPOINT}" | cut -d' ' -f1)"

tag="$(printf '%s' "${VERSION}" | tr -c 'A-Za-z0-9_.-' '_')"
archive="${OUT}/netdiag-${tag}.oci.tar"
key="$(printf '%s\n' "${base_key}" "${bin_sha}" "${tag}" "${ENTRYPOINT}" "${USER_ID}" "${IMAGE_PATH}" | hash)"
if [[ -s "${archive}" && "$(cat "${archive}.key" 2>/dev/null)" == "${key}" ]]; then
  ln -sfn "$(basename "${archive}")" "${OUT}/netdiag.oci.tar"
  echo "${archive}"
  exit 0
fi

command -v umoci >/dev/null || { echo "umoci is required (hack/install-deps.sh installs it)" >&2; exit 1; }
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${SOURCE_DATE_EPOCH}" \
  -C "${work}/layer" -cf "${work}/netdiag.tar" usr
oci="${work}/oci"
umoci init --layout "${oci}"
umoci new --image "${oci}:${tag}"
umoci raw add-layer --image "${oci}:${tag}" --history.created "${CREATED}" \
  --history.created_by "mmdebstrap ${suite}: ${include}" "${base}"
umoci raw add-layer --image "${oci}:${tag}" --history.created "${CREATED}" \
  --history.created_by "netdiag ${VERSION}" "${work}/netdiag.tar"
umoci config --image "${oci}:${tag}" --created "${CREATED}" --history.created "${CREATED}" \
  --config.entrypoint "${ENTRYPOINT}" --config.user "${USER_ID}" --config.env "PATH=${IMAGE_PATH}" \
  --config.label "org.opencontainers.image.version=${VERSION}" \
  --config.label "org.opencontainers.image.title=netdiag"
umoci gc --layout "${oci}"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${SOURCE_DATE_EPOCH}" \
  -C "${oci}" -cf "${work}/image.tar" .
# Archives of other versions go after a day: several checkouts may share bin/.
find "${OUT}" -maxdepth 1 -name 'netdiag-*.oci.tar*' -mtime +0 -delete
mv "${work}/image.tar" "${archive}"
echo "${key}" >"${archive}.key"
ln -sfn "$(basename "${archive}")" "${OUT}/netdiag.oci.tar"
echo "${archive}"
