// Package netnstest holds what tests that build network namespaces share: running the ip,
// iptables and nft commands that lay them out, failing the test with the command's own
// output when one fails.
package netnstest
