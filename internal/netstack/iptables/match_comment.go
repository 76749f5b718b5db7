package iptables

import "github.com/netdiag/netdiag/internal/netstack/nf"

// CommentMatch is -m comment; it always matches.
type CommentMatch struct {
	base
	Comment string
}

func (m *CommentMatch) Eval(*nf.Packet, *Env) Result { return Hit }

// LimitMatch is -m limit. A rate limit passes the packets under the rate; the evaluator
// follows one packet, which it lets through.
type LimitMatch struct{ base }

func (m *LimitMatch) Eval(*nf.Packet, *Env) Result { return Hit }

// parseComment reads -m comment.
func parseComment(a *allocator, b base, opts []option) Match {
	m := a.comment()
	*m = CommentMatch{base: b}
	for _, o := range opts {
		if o.name == "--comment" && len(o.args) == 1 {
			m.Comment = o.args[0]
		}
	}
	return m
}

// parseLimit reads -m limit.
func parseLimit(a *allocator, b base, opts []option) Match {
	return &LimitMatch{base: b}
}

// parseNFAcct reads -m nfacct.
func parseNFAcct(a *allocator, b base, opts []option) Match {
	// Accounting only: it counts the packets and always matches.
	return &CommentMatch{base: b}
}
