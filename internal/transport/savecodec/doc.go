// Package savecodec rewrites iptables-save text into a form a general-purpose compressor
// shrinks far better, and back, byte for byte.
//
// kube-proxy names its chains after hashes (KUBE-SVC-XXXXXXXXXXXXXXXX, KUBE-SEP-..., ...):
// random by design, and each written three or four times, far apart, in a large ruleset. A
// compressor with a window of tens of kilobytes cannot see the repeats, and one with a long
// window pays a long-distance match for each. The codec instead stores every chain name once,
// in declaration order and front-coded (iptables-save sorts them, so neighbours share a
// prefix), and replaces each later occurrence by a short reference. The rest of each line goes
// to separate streams by kind (the chain a rule belongs to, the chains it names, its counters,
// the remaining text), so that each stream is regular on its own.
//
// Any text, iptables-save or not, round-trips: a line the codec does not recognise is kept
// as it is.
package savecodec
