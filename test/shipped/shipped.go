package shipped

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// maxObjects bounds what one file may hold; the repository's files hold a handful.
const maxObjects = 100

// Objects reads the objects config/<dir> ships, in the order its kustomization lists its
// files, so that a suite judges the YAML a cluster would get and nothing copied from it.
// root is the repository's root.
func Objects(root, dir string) ([]*unstructured.Unstructured, error) {
	base := filepath.Join(root, "config", dir)
	raw, err := os.ReadFile(filepath.Join(base, "kustomization.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read config/%s's kustomization: %w", dir, err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return nil, fmt.Errorf("parse config/%s/kustomization.yaml: %w", dir, err)
	}
	var objs []*unstructured.Unstructured
	for _, res := range k.Resources {
		path := filepath.Join(base, res)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config/%s lists %s (only files are read): %w", dir, res, err)
		}
		got, err := Decode(path, data)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("config/%s ships nothing", dir)
	}
	return objs, nil
}

// Decode reads every object of a multi-document YAML text; path names it in errors.
func Decode(path string, data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for range maxObjects {
		var u unstructured.Unstructured
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		if len(u.Object) > 0 {
			objs = append(objs, &u)
		}
	}
	return nil, fmt.Errorf("%s holds more than %d objects", path, maxObjects)
}

// BinaryAssets is where etcd, kube-apiserver and the rest are: $KUBEBUILDER_ASSETS, else
// the binaries hack/build-controlplane.sh built under root's bin/.
func BinaryAssets(root string) string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(root, "bin", "k8s", "current")
}
