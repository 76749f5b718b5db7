// Command kubectl-netdiag is the kubectl plugin `kubectl netdiag`: found on the PATH, it
// asks the netdiag controller a connectivity question from the command line.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/netdiag/netdiag/internal/kubectlcmd"
)

func main() {
	// Ctrl-C cancels the context: the command deletes what it created and exits 2.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := kubectlcmd.Main(ctx, os.Args[1:], genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	stop()
	os.Exit(code)
}
