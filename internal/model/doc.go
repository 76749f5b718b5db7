// Package model holds the vocabulary of a diagnosis: endpoints, protocols, the nodes and
// links a packet crosses, the transmissions between them, the suspicions found on the way
// and the packet path. It has no behaviour beyond small helpers, so every other part of the
// engine can share it without depending on each other.
package model
