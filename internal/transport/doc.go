// Package transport carries node snapshots from collectors to the controller through the
// API server, never over the pod network (which may be what is broken): compressed, split
// into ConfigMaps of at most ChunkSize bytes, labelled with the diagnosis and the node, in
// the controller's namespace.
//
// Encode writes EncodingCompact: the iptables rulesets, most of a large node's bytes, are
// rewritten by savecodec (each kube-proxy chain name stored once) and everything is
// zstd-compressed with a window as large as the snapshot. Decode also reads
// EncodingGzipJSON, the gzip-compressed JSON that earlier collectors wrote, so that a
// controller upgraded before its collectors' image keeps working. The ConfigMaps'
// AnnotationEncoding says which; an encoding Decode does not know is an error naming it.
//
// Whoever may write ConfigMaps in the controller's namespace writes what Decode reads, so
// Decode is bounded by Limits (chunk count, compressed size per chunk and in total, decoded
// size of the payload and of every ruleset together, depth and number of JSON values), and
// refuses a snapshot over one with a *LimitError before it allocates what the snapshot
// claims.
package transport
