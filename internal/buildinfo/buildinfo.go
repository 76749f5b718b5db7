package buildinfo

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Set at link time by the Makefile:
//
//	-ldflags "-X github.com/netdiag/netdiag/internal/buildinfo.version=$(git describe) \
//	          -X github.com/netdiag/netdiag/internal/buildinfo.commit=$(git rev-parse HEAD)"
//
// A plain `go build` leaves them empty, and Read falls back to what the toolchain recorded.
var (
	version string
	commit  string
)

// libraries are the modules whose versions decide which clusters a build speaks to.
var libraries = []string{
	"k8s.io/api",
	"k8s.io/apimachinery",
	"k8s.io/client-go",
	"k8s.io/cli-runtime",
	"sigs.k8s.io/controller-runtime",
}

// Info describes one build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
	// Libraries maps each Kubernetes library linked into the binary to its module version.
	Libraries map[string]string `json:"libraries,omitempty"`
}

// Read returns the running binary's build.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(version, commit, bi)
}

// fromBuildInfo fills the gaps the linker flags leave from the toolchain's record: `go
// install ...@v1.2.3` records the module's version, a build in a git checkout the revision.
func fromBuildInfo(v, c string, bi *debug.BuildInfo) Info {
	info := Info{Version: v, Commit: c, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && info.Commit == "" {
				info.Commit = s.Value
			}
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		for _, d := range bi.Deps {
			if !slices.Contains(libraries, d.Path) {
				continue
			}
			if info.Libraries == nil {
				info.Libraries = map[string]string{}
			}
			if d.Replace != nil {
				d = d.Replace
			}
			info.Libraries[d.Path] = d.Version
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// Write prints info as text, yaml or json.
func (info Info) Write(w io.Writer, format string) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	case "yaml":
		out, err := yaml.Marshal(info)
		if err != nil {
			return fmt.Errorf("encode version: %w", err)
		}
		_, err = w.Write(out)
		return err
	case "", "text":
	default:
		return fmt.Errorf("--output %q: want text, yaml or json", format)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Version:    %s\nCommit:     %s\nGo:         %s\nPlatform:   %s\n", info.Version, info.Commit, info.GoVersion, info.Platform)
	for _, lib := range libraries {
		if v, ok := info.Libraries[lib]; ok {
			fmt.Fprintf(&b, "%-11s %s %s\n", "Library:", lib, v)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// NewCommand is the `version` subcommand of a binary.
func NewCommand(binary string) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and Kubernetes library versions of " + binary,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return Read().Write(cmd.OutOrStdout(), output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text, yaml or json")
	return cmd
}
