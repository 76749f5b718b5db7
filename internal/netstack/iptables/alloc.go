package iptables

// block hands out values cut from blocks of 256, so that a large ruleset costs few
// allocations.
type block[T any] struct{ buf []T }

func (b *block[T]) next() *T {
	if len(b.buf) == 0 {
		b.buf = make([]T, 256)
	}
	x := &b.buf[0]
	b.buf = b.buf[1:]
	return x
}

// allocator holds blocks for the matches and targets most rules have; nil allocates each
// on its own.
type allocator struct {
	comments   block[CommentMatch]
	l4         block[L4Match]
	statistics block[StatisticMatch]
	jumps      block[JumpTarget]
	nats       block[NATTarget]
}

func (a *allocator) comment() *CommentMatch {
	if a == nil {
		return new(CommentMatch)
	}
	return a.comments.next()
}

func (a *allocator) l4Match() *L4Match {
	if a == nil {
		return new(L4Match)
	}
	return a.l4.next()
}

func (a *allocator) statistic() *StatisticMatch {
	if a == nil {
		return new(StatisticMatch)
	}
	return a.statistics.next()
}

func (a *allocator) jump() *JumpTarget {
	if a == nil {
		return new(JumpTarget)
	}
	return a.jumps.next()
}

func (a *allocator) nat() *NATTarget {
	if a == nil {
		return new(NATTarget)
	}
	return a.nats.next()
}
