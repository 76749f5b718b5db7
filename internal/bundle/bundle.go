package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/diagnose"
	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/plugin"
	"github.com/netdiag/netdiag/internal/snapshotdir"
)

// QuestionFile is the file of a bundle that holds its question. Its kind is none the
// engine reads, so a snapshot folder reader skips it.
const QuestionFile = "question.yaml"

const (
	questionAPIVersion = "bundle.netdiag.dev/v1"
	questionKind       = "Question"
)

// Question is what was asked, as `netdiag diagnose` takes it on its command line.
type Question struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Diagnosis is the NetworkDiagnosis (namespace/name) the bundle was kept for.
	Diagnosis string `json:"diagnosis,omitempty"`
	// Source and Destination are endpoints as --source and --destination take them
	// (pod:NS/NAME, service:NS/NAME, node:NAME, ip:ADDRESS).
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Protocol is TCP, UDP or ICMP; Port the destination port, zero for ICMP.
	Protocol            string            `json:"protocol"`
	Port                uint16            `json:"port,omitempty"`
	NetworkPlugin       string            `json:"networkPlugin,omitempty"`
	NetworkPluginConfig map[string]string `json:"networkPluginConfig,omitempty"`
}

// Bundle is what one diagnosis read.
type Bundle struct {
	Question Question
	// Cluster holds the objects as lists.
	Cluster *cluster.Snapshot
	// Nodes are the node snapshots by node name.
	Nodes map[string]*netstack.NodeSnapshot
}

// NewQuestion states a question for a bundle.
func NewQuestion(diagnosis string, src, dst cluster.EndpointRef, proto model.Protocol, port uint16, plugin string, pluginConfig map[string]string) Question {
	return Question{
		APIVersion: questionAPIVersion, Kind: questionKind, Diagnosis: diagnosis,
		Source: diagnose.FormatEndpointRef(src), Destination: diagnose.FormatEndpointRef(dst),
		Protocol: string(proto), Port: port, NetworkPlugin: plugin, NetworkPluginConfig: pluginConfig,
	}
}

// Files are the files of the bundle as a snapshot folder holds them, the question with them.
func (b *Bundle) Files() ([]snapshotdir.File, error) {
	files, err := snapshotdir.Encode(b.Cluster, b.Nodes)
	if err != nil {
		return nil, err
	}
	q, err := yaml.Marshal(b.Question)
	if err != nil {
		return nil, fmt.Errorf("encode the question: %w", err)
	}
	return append([]snapshotdir.File{{Name: QuestionFile, Data: q}}, files...), nil
}

// Write stores the bundle at path: a folder, or a tarball when path ends in .tar.gz or .tgz.
// A folder must be new or empty: a file left from another bundle would join this one.
func Write(path string, b *Bundle) error {
	if !snapshotdir.IsTarball(path) {
		if entries, err := os.ReadDir(path); err == nil && len(entries) > 0 {
			return fmt.Errorf("write bundle: folder %s is not empty", path)
		}
	}
	files, err := b.Files()
	if err != nil {
		return err
	}
	return snapshotdir.WriteFiles(path, files)
}

// Tarball is the bundle as the bytes of a tarball.
func (b *Bundle) Tarball() ([]byte, error) {
	files, err := b.Files()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := snapshotdir.WriteTarball(&buf, "bundle", files); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Read reads a bundle from a folder or tarball.
func Read(path string) (*Bundle, error) {
	files, err := snapshotdir.Files(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, files)
}

// ReadTarball reads a bundle from the bytes of a tarball; where names it in errors.
func ReadTarball(where string, data []byte) (*Bundle, error) {
	files, err := snapshotdir.ReadTarball(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read bundle %s: %w", where, err)
	}
	return Parse(where, files)
}

// Parse reads a bundle from its files; where names it in errors.
func Parse(where string, files []snapshotdir.File) (*Bundle, error) {
	snap, nodes, err := snapshotdir.Parse(where, files)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Cluster: snap, Nodes: nodes}
	for _, f := range files {
		if f.Name != QuestionFile {
			continue
		}
		if err := yaml.UnmarshalStrict(f.Data, &b.Question); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", where, QuestionFile, err)
		}
		if b.Question.Kind != questionKind {
			return nil, fmt.Errorf("%s/%s: kind %q, want %s", where, QuestionFile, b.Question.Kind, questionKind)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%s holds no %s: a snapshot folder, not a bundle", where, QuestionFile)
}

// Input is the engine's input for the bundle's question.
func (b *Bundle) Input() (diagnose.Input, error) {
	q := b.Question
	srcRef, err := diagnose.ParseEndpointRef(q.Source)
	if err != nil {
		return diagnose.Input{}, fmt.Errorf("the bundle's source: %w", err)
	}
	dstRef, err := diagnose.ParseEndpointRef(q.Destination)
	if err != nil {
		return diagnose.Input{}, fmt.Errorf("the bundle's destination: %w", err)
	}
	src, err := b.Cluster.Resolve(srcRef)
	if err != nil {
		return diagnose.Input{}, fmt.Errorf("the bundle's source %s: %w", q.Source, err)
	}
	dst, err := b.Cluster.Resolve(dstRef)
	if err != nil {
		return diagnose.Input{}, fmt.Errorf("the bundle's destination %s: %w", q.Destination, err)
	}
	proto := model.Protocol(strings.ToUpper(q.Protocol))
	if proto == "" {
		return diagnose.Input{}, errors.New("the bundle's question names no protocol")
	}
	return diagnose.Input{
		Cluster: b.Cluster, Nodes: b.Nodes,
		Question:      model.Question{Source: src, Destination: dst, Protocol: proto, Port: q.Port},
		NetworkPlugin: q.NetworkPlugin, NetworkPluginConfig: q.NetworkPluginConfig,
	}, nil
}

// Args are the `netdiag diagnose` flags that ask the bundle's question.
func (q Question) Args() []string {
	args := []string{"--source", q.Source, "--destination", q.Destination, "--protocol", strings.ToLower(q.Protocol)}
	if q.Port != 0 {
		args = append(args, "--port", strconv.Itoa(int(q.Port)))
	}
	if q.NetworkPlugin != "" {
		args = append(args, "--network-plugin", q.NetworkPlugin)
		for _, k := range slices.Sorted(maps.Keys(q.NetworkPluginConfig)) {
			args = append(args, "--"+q.NetworkPlugin+"-"+k, q.NetworkPluginConfig[k])
		}
	}
	return args
}

// Answer is a bundle's verdict and its suspicions' levels and codes, in the engine's order:
// what a redacted bundle must keep.
func Answer(plugins *plugin.Registry, b *Bundle) ([]string, error) {
	in, err := b.Input()
	if err != nil {
		return nil, err
	}
	res, err := (&diagnose.Diagnostor{Plugins: plugins}).Diagnose(in)
	if err != nil {
		return nil, fmt.Errorf("diagnose the bundle: %w", err)
	}
	out := []string{string(res.Verdict)}
	for _, s := range res.Suspicions {
		out = append(out, s.Level.String()+" "+string(s.Reason))
	}
	return out, nil
}

// SameAnswer reports an error when redacted does not diagnose as original does.
func SameAnswer(plugins *plugin.Registry, original, redacted *Bundle) error {
	want, err := Answer(plugins, original)
	if err != nil {
		return err
	}
	got, err := Answer(plugins, redacted)
	if err != nil {
		return fmt.Errorf("the redacted bundle: %w", err)
	}
	if !slices.Equal(want, got) {
		return fmt.Errorf("the redacted bundle answers %s where the original answers %s; write it without --redact and redact by hand", strings.Join(got, ", "), strings.Join(want, ", "))
	}
	return nil
}

// Hint says where a bundle was written and how to ask its question again.
func Hint(path string, q Question) string {
	return fmt.Sprintf("Wrote %s. To diagnose it again:\n  netdiag diagnose --snapshot %s %s\n", path, path, strings.Join(q.Args(), " "))
}
