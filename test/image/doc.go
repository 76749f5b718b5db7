// Package image holds the tests of the netdiag image: the archive that `make image` builds
// (bin/image/netdiag.oci.tar) has the entrypoint, the non-root user and the pinned tools of
// hack/image-packages.txt, each run inside the unpacked root filesystem with no network, and
// iptables on its nft backend with the legacy one beside it; and the Dockerfile, for Docker
// users, builds the same content from the same package list.
package image
