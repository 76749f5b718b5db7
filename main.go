/*
Copyright 2026 The netdiag Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command netdiag is one binary with three jobs: `manager` runs the controller, `collect`
// gathers a node's network state inside a collector pod, and `diagnose` runs the engine
// offline on a snapshot folder.
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
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "netdiag:", err)
		os.Exit(1)
	}
}
