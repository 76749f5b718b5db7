// Command pause is the lab's pod sandbox process: it holds a pod's namespaces open, reaps the
// children it inherits, and ends on SIGINT or SIGTERM, as the upstream pause container does.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		// Upstream pause refuses too: outside a pod it would only hang the terminal.
		os.Stderr.WriteString("pause: not running as PID 1; it is a pod sandbox\n")
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			// Orphans of the pod are reparented here; reap them so none stays a zombie.
			for {
				pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}
