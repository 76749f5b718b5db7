package main

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/plugins"
)

// managerFlag is one flag of `netdiag manager`, as its --help shows it.
type managerFlag struct {
	Name string
	// Type is pflag's word for the value ("string", "int", "strings"); "" for a bool.
	Type    string
	Default string
	Usage   string
	// Tree is the value config/manager gives the flag, "" when it gives none.
	Tree string
}

// flagLine is a line of pflag's usage: "  -v, --v int   usage (default 1)".
var (
	flagLine    = regexp.MustCompile(`^\s+(?:-\w, )?--([a-z0-9-]+)(?: (\w+))?\s{2,}(.*)$`)
	flagDefault = regexp.MustCompile(` \(default (.*)\)$`)
)

// notValues are flags the chart sets itself or that mean nothing in a pod.
var notValues = map[string]bool{"help": true, "namespace": true, "kubeconfig": true}

// parseFlagHelp reads the flags of a cobra command's --help.
func parseFlagHelp(help string) ([]managerFlag, error) {
	var flags []managerFlag
	in := false
	for line := range strings.Lines(help) {
		line = strings.TrimRight(line, "\n")
		if strings.HasSuffix(line, "Flags:") {
			in = true
			continue
		}
		m := flagLine.FindStringSubmatch(line)
		if !in || m == nil {
			in = in && line != ""
			continue
		}
		f := managerFlag{Name: m[1], Type: m[2], Usage: m[3]}
		if d := flagDefault.FindStringSubmatch(f.Usage); d != nil {
			f.Default = d[1]
			f.Usage = strings.TrimSuffix(f.Usage, d[0])
		}
		if !notValues[f.Name] {
			flags = append(flags, f)
		}
	}
	if len(flags) == 0 {
		return nil, errors.New("no flags found")
	}
	return flags, nil
}

// flagSection is a map of values.yaml whose keys are flags of the manager.
type flagSection struct {
	Key   string
	Flags []managerFlag
}

// flagSections sorts the flags into the values' maps: the network plugin and its options
// (the cluster's defaults, which a diagnosis may override), the load caps (max-...), and
// the rest.
func flagSections(flags []managerFlag) []flagSection {
	fs := pflag.NewFlagSet("plugins", pflag.ContinueOnError)
	plugins.Registry().BindFlags(fs)
	caps := flagSection{Key: "caps"}
	plug := flagSection{Key: "plugins"}
	rest := flagSection{Key: "manager.flags"}
	for _, f := range flags {
		switch {
		case fs.Lookup(f.Name) != nil || f.Name == "network-plugin":
			plug.Flags = append(plug.Flags, f)
		case strings.HasPrefix(f.Name, "max-") || strings.Contains(f.Name, "-max-"):
			caps.Flags = append(caps.Flags, f)
		default:
			rest.Flags = append(rest.Flags, f)
		}
	}
	return []flagSection{caps, plug, rest}
}

// YAMLValue is the flag's value as config/manager gives it, else the manager's default, as a
// value in values.yaml.
func (f managerFlag) YAMLValue() string {
	if f.Tree != "" {
		return f.yaml(f.Tree)
	}
	return f.YAMLDefault()
}

// YAMLDefault is the manager's default for the flag as a value in values.yaml.
func (f managerFlag) YAMLDefault() string { return f.yaml(f.Default) }

// yaml writes v, as --help or an argument spells it, as a value in values.yaml.
func (f managerFlag) yaml(v string) string {
	switch {
	case f.Type == "" && v == "":
		return "false"
	case f.Type == "strings":
		return "[" + strings.ReplaceAll(strings.Trim(v, "[]"), ",", ", ") + "]"
	case f.Type == "string" || f.Type == "duration":
		if s, err := strconv.Unquote(v); err == nil {
			return strconv.Quote(s)
		}
		return strconv.Quote(v)
	case v == "":
		return "0"
	}
	return v
}

// setTree records the values config/manager's arguments give the flags.
func setTree(sections []flagSection, args []string) {
	given := map[string]string{}
	for _, a := range args {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, value, hasValue := strings.Cut(name, "=")
			if !hasValue {
				value = "true"
			}
			given[name] = value
		}
	}
	for _, s := range sections {
		for i := range s.Flags {
			s.Flags[i].Tree = given[s.Flags[i].Name]
		}
	}
}

// schema is the JSON schema of the flag's value.
func (f managerFlag) schema() map[string]any {
	switch f.Type {
	case "":
		return map[string]any{"type": "boolean"}
	case "string", "duration":
		return map[string]any{"type": "string"}
	case "int", "int32", "int64", "uint", "uint32", "uint64":
		return map[string]any{"type": "integer"}
	case "float32", "float64":
		return map[string]any{"type": "number"}
	case "strings":
		return map[string]any{"type": []string{"array", "string"}, "items": map[string]any{"type": "string"}}
	}
	return map[string]any{"description": f.Usage}
}

// wrap breaks words into lines of about width.
func wrap(text string, width int) []string {
	var lines []string
	var cur string
	for _, w := range strings.Fields(text) {
		if cur != "" && len(cur)+1+len(w) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}
