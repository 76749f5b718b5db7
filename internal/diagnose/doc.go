// Package diagnose is the engine's entry point: the Diagnostor walks the packet from the
// source to the destination (and back where the reply matters) through the snapshot's real
// state, and returns the verdict, the suspicions and the packet path. It is pure: no API
// call, no kernel read.
package diagnose
