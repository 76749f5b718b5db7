package plugin

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/cluster"
)

// testConfig is a plugin configuration of two options.
type testConfig struct {
	Mode string
	MTU  int
}

func (c *testConfig) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Mode, "test-mode", c.Mode, "mode")
	fs.IntVar(&c.MTU, "test-mtu", c.MTU, "mtu")
}

func (c *testConfig) Validate() error {
	if c.Mode != "a" && c.Mode != "b" {
		return errors.New(`--test-mode: want "a" or "b"`)
	}
	return nil
}

func testDescriptor(name string) Descriptor {
	return Descriptor{
		Name:      name,
		NewConfig: func() Config { return &testConfig{Mode: "a", MTU: 1500} },
		New:       func(env *Env, _ Config) (Plugin, error) { return &Generic{Env: env}, nil },
	}
}

func TestNewRegistryRefuses(t *testing.T) {
	badFlag := testDescriptor("other")
	cases := map[string]struct {
		ds   []Descriptor
		want string
	}{
		"a name twice":        {[]Descriptor{testDescriptor("test"), testDescriptor("test")}, `"test" registered twice`},
		"an upper-case name":  {[]Descriptor{testDescriptor("Test")}, `invalid plugin name "Test"`},
		"auto":                {[]Descriptor{{Name: "auto"}}, "reserved"},
		"flags of another":    {[]Descriptor{badFlag}, `flag --test-mode of plugin "other" does not start with "other-"`},
		"superseding nothing": {[]Descriptor{{Name: "x", Supersedes: []string{"y"}}}, `"x" supersedes "y"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := NewRegistry(tc.ds...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewRegistry: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRegistryConfig(t *testing.T) {
	r, err := NewRegistry(testDescriptor("test"), Descriptor{Name: "bare", New: testDescriptor("bare").New})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		name      string
		overrides map[string]string
		want      testConfig
		err       string
	}{
		"defaults":        {name: "test", want: testConfig{Mode: "a", MTU: 1500}},
		"overridden":      {name: "test", overrides: map[string]string{"mode": "b", "mtu": "1400"}, want: testConfig{Mode: "b", MTU: 1400}},
		"unknown option":  {name: "test", overrides: map[string]string{"backend": "x"}, err: `network plugin test: no option "backend" (options: mode, mtu)`},
		"unparsed value":  {name: "test", overrides: map[string]string{"mtu": "big"}, err: "option mtu: "},
		"invalid value":   {name: "test", overrides: map[string]string{"mode": "c"}, err: `--test-mode: want "a" or "b"`},
		"no options":      {name: "bare", overrides: map[string]string{"mode": "b"}, err: "network plugin bare: it has no options"},
		"unknown plugin":  {name: "nosuch", err: `network plugin "nosuch" is not known (supported: bare, test)`},
		"full flag names": {name: "test", overrides: map[string]string{"test-mode": "b"}, err: `no option "test-mode"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg, err := r.Config(tc.name, tc.overrides)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Config: %v, want an error containing %q", err, tc.err)
				}
				var ce *ConfigError
				var ue *UnknownPluginError
				if !errors.As(err, &ce) && !errors.As(err, &ue) {
					t.Errorf("error %T is neither a ConfigError nor an UnknownPluginError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := *cfg.(*testConfig); got != tc.want {
				t.Errorf("config %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRegistryDetectSupersedes(t *testing.T) {
	always := func(ev string) func(*cluster.Snapshot) (string, bool) {
		return func(*cluster.Snapshot) (string, bool) { return ev, true }
	}
	child := Descriptor{Name: "child", Recognise: always("child's")}
	parent := Descriptor{Name: "parent", Recognise: always("parent's"), Supersedes: []string{"child"}}
	r, err := NewRegistry(child, parent)
	if err != nil {
		t.Fatal(err)
	}
	det, ok := r.Detect(&cluster.Snapshot{})
	if !ok || det.Plugin.Name != "parent" || det.Evidence != "parent's" {
		t.Fatalf("Detect = %+v, %v; want parent, listed after the plugin it supersedes", det, ok)
	}
}
