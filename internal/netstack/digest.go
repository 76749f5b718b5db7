package netstack

import (
	"crypto/sha256"
	"encoding/hex"
)

// RulesetDigests are the digests of a namespace's netfilter rulesets, as Digest writes them;
// empty for a ruleset that is empty.
type RulesetDigests struct {
	IPTables string `json:"iptables,omitempty"`
	NFTables string `json:"nftables,omitempty"`
}

// Digest identifies a ruleset text: "sha256:" and the hex SHA-256 of it. A cryptographic
// digest, since different texts with one digest would share one parse.
func Digest(text string) string {
	if text == "" {
		return ""
	}
	// In pieces through one small buffer: a node's rules run to tens of MB, which a
	// conversion to one []byte would copy whole.
	h := sha256.New()
	buf := make([]byte, 64<<10)
	for rest := text; rest != ""; {
		n := copy(buf, rest)
		h.Write(buf[:n])
		rest = rest[n:]
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// SetDigests writes the digests of the namespace's rulesets as they are now. Whoever
// changes a ruleset afterwards must call it again (or clear Digests).
func (n *Netstack) SetDigests() {
	n.Digests = &RulesetDigests{IPTables: Digest(n.IPTables), NFTables: Digest(n.NFTables)}
}

// ReplaceIPTables replaces the namespace's iptables rules, as a test's fault does, and
// forgets digests that named the old ones.
func (n *Netstack) ReplaceIPTables(save string) {
	n.IPTables = save
	n.Digests = nil
}

// ForgetDigests drops every namespace's digests, for a snapshot whose rules may have been
// edited since they were written, such as one read back from a folder.
func (s *NodeSnapshot) ForgetDigests() {
	s.Host.Digests = nil
	for i := range s.Pods {
		s.Pods[i].Digests = nil
	}
}
