package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
)

//go:embed values.yaml.tmpl
var valuesTemplate string

type imageValues struct {
	Repository, Tag, Digest string
}

// valuesData is what values.yaml says: defaults taken from the tree and the manager's flags.
type valuesData struct {
	Image      imageValues
	PullPolicy string
	Namespace  string
	Replicas   string
	// Resources are the manager container's, as YAML indented for values.yaml.
	Resources string
	PodExtras []string
	Sections  []flagSection
	// PriorityClass says the tree ships the collectors' PriorityClass.
	PriorityClass bool
	// Optional are the config/ trees offered behind NAME.enable.
	Optional []string
}

func (v valuesData) render() (string, error) {
	t, err := template.New("values.yaml").Funcs(template.FuncMap{
		"comment": func(ind, text string) string {
			var b strings.Builder
			for _, l := range wrap(text, 88-len(ind)) {
				b.WriteString(ind + "#   " + l + "\n")
			}
			return b.String()
		},
		"extraDefault": func(name string) string {
			if name == "tolerations" {
				return "[]"
			}
			return "{}"
		},
	}).Parse(valuesTemplate)
	if err != nil {
		return "", fmt.Errorf("parse values.yaml.tmpl: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return "", fmt.Errorf("write values.yaml: %w", err)
	}
	return b.String(), nil
}

// schema is values.schema.json: helm refuses a flag the manager does not have (a typo
// would otherwise reach the manager as an unknown flag and crash it) and a value of the
// wrong type.
func (v valuesData) schema() (string, error) {
	object := func(props map[string]any) map[string]any {
		return map[string]any{"type": "object", "properties": props}
	}
	str := map[string]any{"type": "string"}
	boolean := map[string]any{"type": "boolean"}
	all := map[string]any{}
	sections := map[string]any{}
	for _, s := range v.Sections {
		props := map[string]any{}
		for _, f := range s.Flags {
			props[f.Name] = f.schema()
			all[f.Name] = f.schema()
		}
		sections[s.Key] = map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	}
	manager := object(map[string]any{
		"replicas":  map[string]any{"type": "integer", "minimum": 0},
		"resources": map[string]any{"type": "object"},
		"flags":     map[string]any{"type": "object", "properties": all, "additionalProperties": false},
	})
	props := map[string]any{
		"image": object(map[string]any{
			"repository": map[string]any{"type": "string", "minLength": 1},
			"tag":        str,
			"digest":     map[string]any{"type": "string", "pattern": "^(sha256:[0-9a-f]{64})?$"},
			"pullPolicy": map[string]any{"enum": []string{"Always", "IfNotPresent", "Never"}},
		}),
		"namespace": object(map[string]any{
			"name":   map[string]any{"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"},
			"create": boolean,
		}),
		"crd":     object(map[string]any{"enable": boolean, "keep": boolean}),
		"metrics": object(map[string]any{"enable": boolean}),
		"manager": manager,
		"caps":    sections["caps"],
		"plugins": sections["plugins"],
	}
	if v.PriorityClass {
		props["collector"] = object(map[string]any{"priorityClass": object(map[string]any{"create": boolean})})
	}
	for _, name := range v.Optional {
		props[name] = object(map[string]any{"enable": boolean})
	}
	out, err := json.MarshalIndent(map[string]any{
		"$schema":    "https://json-schema.org/draft-07/schema#",
		"type":       "object",
		"properties": props,
	}, "", "  ")
	if err != nil {
		return "", err
	}
	return string(out) + "\n", nil
}
