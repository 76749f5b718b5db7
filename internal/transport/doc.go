// Package transport carries node snapshots from collectors to the controller through the
// API server, never over the pod network (which may be what is broken): gzip-compressed
// JSON split into ConfigMaps of at most ChunkSize bytes, labelled with the diagnosis and the
// node, in the controller's namespace.
package transport
