package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// optionalTrees are kustomize trees outside config/default that the chart offers behind a
// value, off by default, so that the chart's defaults stay config/default.
type optionalTrees map[string]string

func (o optionalTrees) String() string { return fmt.Sprint(map[string]string(o)) }

func (o optionalTrees) Set(s string) error {
	name, file, ok := strings.Cut(s, "=")
	if !ok || name == "" || file == "" {
		return fmt.Errorf("want NAME=FILE, not %q", s)
	}
	o[name] = file
	return nil
}

func main() {
	var (
		manifests   = flag.String("manifests", "", "objects of config/default, built with buildMetadata [originAnnotations] by a kustomization in the file's folder")
		configDir   = flag.String("config", "config", "the config/ tree the objects come from")
		managerHelp = flag.String("manager-help", "", "output of `netdiag manager --help`")
		out         = flag.String("out", "dist/chart", "chart directory whose values and generated templates are rewritten")
		optional    = optionalTrees{}
	)
	flag.Var(optional, "optional", "NAME=FILE: objects of config/NAME, rendered only when the value NAME.enable is true (repeatable)")
	flag.Parse()
	if err := run(*manifests, *configDir, *managerHelp, *out, optional); err != nil {
		fmt.Fprintln(os.Stderr, "genchart:", err)
		os.Exit(1)
	}
}

func run(manifests, configDir, managerHelp, out string, optional optionalTrees) error {
	objs, err := readObjectsFile(manifests, configDir, "")
	if err != nil {
		return err
	}
	inDefault := map[string]bool{}
	for _, o := range objs {
		inDefault[o.key()] = true
	}
	for name, file := range optional {
		more, err := readObjectsFile(file, configDir, fmt.Sprintf(".Values.%s.enable", name))
		if err != nil {
			return err
		}
		for _, o := range more {
			// config/default may list the tree itself; its objects are then always rendered.
			if !inDefault[o.key()] {
				objs = append(objs, o)
			}
		}
	}
	help, err := os.ReadFile(managerHelp)
	if err != nil {
		return fmt.Errorf("read the manager's flags: %w", err)
	}
	flags, err := parseFlagHelp(string(help))
	if err != nil {
		return fmt.Errorf("parse %s: %w", managerHelp, err)
	}
	c, err := newChart(objs, flags, optional)
	if err != nil {
		return err
	}
	return c.write(out)
}

// readObjectsFile reads the objects a kustomization in file's folder built; their origins
// are relative to that folder.
func readObjectsFile(file, configDir, cond string) ([]object, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read the kustomize output: %w", err)
	}
	defer f.Close()
	objs, err := readObjects(f, filepath.Dir(file), configDir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	for i := range objs {
		objs[i].cond = cond
	}
	return objs, nil
}

// write replaces the chart's generated files: values.yaml, values.schema.json and every
// folder under templates/. Chart.yaml, .helmignore and the files directly in templates/
// (the helpers, NOTES.txt) are written by hand and kept.
func (c *chart) write(out string) error {
	dirs, err := filepath.Glob(filepath.Join(out, "templates", "*"))
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			if err := os.RemoveAll(d); err != nil {
				return fmt.Errorf("remove the old templates: %w", err)
			}
		}
	}
	files, err := c.files()
	if err != nil {
		return err
	}
	for name, text := range files {
		path := filepath.Join(out, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
