package netfilter

import (
	"hash/maphash"
	"sync"

	"github.com/netdiag/netdiag/internal/netstack"
	"github.com/netdiag/netdiag/internal/netstack/iptables"
	"github.com/netdiag/netdiag/internal/netstack/nftables"
)

// DefaultCacheSize is how many rulesets of each kind a cache keeps: a 100,000-rule ruleset
// takes tens of MB parsed, and the nodes of a cluster share a few distinct ones.
const DefaultCacheSize = 8

// Cache keeps parsed rulesets by their text, so that namespaces with the same rules share
// one parse: kube-proxy writes nearly the same rules on every node and they change seldom.
// Whoever runs diagnoses owns one: a controller shares it across diagnoses, a single
// diagnosis makes its own. A parsed ruleset is only read by evaluations, so it is shared
// between goroutines as it is. A Cache is safe for concurrent use; a nil *Cache parses
// every time.
type Cache struct {
	seed maphash.Seed
	ipt  parsedCache[*iptables.Ruleset]
	nft  parsedCache[*nftables.Ruleset]
}

// NewCache returns a cache that keeps up to size rulesets of each kind, the oldest
// forgotten first; size below 1 is DefaultCacheSize.
func NewCache(size int) *Cache {
	if size < 1 {
		size = DefaultCacheSize
	}
	return &Cache{
		seed: maphash.MakeSeed(),
		ipt:  parsedCache[*iptables.Ruleset]{size: size, byKey: map[rulesetKey]*iptables.Ruleset{}},
		nft:  parsedCache[*nftables.Ruleset]{size: size, byKey: map[rulesetKey]*nftables.Ruleset{}},
	}
}

// Parsers are the package's parsers behind the cache, finding a text by its hash.
func (c *Cache) Parsers() Parsers {
	return c.parsers(netstack.RulesetDigests{})
}

// FromNetstack is the package's FromNetstack with the cache's parsers. A namespace whose
// collector wrote its rulesets' digests is found by them, without hashing its texts.
func (c *Cache) FromNetstack(stack *netstack.Netstack) (*Rules, error) {
	var digests netstack.RulesetDigests
	if stack.Digests != nil {
		digests = *stack.Digests
	}
	return FromNetstack(stack, c.parsers(digests))
}

func (c *Cache) parsers(digests netstack.RulesetDigests) Parsers {
	if c == nil {
		return Parsers{}
	}
	return Parsers{
		IPTables: func(text string) (*iptables.Ruleset, error) {
			return c.ipt.get(c.key(text, digests.IPTables), text, iptables.Parse)
		},
		NFTables: func(text string) (*nftables.Ruleset, error) {
			return c.nft.get(c.key(text, digests.NFTables), text, nftables.Parse)
		},
	}
}

// rulesetKey identifies a ruleset text, by the digest its collector wrote or else by its
// hash: maphash reads a 100,000-rule text in a millisecond or two, where a cryptographic hash
// would cost as much as a good part of parsing it; across the 64 nodes of a big service's
// diagnosis that was half its time, which the collectors' digests save. A text found once by
// digest and once by hash is parsed for each: never wrong, only twice.
type rulesetKey struct {
	digest string
	hash   uint64
	size   int
}

func (c *Cache) key(text, digest string) rulesetKey {
	if digest != "" {
		return rulesetKey{digest: digest, size: len(text)}
	}
	return rulesetKey{hash: maphash.String(c.seed, text), size: len(text)}
}

// parsedCache is one kind's rulesets, the oldest forgotten first.
type parsedCache[T any] struct {
	mu    sync.Mutex
	size  int
	byKey map[rulesetKey]T
	order []rulesetKey
}

func (c *parsedCache[T]) get(key rulesetKey, text string, parse func(string) (T, error)) (T, error) {
	c.mu.Lock()
	v, ok := c.byKey[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	// Parsed outside the lock: two namespaces of different rules parse at once.
	v, err := parse(text)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; !ok {
		if len(c.order) == c.size {
			delete(c.byKey, c.order[0])
			c.order = c.order[1:]
		}
		c.byKey[key] = v
		c.order = append(c.order, key)
	}
	return v, nil
}
