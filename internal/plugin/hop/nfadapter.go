package hop

import (
	"strings"

	"github.com/netdiag/netdiag/internal/model"
	"github.com/netdiag/netdiag/internal/netstack/nf"
)

// What the hop reads from a hook's outcome, as its suspicions and steps word it.

// RulesetName is how a suspicion names the ruleset that stopped the packet.
func RulesetName(o *nf.Outcome) string {
	if o.Ruleset == nf.NFTables {
		return nf.NFTables
	}
	return nf.IPTables
}

// DropReason is the code of a DROP by the outcome's ruleset.
func DropReason(o *nf.Outcome) model.Reason {
	if o.Ruleset == nf.NFTables {
		return model.ReasonNFTablesDrop
	}
	return model.ReasonIPTablesDrop
}

// RejectReason is the code of a REJECT by the outcome's ruleset.
func RejectReason(o *nf.Outcome) model.Reason {
	if o.Ruleset == nf.NFTables {
		return model.ReasonNFTablesReject
	}
	return model.ReasonIPTablesReject
}

// Decider is the rule that decided the outcome, as its ruleset prints it (nf.Outcome.Deciding).
func Decider(o *nf.Outcome) string {
	text, _ := o.Deciding()
	return text
}

// VerdictWord is a verdict as the steps print it: "ACCEPT", "DROP", "REJECT", "UNKNOWN".
func VerdictWord(v nf.Verdict) string { return strings.ToUpper(string(v)) }

// traceText is the chain path of an outcome, or the rule that decided.
func traceText(o *nf.Outcome) string {
	if lines := o.TraceLines(); len(lines) > 0 {
		return strings.Join(lines, " -> ")
	}
	return Decider(o)
}
