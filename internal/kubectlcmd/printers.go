package kubectlcmd

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/pathgraph"
)

// A printer writes a diagnosis in one output format.
type printer func(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis) error

// formats are the -o values every command shares; "text" is each command's own (the report,
// a table row, a description). The pictures of the path are pathgraph's formats.
func formats() map[string]printer {
	m := map[string]printer{
		"yaml": printYAML,
		"json": printJSON,
	}
	for _, f := range pathgraph.Formats() {
		m[f] = func(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis) error {
			return pathgraph.Write(w, f, pathgraph.FromStatus(&nd.Status))
		}
	}
	return m
}

// printerFor returns the printer of format, with text the command's own.
func printerFor(format string, text printer) (printer, error) {
	if format == "" || format == "text" {
		return text, nil
	}
	if p, ok := formats()[format]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("--output %q: want %s", format, strings.Join(formatNames(), ", "))
}

func formatNames() []string {
	names := []string{"text"}
	for name := range formats() {
		names = append(names, name)
	}
	slices.Sort(names[1:])
	return names
}

// printable is the object as `kubectl get -o yaml` shows it: with its kind, without the
// managed fields.
func printable(nd *diagv1alpha1.NetworkDiagnosis) *diagv1alpha1.NetworkDiagnosis {
	out := nd.DeepCopy()
	out.APIVersion, out.Kind = diagv1alpha1.GroupVersion.String(), "NetworkDiagnosis"
	out.ManagedFields = nil
	return out
}

func printYAML(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis) error {
	out, err := yaml.Marshal(printable(nd))
	if err != nil {
		return fmt.Errorf("encode NetworkDiagnosis %s as YAML: %w", nd.Name, err)
	}
	_, err = w.Write(out)
	return err
}

func printJSON(w io.Writer, nd *diagv1alpha1.NetworkDiagnosis) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "    ")
	if err := enc.Encode(printable(nd)); err != nil {
		return fmt.Errorf("encode NetworkDiagnosis %s as JSON: %w", nd.Name, err)
	}
	return nil
}
