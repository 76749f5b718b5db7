# netdiag: build, generate, test and deploy. `make help` lists the targets.

# Image the manager and its collector pods run.
IMG ?= netdiag:dev
# Namespace of the controller, its collector pods and their snapshots.
NAMESPACE ?= netdiag-system

# Control-plane binaries (etcd, kube-apiserver, ...) built from the Go module proxy by
# hack/build-controlplane.sh; envtest finds them through KUBEBUILDER_ASSETS.
KUBE_VERSION ?= v1.37.2
K8S_BIN ?= $(CURDIR)/bin/k8s/$(KUBE_VERSION)
KUBEBUILDER_ASSETS ?= $(K8S_BIN)
KUBECTL ?= $(if $(wildcard $(K8S_BIN)/kubectl),$(K8S_BIN)/kubectl,kubectl)
# helm, built from the Go module proxy by hack/build-helm.sh; test/chart renders dist/chart with it.
HELM_VERSION ?= v3.22.0
HELM ?= $(CURDIR)/bin/helm/$(HELM_VERSION)/helm

CONTROLLER_GEN ?= go tool controller-gen
CONTAINER_TOOL ?= docker
# What `netdiag version` and `kubectl netdiag version` print.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS ?= -X github.com/netdiag/netdiag/internal/buildinfo.version=$(VERSION) -X github.com/netdiag/netdiag/internal/buildinfo.commit=$(COMMIT)

# Extra flags for go test, e.g. GOTEST_FLAGS="-run TestX -v".
GOTEST_FLAGS ?=

SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRD and the RBAC roles from the markers.
	$(CONTROLLER_GEN) rbac:roleName=netdiag-manager crd paths="./api/...;./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate the DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: chart
chart: manifests ## Write dist/chart's templates and values from config/ and the manager's flags.
	KUBECTL=$(KUBECTL) hack/gen-chart.sh

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: ## Run golangci-lint (installed separately) with .golangci.yml.
	golangci-lint run ./...

.PHONY: verify
verify: manifests generate ## Fail when generated files or formatting are stale.
	@if [ -n "$$(gofmt -l $$(git ls-files '*.go'))" ]; then echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; fi
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make manifests generate' and commit"; exit 1; }
	@if [ -n "$$(git ls-files --others --exclude-standard -- api config)" ]; then echo "generated files not committed:"; git ls-files --others --exclude-standard -- api config; exit 1; fi

.PHONY: controlplane
controlplane: $(K8S_BIN)/kube-apiserver $(K8S_BIN)/kubelet ## Build etcd, kube-apiserver, the kubelet and friends into bin/k8s (once).
$(K8S_BIN)/kube-apiserver $(K8S_BIN)/kubelet:
	KUBE_VERSION=$(KUBE_VERSION) hack/build-controlplane.sh

.PHONY: helm
helm: $(HELM) ## Build helm into bin/helm (once).
$(HELM):
	HELM_VERSION=$(HELM_VERSION) hack/build-helm.sh

# calico-felix and Calico's CRDs, built from the Go module proxy by hack/build-felix.sh for the
# lab's calico modes.
CALICO_VERSION ?= v3.31.0
FELIX ?= $(CURDIR)/bin/calico/$(CALICO_VERSION)/calico-felix

.PHONY: felix
felix: $(FELIX) ## Build calico-felix and copy Calico's CRDs into bin/calico (once).
$(FELIX):
	CALICO_VERSION=$(CALICO_VERSION) hack/build-felix.sh

.PHONY: test
test: manifests generate vet controlplane helm image ## Run every test (envtest suites on a real API server; some packages need root and netns).
	KUBEBUILDER_ASSETS="$(KUBEBUILDER_ASSETS)" go test -timeout 40m ./... $(GOTEST_FLAGS)

# How much each fuzz target runs in `make fuzz`: a count of inputs, not a duration. With a
# duration, Go 1.26's fuzz coordinator can report its own deadline as a failure when a worker
# is mid-input as the time runs out on a loaded machine (go.dev/issue/75804); a count has no
# deadline to race.
FUZZTIME ?= 20000x

.PHONY: fuzz
fuzz: ## Run every fuzz target (each `func Fuzz` of a test file) for FUZZTIME; their seeds are the regression corpus.
	@set -e; out=$$(mktemp -d); trap 'rm -rf "$$out"' EXIT; cache=$$(go env GOCACHE)/fuzz; \
	for dir in $$(grep -rl --include='*_test.go' --exclude-dir=bin --exclude-dir=.git -e '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
		go test -c -fuzz=. -o "$$out/fuzz.test" "$$dir"; \
		for target in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$dir"/*_test.go); do \
			echo "fuzz $$dir $$target"; \
			(cd "$$dir" && "$$out/fuzz.test" -test.run '^$$' -test.fuzz "^$$target$$" -test.fuzztime $(FUZZTIME) -test.fuzzcachedir "$$cache"); \
		done; \
	done

.PHONY: e2e
e2e: controlplane felix ## Run the end-to-end suite alone: the lab in every mode, the real controller, faults checked against real packets (root).
	hack/build-cni.sh >/dev/null
	hack/build-flannel.sh >/dev/null
	go test ./test/e2e/ -count=1 -timeout 40m -v $(GOTEST_FLAGS)

.PHONY: demo
demo: ## Bring the lab up with a small shop, run the controller, apply config/samples and show the answers (root; KEEP=1 keeps the lab; NODES=real runs real kubelets and containerd).
	hack/demo.sh

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build bin/netdiag and the kubectl plugin bin/kubectl-netdiag.
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/netdiag .
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o bin/kubectl-netdiag ./cmd/kubectl-netdiag

# Platforms of the kubectl plugin's release archives, which krew/netdiag.yaml points at.
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
PLUGIN_DIST ?= dist/plugin

.PHONY: plugin-archives
plugin-archives: ## Build the kubectl plugin's release archives and their SHA256SUMS into PLUGIN_DIST, as krew installs them.
	mkdir -p $(PLUGIN_DIST)
	for p in $(PLUGIN_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; dir=$$(mktemp -d); \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags "$(LDFLAGS)" -o $$dir/kubectl-netdiag ./cmd/kubectl-netdiag; \
		cp LICENSE $$dir/; \
		tar -C $$dir -czf $(PLUGIN_DIST)/kubectl-netdiag_$(VERSION)_$${os}_$${arch}.tar.gz kubectl-netdiag LICENSE; \
		rm -rf $$dir; \
	done
	cd $(PLUGIN_DIST) && sha256sum kubectl-netdiag_$(VERSION)_*.tar.gz > SHA256SUMS

.PHONY: run
run: manifests generate fmt vet install ## Run the controller here against the kubeconfig's cluster.
	go run . manager --namespace $(NAMESPACE) --collector-image $(IMG) \
		--metrics-bind-address 0 --health-probe-bind-address 127.0.0.1:8081 -v 1

.PHONY: image
image: ## Build the image without a container engine into bin/image/netdiag.oci.tar (mmdebstrap and umoci; root filesystem cached).
	VERSION="$(VERSION)" LDFLAGS="$(LDFLAGS)" hack/build-image.sh

.PHONY: docker-build
docker-build: ## Build the image (manager and collector).
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the image.
	$(CONTAINER_TOOL) push $(IMG)

##@ Deployment

.PHONY: install
install: manifests ## Install the CRD, the controller's namespace (privileged Pod Security, LimitRange), the collector's RBAC and PriorityClass, and the admission policy into the kubeconfig's cluster.
	$(KUBECTL) kustomize config/crd | $(KUBECTL) apply -f -
	$(KUBECTL) create namespace $(NAMESPACE) --dry-run=client -o yaml | $(KUBECTL) apply -f -
	$(KUBECTL) label namespace $(NAMESPACE) --overwrite pod-security.kubernetes.io/enforce=privileged pod-security.kubernetes.io/enforce-version=latest
	$(KUBECTL) apply -n $(NAMESPACE) -f config/manager/limitrange.yaml -f config/manager/priorityclass.yaml
	$(KUBECTL) kustomize config/collector | $(KUBECTL) apply -n $(NAMESPACE) -f -
	$(KUBECTL) kustomize config/admission | $(KUBECTL) apply -f -

.PHONY: uninstall
uninstall: manifests ## Remove the CRD (and every NetworkDiagnosis) from the cluster.
	$(KUBECTL) kustomize config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests ## Deploy the controller with image IMG.
	$(KUBECTL) kustomize config/default | sed 's|image: netdiag:latest|image: $(IMG)|' | $(KUBECTL) apply -f -

.PHONY: undeploy
undeploy: ## Remove the controller.
	$(KUBECTL) kustomize config/default | $(KUBECTL) delete --ignore-not-found -f -
