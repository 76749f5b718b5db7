// Package recognised describes the network plugins netdiag recognises in a cluster but does
// not simulate: a diagnosis names them and follows the data plane as it is, rather than
// reporting an unknown plugin or simulating the wrong one.
package recognised
