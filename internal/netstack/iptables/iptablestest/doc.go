// Package iptablestest generates large iptables-save rulesets shaped as kube-proxy writes
// them, for benchmarks of the parser, the evaluator and the engine.
package iptablestest
