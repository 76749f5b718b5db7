#!/usr/bin/env bash
# `make demo`: netdiag on a real cluster data plane, on this machine, in about a minute once
# the binaries are built.
#
#  1. builds what is missing: the control plane (hack/build-controlplane.sh, ~8 minutes once),
#     the CNI plugins, flanneld, netdiag and ndlab;
#  2. brings the lab up (test/lab: 2 nodes, flannel vxlan, kube-proxy iptables, in network
#     namespaces) with netdiag's CRD and collector RBAC;
#  3. runs the controller (`netdiag manager`) against it;
#  4. deploys the shop of config/samples (web, api, db and their Services), breaks one path
#     with a DROP rule in the api pod, and applies the two sample diagnoses;
#  5. waits for them and shows `kubectl get nd` and each one's report;
#  6. draws each one's packet path as SVG, mermaid and DOT (docs/pictures.md) into
#     PICTURES (default /tmp/ndemo-pictures), which the teardown keeps;
#  7. tears everything down, unless KEEP=1.
#
# Needs root (network namespaces, iptables); re-runs itself with sudo when not root.
# MODE=flannel-host-gw|calico-routed|calico-vxlan and PROXY_MODE=nftables pick another lab.
# NODES=real runs a real kubelet and containerd per node (flannel modes; docs/lab.md): the
# shop runs the lab's echo image, the collectors the netdiag image (`make image`, built here
# when missing), as containers; NODES=stand-in (the default) runs the lab's kubelet stand-in.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

if [[ ${EUID} -ne 0 ]]; then
  exec sudo --preserve-env=PATH,GOPATH,GOCACHE,GOMODCACHE,KEEP,MODE,PROXY_MODE,NODES,LAB,PICTURES \
    "${BASH_SOURCE[0]}" "$@"
fi

LAB="${LAB:-ndemo}"
MODE="${MODE:-flannel-vxlan}"
PROXY_MODE="${PROXY_MODE:-iptables}"
NODES="${NODES:-stand-in}"
KEEP="${KEEP:-0}"
IMAGE="netdiag:demo"
NAMESPACE="netdiag-system"
BIN="${ROOT}/bin"
KUBECTL="${BIN}/k8s/current/kubectl"
DIR="${TMPDIR:-/tmp}/${LAB}"
MANAGER_LOG="${TMPDIR:-/tmp}/${LAB}-manager.log"
MANAGER_PID="${TMPDIR:-/tmp}/${LAB}-manager.pid"
PICTURES="${PICTURES:-${TMPDIR:-/tmp}/${LAB}-pictures}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Building what is missing"
[[ -x "${BIN}/k8s/current/kube-apiserver" && -x "${KUBECTL}" ]] || hack/build-controlplane.sh
hack/build-cni.sh >/dev/null
hack/build-flannel.sh >/dev/null
CGO_ENABLED=0 go build -trimpath -o "${BIN}/netdiag" .
go build -o "${BIN}/ndlab" ./test/lab/cmd/ndlab
go build -o "${BIN}/ndpicture" ./hack/picture
NDLAB=("${BIN}/ndlab" --name "${LAB}")
# What runs the pods: the stand-in runs the netdiag binary for the collector image; real nodes
# import the image and run it, and the lab's echo image for the shop.
NODE_ARGS=(--node-kind "${NODES}" --image "${IMAGE}=${BIN}/netdiag")
# shop_objects passes the shop's objects through as the nodes can run them; apply_samples
# applies config/samples (the shop again, unchanged, and the diagnoses).
shop_objects() { cat; }
apply_samples() { k apply -k config/samples; }
if [[ "${NODES}" == "real" ]]; then
  [[ -x "${BIN}/k8s/current/kubelet" ]] || hack/build-controlplane.sh
  hack/build-pause.sh >/dev/null
  [[ -e "${BIN}/image/netdiag.oci.tar" ]] || hack/build-image.sh
  NODE_ARGS=(--node-kind real --image-archive "${IMAGE}=${BIN}/image/netdiag.oci.tar")
  # busybox cannot be pulled here: each pod's `nc -lk -p PORT` becomes the echo image on PORT.
  shop_objects() {
    sed -E -e 's#image: busybox:1.37#image: ndlab.local/labecho:1\n    imagePullPolicy: Never#' \
      -e 's#command: \["nc", "-lk", "-p", "([0-9]+)".*#args: ["\1/tcp"]#'
  }
  apply_samples() { for f in config/samples/diagnosis_*.yaml; do k apply -f "${f}"; done; }
fi

stop_manager() {
  if [[ -f "${MANAGER_PID}" ]]; then
    kill "$(cat "${MANAGER_PID}")" 2>/dev/null || true
    rm -f "${MANAGER_PID}"
  fi
}

teardown() {
  step "Tearing down (KEEP=1 leaves the lab running)"
  stop_manager
  "${NDLAB[@]}" down || true
  rm -f "${MANAGER_LOG}"
}

# A lab of the same name left by an earlier run goes first.
stop_manager
"${NDLAB[@]}" down >/dev/null 2>&1 || true

step "Bringing the lab up: ${MODE}, kube-proxy ${PROXY_MODE}, ${NODES} nodes"
"${NDLAB[@]}" up --mode "${MODE}" --proxy-mode "${PROXY_MODE}" --api-port 0 "${NODE_ARGS[@]}"
if [[ "${KEEP}" != "1" ]]; then
  trap teardown EXIT
fi
export KUBECONFIG="${DIR}/kubeconfig"
k() { "${KUBECTL}" "$@"; }

step "Installing the CRD, the ${NAMESPACE} namespace and the collector's RBAC"
k apply -k config/crd
k create namespace "${NAMESPACE}" --dry-run=client -o yaml | k apply -f -
k apply -n "${NAMESPACE}" -k config/collector
# The collectors' PriorityClass, which the manager names in every collector pod.
k apply -f config/manager/priorityclass.yaml
# A real install of the network plugin has its DaemonSet, from which the controller detects
# it; the lab runs the plugin outside pods, so this one selects no node and runs nothing.
if [[ "${MODE}" == flannel-* ]]; then ds=kube-flannel-ds image=ghcr.io/flannel-io/flannel:v0.28.4; else ds=calico-node image=docker.io/calico/node:v3.31.0; fi
k apply -f - <<EOF
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ${ds}, namespace: kube-system}
spec:
  selector: {matchLabels: {app: ${ds}}}
  template:
    metadata: {labels: {app: ${ds}}}
    spec:
      nodeSelector: {netdiag.dev/lab-runs-it-outside-pods: "true"}
      containers: [{name: node, image: ${image}}]
EOF

step "Running the controller: netdiag manager (log: ${MANAGER_LOG})"
setsid "${BIN}/netdiag" manager --kubeconfig "${KUBECONFIG}" --namespace "${NAMESPACE}" \
  --collector-image "${IMAGE}" --metrics-bind-address 0 --health-probe-bind-address 0 -v 1 \
  >"${MANAGER_LOG}" 2>&1 </dev/null &
echo $! >"${MANAGER_PID}"

step "Deploying the shop (config/samples/workload.yaml) on ${NODES} nodes"
shop_objects <config/samples/workload.yaml | k apply -f -
for _ in $(seq 1 60); do
  k get serviceaccount default -n shop >/dev/null 2>&1 && break
  sleep 1
done
k wait --for=condition=Ready pod --all -n shop --timeout=90s
k get pods -n shop -o wide

step "Breaking web -> api: a DROP in the api pod's INPUT chain"
echo "+ ndlab exec shop/api -- iptables -I INPUT -p tcp --dport 8080 -j DROP"
"${NDLAB[@]}" exec shop/api -- iptables -I INPUT -p tcp --dport 8080 -j DROP

step "Applying the sample diagnoses (kubectl apply -k config/samples)"
apply_samples

step "Waiting for both to finish"
for _ in $(seq 1 120); do
  phases="$(k get nd -n shop -o jsonpath='{range .items[*]}{.status.phase}{"\n"}{end}')"
  done_count="$(grep -cE '^(Succeeded|Failed)$' <<<"${phases}" || true)"
  [[ "${done_count}" -ge 2 ]] && break
  sleep 1
done

step "kubectl get nd -n shop"
k get nd -n shop
for nd in web-to-db web-to-api; do
  step "kubectl get nd ${nd} -n shop -o yaml"
  k get nd "${nd}" -n shop -o yaml
done

step "The paths as pictures: ${PICTURES}"
mkdir -p "${PICTURES}"
for nd in web-to-db web-to-api; do
  for format in svg:svg mermaid:mmd dot:dot; do
    k get nd "${nd}" -n shop -o json | "${BIN}/ndpicture" -o "${format%%:*}" >"${PICTURES}/${nd}.${format##*:}"
  done
done
ls -l "${PICTURES}"

if [[ "${KEEP}" == "1" ]]; then
  step "The lab keeps running"
  cat <<EOF
export KUBECONFIG=${KUBECONFIG}
${KUBECTL} get nd -A
${BIN}/ndlab --name ${LAB} status
${BIN}/ndlab --name ${LAB} exec shop/api -- iptables -D INPUT -p tcp --dport 8080 -j DROP   # repair
Tear down: kill \$(cat ${MANAGER_PID}); ${BIN}/ndlab --name ${LAB} down
EOF
fi
