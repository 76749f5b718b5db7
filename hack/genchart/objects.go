package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// originAnnotation is where kustomize's buildMetadata [originAnnotations] records the file
// an object came from; the chart lays its templates as config/ lays those files.
const originAnnotation = "config.kubernetes.io/origin"

// object is one object of the kustomize tree.
type object struct {
	obj map[string]any
	// origin is the object's file under config/ ("rbac/role.yaml").
	origin string
	// cond is the Helm condition the object is rendered under; "" renders it always.
	cond string
}

func (o object) kind() string { return str(o.obj, "kind") }
func (o object) name() string { return str(o.obj, "metadata", "name") }

// key names the object among all others.
func (o object) key() string {
	return strings.Join([]string{str(o.obj, "apiVersion"), o.kind(), str(o.obj, "metadata", "namespace"), o.name()}, "/")
}

// readObjects decodes a YAML stream of objects and takes each one's origin off it. Numbers
// stay json.Numbers, so that they are written back as they were read.
func readObjects(r io.Reader, base, configDir string) ([]object, error) {
	cfg, err := filepath.Abs(configDir)
	if err != nil {
		return nil, err
	}
	rd := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var objs []object
	for {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("split the stream: %w", err)
		}
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m, func(d *json.Decoder) *json.Decoder { d.UseNumber(); return d }); err != nil {
			return nil, fmt.Errorf("decode an object: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		o := object{obj: m}
		if o.origin, err = takeOrigin(m, base, cfg); err != nil {
			return nil, fmt.Errorf("%s %s: %w", o.kind(), o.name(), err)
		}
		objs = append(objs, o)
	}
}

// takeOrigin removes the origin annotation (and the annotations, when it was the only one)
// and returns the file it names, relative to config/.
func takeOrigin(m map[string]any, base, cfg string) (string, error) {
	meta, _ := m["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	raw, ok := ann[originAnnotation].(string)
	if !ok {
		return "", errors.New("no origin annotation: build the tree with buildMetadata [originAnnotations]")
	}
	delete(ann, originAnnotation)
	if len(ann) == 0 {
		delete(meta, "annotations")
	}
	var origin struct {
		Path string `json:"path"`
	}
	if err := yaml.Unmarshal([]byte(raw), &origin); err != nil || origin.Path == "" {
		return "", fmt.Errorf("origin annotation %q names no path", raw)
	}
	abs, err := filepath.Abs(filepath.Join(base, origin.Path))
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(cfg, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("origin %s is outside %s", abs, cfg)
	}
	return filepath.ToSlash(rel), nil
}

// str is the string at path in m, "" when there is none.
func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// child is the map at key in m, made when absent.
func child(m map[string]any, key string) map[string]any {
	c, ok := m[key].(map[string]any)
	if !ok {
		c = map[string]any{}
		m[key] = c
	}
	return c
}

// replaceStrings replaces old in every string value under v (map keys are left alone): a
// string that is old entirely becomes whole, one that contains it has each occurrence
// replaced by part.
func replaceStrings(v any, old, whole, part string) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = replaceStrings(e, old, whole, part)
		}
	case []any:
		for i, e := range t {
			t[i] = replaceStrings(e, old, whole, part)
		}
	case string:
		if t == old {
			return whole
		}
		return strings.ReplaceAll(t, old, part)
	}
	return v
}
