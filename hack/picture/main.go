// Command picture draws a NetworkDiagnosis's packet path from the object as the API server
// holds it: `kubectl get nd NAME -o json | go run ./hack/picture -o svg > NAME.svg`. The demo
// uses it to write its pictures; `kubectl netdiag get NAME -o svg` does the same for users.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	diagv1alpha1 "github.com/netdiag/netdiag/api/v1alpha1"
	"github.com/netdiag/netdiag/internal/pathgraph"
)

// maxInput bounds what is read: a status holds at most 128 hops and 256 links.
const maxInput = 4 << 20

func main() {
	format := flag.String("o", "svg", "picture format: "+strings.Join(pathgraph.Formats, ", "))
	flag.Parse()
	if err := run(os.Stdin, os.Stdout, *format); err != nil {
		fmt.Fprintln(os.Stderr, "picture:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer, format string) error {
	if !pathgraph.IsFormat(format) {
		return fmt.Errorf("-o %q: want one of %s", format, strings.Join(pathgraph.Formats, ", "))
	}
	data, err := io.ReadAll(io.LimitReader(in, maxInput))
	if err != nil {
		return fmt.Errorf("read the NetworkDiagnosis: %w", err)
	}
	var nd diagv1alpha1.NetworkDiagnosis
	if err := yaml.Unmarshal(data, &nd); err != nil {
		return fmt.Errorf("decode the NetworkDiagnosis: %w", err)
	}
	if nd.Kind != "NetworkDiagnosis" {
		return fmt.Errorf("want a NetworkDiagnosis (kubectl get nd NAME -o json), got kind %q", nd.Kind)
	}
	g := pathgraph.FromStatus(&nd.Status)
	if nd.Status.SourceSummary == "" && nd.Status.DestinationSummary == "" {
		g.Title = "networkdiagnosis " + nd.Namespace + "/" + nd.Name // not resolved yet
	}
	return pathgraph.Write(out, format, g)
}
