# One image for the manager and the collector pods it runs.

FROM golang:1.26 AS builder
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/netdiag .

# The collector reads the node's firewall with the same tools the node uses: iptables-save
# (nft and legacy backends), nft, ipset, and conntrack and iproute2 for what netlink alone
# does not show.
FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables nftables ipset conntrack iproute2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=builder /out/netdiag /usr/local/bin/netdiag
# The collector runs as root with four capabilities (host network); the manager's Deployment
# sets a non-root user.
ENTRYPOINT ["netdiag"]
