package kubectlcmd

import (
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// parseDestination reads a destination: an endpoint as parseEndpoint reads it, or a bare
// DNS name with an optional :PORT (db.data:5432, example.com:443).
func parseDestination(s string) (endpoint, error) {
	if !strings.Contains(s, "/") && s != "" {
		return parseNameEndpoint(s, s)
	}
	return parseEndpoint(s)
}

// parseNameEndpoint reads DNS-NAME[:PORT] as the API takes a destination name: lower-case
// labels of at most 63 characters, a final dot allowed, never an address.
func parseNameEndpoint(s, rest string) (endpoint, error) {
	name, port, err := splitPort(s, rest)
	if err != nil {
		return endpoint{}, err
	}
	name = strings.ToLower(name)
	bare := strings.TrimSuffix(name, ".")
	if _, err := netip.ParseAddr(bare); err == nil {
		return endpoint{}, fmt.Errorf("%q: %s is an address, not a DNS name: name it as ip/%s", s, bare, bare)
	}
	if errs := validation.IsDNS1123Subdomain(bare); len(errs) > 0 {
		return endpoint{}, fmt.Errorf("%q: DNS name %q: %s", s, name, errs[0])
	}
	for l := range strings.SplitSeq(bare, ".") {
		if len(l) > validation.DNS1123LabelMaxLength {
			return endpoint{}, fmt.Errorf("%q: DNS name %q: label %q is longer than %d characters", s, name, l, validation.DNS1123LabelMaxLength)
		}
	}
	return endpoint{kind: "name", name: name, port: port}, nil
}
