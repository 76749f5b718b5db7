// Package buildinfo says which build of netdiag is running: the version and commit the
// Makefile stamps in with -ldflags -X, and the Go toolchain and Kubernetes libraries the
// binary was built with, read from the binary's own build information.
package buildinfo
