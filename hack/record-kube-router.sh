#!/usr/bin/env bash
# Records the chains and ipsets kube-router's NetworkPolicy controller (v2.1.0, the controller
# k3s embeds) really writes, for internal/plugin/k3s/testdata: it builds the controller alone
# (hack/kube-router-netpol/main.go.txt, as k3s's pkg/agent/netpol starts it) in a throwaway
# module from the Go module proxy, runs etcd and kube-apiserver inside a network namespace of
# its own, creates there the objects of the k3s flow tests' cluster (node-0 and node-1, the
# pods client, web-0, web-1 and db with their addresses) and two NetworkPolicies, runs the
# controller as node-1 inside the same namespace, and saves the namespace's filter table and
# ipsets once it has synced. Everything happens inside that namespace and is removed after.
#
#   hack/record-kube-router.sh OUTDIR     (NETPOL_BINARY=path skips the build)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(realpath "${1:?usage: $0 OUTDIR}")"
BIN="${ROOT}/bin/k8s/current"
NS="ndkrrec-$$"
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Bounded: what has not stopped in 5 seconds is killed.
  for _ in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [[ ${alive} == 0 ]] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "${NS}" 2>/dev/null || true
  rm -rf "${work}"
}
trap cleanup EXIT
[[ -n "${KEEP_LOGS:-}" ]] && trap 'cp "${work}"/*.log "${KEEP_LOGS}"/ 2>/dev/null; cleanup' EXIT

# The controller, alone (NETPOL_BINARY: one built before from the same source).
if [[ -n "${NETPOL_BINARY:-}" ]]; then
  cp "${NETPOL_BINARY}" "${work}/netpol"
else
mkdir -p "${work}/mod/netpol"
cp "${ROOT}/hack/kube-router-netpol/main.go.txt" "${work}/mod/netpol/main.go"
(
  cd "${work}/mod"
  printf 'module krnetpol\n\ngo 1.22\n' > go.mod
  GOFLAGS=-mod=mod go get github.com/cloudnativelabs/kube-router/v2@v2.1.0 >&2
  GOFLAGS=-mod=mod go mod tidy >&2
  CGO_ENABLED=0 go build -o "${work}/netpol" ./netpol
)
fi

ip netns add "${NS}"
ip -n "${NS}" link set lo up
# For the background processes the script calls ip netns exec itself, so that $! is the
# process (ip execs it) and not a subshell that would outlive a kill.
inns() { ip netns exec "${NS}" "$@"; }

# A control plane reachable only inside the namespace.
openssl genrsa -out "${work}/sa.key" 2048 2>/dev/null
openssl rsa -in "${work}/sa.key" -pubout -out "${work}/sa.pub" 2>/dev/null
echo "recordtoken,admin,admin,system:masters" > "${work}/tokens"
ip netns exec "${NS}" "${BIN}/etcd" --data-dir "${work}/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --unsafe-no-fsync --log-level=error > "${work}/etcd.log" 2>&1 &
pids+=($!)
ip netns exec "${NS}" "${BIN}/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none --disable-admission-plugins=ServiceAccount --secure-port=6443 \
  --token-auth-file="${work}/tokens" --authorization-mode=RBAC --service-cluster-ip-range=10.96.0.0/12 \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="${work}/sa.pub" \
  --service-account-signing-key-file="${work}/sa.key" --cert-dir="${work}/certs" > "${work}/apiserver.log" 2>&1 &
pids+=($!)
cat > "${work}/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters: [{name: rec, cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: recordtoken}}]
contexts: [{name: rec, context: {cluster: rec, user: admin}}]
current-context: rec
KC
k() { inns "${BIN}/kubectl" --kubeconfig "${work}/kubeconfig" "$@"; }
for _ in $(seq 1 120); do
  k get --raw /readyz >/dev/null 2>&1 && break
  sleep 0.5
done
k get --raw /readyz >/dev/null
for _ in $(seq 1 60); do
  k get namespace default >/dev/null 2>&1 && break
  sleep 0.5
done

# The flow tests' cluster (internal/fixture/flowtest.TwoNodes), and the policies.
for i in 0 1; do
  k apply -f - <<YAML
apiVersion: v1
kind: Node
metadata:
  name: node-$i
  labels: {node.kubernetes.io/instance-type: k3s}
spec: {podCIDR: 10.244.$i.0/24}
YAML
  k patch node "node-$i" --subresource=status --type=merge \
    -p "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"172.18.1.$((i + 2))\"}]}}" >/dev/null
done
pod() { # name app node nodeIP podIP
  k apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default, labels: {app: $2}}
spec:
  nodeName: $3
  containers: [{name: c, image: registry.k8s.io/pause:3.10}]
YAML
  k patch pod "$1" --subresource=status --type=merge \
    -p "{\"status\":{\"phase\":\"Running\",\"hostIP\":\"$4\",\"podIP\":\"$5\",\"podIPs\":[{\"ip\":\"$5\"}]}}" >/dev/null
}
pod client client node-0 172.18.1.2 10.244.0.10
pod web-0 web node-0 172.18.1.2 10.244.0.11
pod web-1 web node-1 172.18.1.3 10.244.1.10
pod db db node-1 172.18.1.3 10.244.1.11
k apply -f - <<YAML
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-db, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client-to-db, namespace: default}
spec:
  podSelector: {matchLabels: {app: db}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{protocol: TCP, port: 5432}]
YAML
k get nodes,pods,networkpolicies -o wide >&2

ip netns exec "${NS}" "${work}/netpol" --kubeconfig "${work}/kubeconfig" --node node-1 --service-cidr 10.96.0.0/12 > "${work}/netpol.log" 2>&1 &
pids+=($!)
# Synced when the db pod's chain has run through both policies.
for _ in $(seq 1 120); do
  inns iptables-save -t filter | grep -q 'run through nw policy allow-client-to-db' && break
  sleep 0.5
done
sleep 2
mkdir -p "${OUT}"
inns iptables-save -t filter | sed -e '/^#/d' > "${OUT}/node-1.iptables"
inns ipset save > "${OUT}/node-1.ipset"
grep -q 'run through nw policy allow-client-to-db' "${OUT}/node-1.iptables" || {
  cat "${work}/netpol.log" >&2
  echo "kube-router did not sync the policies" >&2
  exit 1
}
echo "recorded ${OUT}/node-1.iptables and ${OUT}/node-1.ipset" >&2
