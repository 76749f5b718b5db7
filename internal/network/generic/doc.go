// Package generic is the Network every plugin can run on: it makes the NetNodes through
// the plugin (pods, nodes) and itself (places outside the cluster), starts the packet at the
// source and walks it to its ends.
package generic
