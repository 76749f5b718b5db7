package netstack

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestDigest: the digest is the SHA-256 of the whole text, also when the text spans many of
// the pieces it is read in, and differs for texts of one length that differ in one byte.
func TestDigest(t *testing.T) {
	long := strings.Repeat("-A KUBE-SERVICES -j ACCEPT\n", 10000) // 270,000 bytes
	for _, text := range []string{"*filter\nCOMMIT\n", long} {
		sum := sha256.Sum256([]byte(text))
		if got, want := Digest(text), "sha256:"+hex.EncodeToString(sum[:]); got != want {
			t.Errorf("Digest of %d bytes = %s, want %s", len(text), got, want)
		}
	}
	if Digest("") != "" {
		t.Errorf("an empty ruleset has a digest: %q", Digest(""))
	}
	other := strings.Replace(long, "ACCEPT", "REJECT", 1)
	if Digest(other) == Digest(long) {
		t.Error("two texts of one length differing in one rule share a digest")
	}
	n := Netstack{IPTables: long}
	n.SetDigests()
	n.ReplaceIPTables(other)
	if n.Digests != nil {
		t.Error("ReplaceIPTables kept the digests of the rules it replaced")
	}
}
