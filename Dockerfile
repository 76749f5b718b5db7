# One image for the manager and the collector pods it runs. `make image` builds the same image
# without a container engine (hack/build-image.sh): the same pinned packages, entrypoint and
# user; test/image checks that the two agree.

FROM golang:1.26 AS builder
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/netdiag .

# The suite is hack/image-packages.txt's "# suite:" line.
FROM debian:trixie-slim
# The collector reads the node's firewall with the tools the node uses, at the versions
# hack/image-packages.txt pins: iptables-nft-save and iptables-legacy-save, nft, ipset.
COPY hack/image-packages.txt /tmp/image-packages.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(grep -v '^#' /tmp/image-packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/image-packages.txt
COPY --from=builder /out/netdiag /usr/local/bin/netdiag
# The manager runs as this user. A collector pod asks for root: capabilities reach a
# container's process only as root (Kubernetes sets no ambient capabilities).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/netdiag"]
