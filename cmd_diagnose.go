package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/pathgraph"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/plugins"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// diagnoseOptions are the flags of `netdiag diagnose`.
type diagnoseOptions struct {
	snapshot     string
	source       string
	destination  string
	protocol     string
	packetSize   int
	dontFragment bool
	port         uint16
	output       string
	plugin       string
	// systemNamespaces are the namespaces whose DaemonSets the engine reads; nil: the
	// registry's defaults.
	systemNamespaces []string
	// plugins are the plugins it knows; their flags bind to the command's.
	plugins *plugin.Registry
}

func newDiagnoseCommand() *cobra.Command {
	o := diagnoseOptions{protocol: "tcp", output: "text", plugin: plugin.Auto, plugins: plugins.Registry()}
	cmd := &cobra.Command{
		Use:   "diagnose --snapshot DIR --source KIND:NAME --destination KIND:NAME [--protocol tcp --port 80]",
		Short: "Run the engine offline on a snapshot folder",
		Long: `Diagnose whether traffic gets from a source to a destination, from a snapshot folder:
the cluster objects as "kubectl get ... -o yaml" prints them (*.yaml) and one node snapshot per
node as "netdiag collect --output" writes it (*.json).

Endpoints are pod:NAMESPACE/NAME, service:NAMESPACE/NAME (destination only), node:NAME or
ip:ADDRESS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDiagnose(cmd.OutOrStdout(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.snapshot, "snapshot", "", "snapshot folder (required)")
	f.StringVar(&o.source, "source", "", "where the traffic starts: pod:NS/NAME, node:NAME or ip:IP (required)")
	f.StringVar(&o.destination, "destination", "", "where the traffic goes: pod:NS/NAME, service:NS/NAME, node:NAME or ip:IP (required)")
	f.StringVar(&o.protocol, "protocol", o.protocol, "tcp, udp, sctp or icmp")
	f.Uint16Var(&o.port, "port", 0, "destination port (the service's port for a service), required for tcp and udp")
	f.IntVar(&o.packetSize, "packet-size", 0, "ask about packets of this many bytes (the IP packet); for tcp, it caps the full-size segments the two ends' MSS allow")
	f.BoolVar(&o.dontFragment, "dont-fragment", false, "set DF on the icmp or udp packets of --packet-size")
	f.StringVarP(&o.output, "output", "o", o.output, "output format: text, wide (text with every step of each hop), yaml, json, or the path as a picture: dot, mermaid or svg")
	f.StringVar(&o.plugin, "network-plugin", o.plugin, "network plugin to simulate ("+strings.Join(o.plugins.Simulated(), ", ")+"), or auto to detect it")
	f.StringSliceVar(&o.systemNamespaces, "system-namespaces", o.plugins.DefaultSystemNamespaces(),
		"namespaces whose DaemonSets count, as the manager's flag of the same name: a tenant's DaemonSet in the folder is ignored")
	o.plugins.BindFlags(f)
	for _, name := range []string{"snapshot", "source", "destination"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func runDiagnose(w io.Writer, o diagnoseOptions) error {
	switch o.output {
	case "text", "wide", "yaml", "json", "dot", "mermaid", "svg":
	default:
		return fmt.Errorf("--output %q: want text, wide, yaml, json, dot, mermaid or svg", o.output)
	}
	proto := model.Protocol(strings.ToUpper(o.protocol))
	switch proto {
	case model.TCP, model.UDP, model.SCTP:
		if o.port == 0 {
			return fmt.Errorf("--port is required for %s", o.protocol)
		}
	case model.ICMP:
		if o.port != 0 {
			return errors.New("--port makes no sense for icmp")
		}
	default:
		return fmt.Errorf("--protocol %q: want tcp, udp, sctp or icmp", o.protocol)
	}
	if o.packetSize != 0 && (o.packetSize < 68 || o.packetSize > 65535) {
		return fmt.Errorf("--packet-size %d: want 68 to 65535 bytes", o.packetSize)
	}
	if o.dontFragment && o.packetSize == 0 {
		return errors.New("--dont-fragment needs --packet-size: it says what happens to packets of that size")
	}
	if o.plugins == nil {
		o.plugins = plugins.Registry()
	}
	if o.systemNamespaces != nil {
		if err := o.plugins.SetSystemNamespaces(o.systemNamespaces); err != nil {
			return fmt.Errorf("--system-namespaces: %w", err)
		}
	}
	snap, nodes, err := snapshotdir.Load(o.snapshot)
	if err != nil {
		return err
	}
	// As the manager's cache does: what a tenant's DaemonSet says reaches neither detection
	// nor a plugin reading its own DaemonSet's settings.
	snap.DaemonSets = cluster.DaemonSetsIn(snap, o.plugins.SystemNamespaces())
	srcRef, err := diagnose.ParseEndpointRef(o.source)
	if err != nil {
		return fmt.Errorf("--source: %w", err)
	}
	if srcRef.Type == model.EndpointService {
		return errors.New("--source: a service sends no traffic; name one of its pods")
	}
	dstRef, err := diagnose.ParseEndpointRef(o.destination)
	if err != nil {
		return fmt.Errorf("--destination: %w", err)
	}
	src, err := snap.Resolve(srcRef)
	if err != nil {
		return fmt.Errorf("--source %s in snapshot %s: %w", o.source, o.snapshot, err)
	}
	dst, err := snap.Resolve(dstRef)
	if err != nil {
		return fmt.Errorf("--destination %s in snapshot %s: %w", o.destination, o.snapshot, err)
	}
	q := model.Question{Source: src, Destination: dst, Protocol: proto, Port: o.port, Size: o.packetSize, DontFragment: o.dontFragment}
	res, err := (&diagnose.Diagnostor{Plugins: o.plugins}).Diagnose(diagnose.Input{Cluster: snap, Nodes: nodes, Question: q, NetworkPlugin: o.plugin})
	if err != nil {
		return err
	}
	switch o.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(diagnose.NewReport(q, res))
	case "yaml":
		out, err := yaml.Marshal(diagnose.NewReport(q, res))
		if err != nil {
			return fmt.Errorf("encode result: %w", err)
		}
		_, err = w.Write(out)
		return err
	case "dot", "mermaid", "svg":
		return pathgraph.Write(w, o.output, pathgraph.FromResult(q, res))
	}
	return diagnose.WriteReportText(w, diagnose.NewReport(q, res), diagnose.TextOptions{Steps: o.output == "wide"})
}
