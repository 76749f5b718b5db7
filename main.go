// Command netdiag is one binary with three jobs: `manager` runs the controller, `collect`
// gathers a node's network state inside a collector pod, and `diagnose` runs the engine
// offline on a snapshot folder; `version` says which build it is.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "netdiag",
		Short:         "Diagnose Kubernetes network connectivity from the real state of the nodes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newManagerCommand(), newCollectCommand(), newDiagnoseCommand())
	root.AddCommand(newVersionCommand(), newBundleCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "netdiag:", err)
		os.Exit(1)
	}
}
