package nf

import "fmt"

// Hook is a netfilter hook: where in the kernel's path a packet meets the rules.
type Hook int

const (
	PreRouting Hook = iota
	Input
	Forward
	Output
	PostRouting
)

// String is the hook's name as iptables names its built-in chain.
func (h Hook) String() string {
	switch h {
	case PreRouting:
		return "PREROUTING"
	case Input:
		return "INPUT"
	case Forward:
		return "FORWARD"
	case Output:
		return "OUTPUT"
	case PostRouting:
		return "POSTROUTING"
	}
	return fmt.Sprintf("hook(%d)", int(h))
}

// SourceNAT reports whether the hook's nat stage binds the source (POSTROUTING, INPUT)
// rather than the destination (PREROUTING, OUTPUT).
func (h Hook) SourceNAT() bool { return h == PostRouting || h == Input }

// NATDone is the status bit that says the hook's nat stage has been consulted for the
// connection.
func (h Hook) NATDone() CtStatus {
	if h.SourceNAT() {
		return StatusSrcNATDone
	}
	return StatusDstNATDone
}

// Verdict is what the rules of a hook decide for a packet.
type Verdict string

const (
	Accept Verdict = "Accept"
	Drop   Verdict = "Drop"
	Reject Verdict = "Reject"
	// Unknown: a rule the evaluator does not understand decides; Outcome.Undecided names it.
	Unknown Verdict = "Unknown"
)
