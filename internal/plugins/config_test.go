package plugins

import (
	"errors"
	"strings"
	"testing"

	"github.com/netdiag/netdiag/internal/plugin"
)

// TestConfigErrors checks that a diagnosis's bad option names the plugin's options, and a
// bad value the values the option takes, for each plugin's options per mode.
func TestConfigErrors(t *testing.T) {
	cases := map[string]struct {
		plugin    string
		overrides map[string]string
		want      []string
	}{
		"canal: an option it does not have": {"canal", map[string]string{"mode": "vxlan"},
			[]string{`no option "mode"`, "backend", "interface-prefix", "mtu", "vxlan-device"}},
		"canal: a backend flannel does not have": {"canal", map[string]string{"backend": "ipsec"},
			[]string{`--canal-backend "ipsec"`, "vxlan", "host-gw"}},
		"k3s: a policy setting it does not have": {"k3s", map[string]string{"network-policy": "off"},
			[]string{`--k3s-network-policy "off"`, "enforced", "not-enforced"}},
		"calico: an MTU no device has": {"calico", map[string]string{"vxlan-mtu": "20"},
			[]string{"--calico-vxlan-mtu 20", "68 to 65535"}},
		"flannel: an MTU that is no number": {"flannel", map[string]string{"mtu": "big"},
			[]string{"option mtu", "big"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := Registry().Resolve(tc.plugin, tc.overrides)
			var ce *plugin.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Resolve(%s, %v) = %v, want a ConfigError", tc.plugin, tc.overrides, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	for name, overrides := range map[string]map[string]string{
		"canal": {"backend": "host-gw", "mtu": "1400", "interface-prefix": "cali"},
		"k3s":   {"backend": "vxlan", "network-policy": "not-enforced"},
	} {
		if _, _, err := Registry().Resolve(name, overrides); err != nil {
			t.Errorf("Resolve(%s, %v): %v", name, overrides, err)
		}
	}
}
