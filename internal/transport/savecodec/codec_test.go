package savecodec

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/netdiag/netdiag/internal/transport/transporttest"
)

// roundTrip encodes and decodes text and fails the test unless it comes back unchanged.
func roundTrip(t testing.TB, text string) []byte {
	t.Helper()
	enc := Encode(text)
	got, err := Decode(enc)
	if err != nil {
		t.Fatalf("Decode(Encode(%.200q)): %v", text, err)
	}
	if got != text {
		t.Fatalf("round trip changed the text (-want +got):\n%s", cmp.Diff(text, got))
	}
	return enc
}

func TestRoundTrip(t *testing.T) {
	for name, text := range map[string]string{
		"empty":                           "",
		"one newline":                     "\n",
		"no final newline":                "*nat\n:A - [0:0]\n-A A -j A",
		"not iptables":                    "hello\nworld\n\n\n",
		"CRLF":                            "*nat\r\n:A - [0:0]\r\n[1:2] -A A -j A\r\nCOMMIT\r\n",
		"NUL in a rule":                   "*nat\n:A - [0:0]\n-A A -m comment --comment \"a\x00b\" -j A\nCOMMIT\n",
		"NUL in a declaration":            ":A\x00 - [0:0]\n",
		"rule before its chain":           "-A A -j ACCEPT\n:A - [0:0]\n-A A -j A\n",
		"declaration without counters":    ":A -\n:B - [1:2]\n",
		"odd counters":                    ":A - [01:2]\n:B - [1:]\n:C - [:]\n:D - [18446744073709551616:0]\n:E - [18446744073709551615:0]\n[007:1] -A E\n[1:2]-A E\n[1:2]  -A E\n",
		"empty chain name":                ": - [0:0]\n-A  -j X\n",
		"empty policy":                    ":A  [0:0]\n-A A\n",
		"policy with spaces":              ":A x y z [0:0]\n",
		"chain declared twice in a table": "*nat\n:A - [0:0]\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\nCOMMIT\n",
		"rules out of declaration order":  "*nat\n:A - [0:0]\n:B - [0:0]\n-A B -j A\n-A A -j B\n-A B\nCOMMIT\n",
		"a chain in two tables":           "*filter\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j DROP\nCOMMIT\n*nat\n:KUBE-SERVICES - [0:0]\n:X - [0:0]\n-A KUBE-SERVICES -j X\nCOMMIT\n",
		"jumps in a loop":                 "*nat\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n-A A -j B\n-A B -j C\n-A C -j A\n-A C -j C\nCOMMIT\n",
		"names as any token":              "*nat\n:A - [0:0]\n:B - [0:0]\n-A A  A B  -j B \n-A B --comment \"A\" A\nCOMMIT\n",
		"more than recent names": func() string {
			var b strings.Builder
			b.WriteString("*nat\n:A - [0:0]\n")
			for i := range 20 {
				fmt.Fprintf(&b, ":C%d - [0:0]\n", i)
			}
			for i := range 20 {
				fmt.Fprintf(&b, "-A A -j C%d\n", (i*7)%20)
			}
			for i := range 20 {
				fmt.Fprintf(&b, "-A C%d -j C%d\n", i, (i*3)%20)
			}
			return b.String() + "COMMIT\n"
		}(),
		"kube-proxy": transporttest.KubeProxySave(500, 1),
	} {
		t.Run(name, func(t *testing.T) { roundTrip(t, text) })
	}
}

// randomRuleset makes an iptables-save-like text with random chains, jumps, counters and
// damage, so that the round trip meets orders and shapes no fixed case lists.
func randomRuleset(r *rand.Rand) string {
	var b strings.Builder
	for range 1 + r.IntN(3) {
		fmt.Fprintf(&b, "*t%d\n", r.IntN(3))
		chains := make([]string, 1+r.IntN(12))
		for i := range chains {
			chains[i] = fmt.Sprintf("C-%c%d", 'A'+r.IntN(4), r.IntN(6))
			fmt.Fprintf(&b, ":%s %s [%d:%d]\n", chains[i], []string{"-", "ACCEPT", "DROP"}[r.IntN(3)], r.IntN(3), r.IntN(1000))
		}
		order := r.Perm(len(chains))
		if r.IntN(2) == 0 {
			// Mostly as iptables-save prints it: chain by chain in declaration order.
			order = order[:0]
			for i := range chains {
				order = append(order, i)
			}
		}
		for _, c := range order {
			for range r.IntN(5) {
				if r.IntN(3) > 0 {
					fmt.Fprintf(&b, "[%d:%d] ", r.IntN(5), r.IntN(5000))
				}
				fmt.Fprintf(&b, "-A %s", chains[c])
				for range r.IntN(4) {
					fmt.Fprintf(&b, " %s", []string{"-m", "comment", "--comment", `"x y"`, "", chains[r.IntN(len(chains))], "DNAT", "10.0.0.1/32"}[r.IntN(8)])
				}
				if r.IntN(2) == 0 {
					fmt.Fprintf(&b, " -j %s", chains[r.IntN(len(chains))])
				}
				b.WriteByte('\n')
			}
		}
		b.WriteString("COMMIT\n")
	}
	text := []byte(b.String())
	// Damage: a few bytes replaced by ones that matter to the parser.
	for range r.IntN(3) {
		if len(text) > 0 {
			text[r.IntN(len(text))] = "\n :[]-A0\x00 "[r.IntN(10)]
		}
	}
	if r.IntN(4) == 0 && len(text) > 0 {
		text = text[:r.IntN(len(text))]
	}
	return string(text)
}

func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		roundTrip(t, randomRuleset(r))
	}
	// Short strings over the parser's own alphabet.
	for range 20000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			alphabet := ":-A []01\n\x00 KX"
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		roundTrip(t, string(b))
	}
}

// TestStoresNamesOnce checks what the codec is for: every kube-proxy chain name is stored
// once, not once for its declaration and once for each rule that names it.
func TestStoresNamesOnce(t *testing.T) {
	text := transporttest.KubeProxySave(5000, 3)
	enc := roundTrip(t, text)
	for _, name := range []string{"KUBE-SVC-", "KUBE-SEP-", "KUBE-EXT-"} {
		if n := strings.Count(text, name); n < 300 {
			t.Fatalf("the ruleset names %s only %d times", name, n)
		}
	}
	// A name's suffix after its shared prefix is stored, never a whole hashed name.
	if strings.Contains(string(enc), "KUBE-SEP-") {
		t.Errorf("encoded form holds a whole KUBE-SEP- name")
	}
	if len(enc) > len(text)*3/4 {
		t.Errorf("encoded %d bytes of %d", len(enc), len(text))
	}
}

// streams lays out hand-made streams as Encode does.
func streams(s map[int]string) []byte {
	out := []byte{Format}
	for i := range streamCount {
		out = append(out, byte(len(s[i])))
	}
	for i := range streamCount {
		out = append(out, s[i]...)
	}
	return out
}

func TestDecodeRejects(t *testing.T) {
	valid := Encode("*nat\n:A - [0:0]\n:B - [0:0]\n[1:2] -A A -j B\nCOMMIT\n")
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"empty":              {nil, "empty input"},
		"other format":       {append([]byte{Format + 1}, valid[1:]...), "format 2, want 1"},
		"truncated":          {valid[:len(valid)-1], "streams hold"},
		"trailing bytes":     {append(append([]byte{}, valid...), 'x'), "streams hold"},
		"bad line kind":      {streams(map[int]string{streamSkeleton: "Z"}), "unknown line kind"},
		"chain out of range": {streams(map[int]string{streamSkeleton: "r", streamChains: "\x00"}), "chain 0 of 0"},
		"name out of range":  {streams(map[int]string{streamSkeleton: "D-\nr\x00", streamChains: "\x00", streamNameLens: "\x00\x01", streamNames: "A", streamCounters: "\x00\x00", streamTargets: "\x08", streamIndices: "\x05"}), "name 5 of 1"},
		"unset recent name":  {streams(map[int]string{streamSkeleton: "D-\nr\x00", streamChains: "\x00", streamNameLens: "\x00\x01", streamNames: "A", streamCounters: "\x00\x00", streamTargets: "\x03"}), "recent name 3, which is unset"},
		"blocks overrun":     {streams(map[int]string{streamSkeleton: "D-\nB\nr", streamNameLens: "\x00\x01", streamNames: "A", streamCounters: "\x00\x00", streamBlocks: "\x05"}), "5 rules announced"},
		"left over":          {streams(map[int]string{streamSkeleton: "L", streamCounters: "\x00"}), "counters stream: 1 bytes left over"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func FuzzRoundTrip(f *testing.F) {
	f.Add("*nat\n:A - [0:0]\n:B - [0:0]\n[1:2] -A A -j B\n-A B -j A\nCOMMIT\n")
	f.Add(transporttest.KubeProxySave(40, 1))
	f.Add(":A - [01:2]\n-A A\x00\n")
	f.Fuzz(func(t *testing.T, text string) { roundTrip(t, text) })
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode("*nat\n:A - [0:0]\n:B - [0:0]\n[1:2] -A A -j B\n-A B -j A\nCOMMIT\n"))
	f.Add(Encode(transporttest.KubeProxySave(40, 1)))
	f.Add([]byte{Format, 0, 0, 1, 0, 0, 0, 0, 0, 'L'})
	// Hostile: a long chain name stored once and referenced by every rule, expanding past
	// the limit below.
	long := strings.Repeat("N", 4000)
	f.Add(Encode("*filter\n:" + long + " - [0:0]\n" + strings.Repeat("-A "+long+" -j "+long+"\n", 200) + "COMMIT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A limit keeps every run cheap; its code is the same at any size.
		text, err := DecodeLimit(data, 1<<20)
		if err != nil {
			return
		}
		// Whatever decodes is text, and that text round-trips.
		roundTrip(t, text)
	})
}

func BenchmarkEncode(b *testing.B) {
	text := transporttest.KubeProxySave(100_000, 1)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Encode(text)
	}
}

func BenchmarkDecode(b *testing.B) {
	text := transporttest.KubeProxySave(100_000, 1)
	enc := Encode(text)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := Decode(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeLimit checks the limit at its edge, on a table decoded in blocks and on rules
// decoded as they come: exactly the text's size decodes, a byte less is ErrTooLarge.
func TestDecodeLimit(t *testing.T) {
	for name, text := range map[string]string{
		"kube-proxy": transporttest.KubeProxySave(200, 1),
		"literal":    "*nat\n:A - [0:0]\n:B - [0:0]\n[1:2] -A A -j B\nCOMMIT\n",
	} {
		data := Encode(text)
		got, err := DecodeLimit(data, len(text))
		if err != nil || got != text {
			t.Errorf("%s: limit %d: %v, intact %v", name, len(text), err, got == text)
		}
		if _, err := DecodeLimit(data, len(text)-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: limit %d: %v, want ErrTooLarge", name, len(text)-1, err)
		}
	}
}
