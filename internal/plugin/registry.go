package plugin

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/netdiag/netdiag/internal/cluster"
	"github.com/netdiag/netdiag/internal/model"
)

// Config is a plugin's configuration: the flags that set it (named with the plugin's name
// as prefix: --calico-mode), their defaults, and the check that a set of values makes sense.
type Config interface {
	ConfigBinder
	// Validate reports values that cannot be simulated, naming the flag.
	Validate() error
}

// Descriptor is everything the rest of netdiag knows of one network plugin. Each plugin
// package exports one; internal/plugins lists them, and the manager, `netdiag diagnose`,
// detection and the docs read that list.
type Descriptor struct {
	// Name is the plugin's name in spec.networkPlugin and --network-plugin ("calico").
	Name string
	// Summary says in a few words what is simulated, for --help and the docs.
	Summary string
	// Recognise reports whether the cluster snapshot shows the plugin running, with the
	// evidence in words ("DaemonSet kube-system/calico-node"). Evidence from a DaemonSet, as
	// cluster.DaemonSetMentioning words it, outranks any other (a node annotation): a running
	// agent says more than what an earlier plugin left on the nodes. Nil: never detected,
	// only named. The snapshot it is given holds only what tenants cannot write: the nodes,
	// and the DaemonSets of the system namespaces.
	Recognise func(s *cluster.Snapshot) (evidence string, ok bool)
	// Namespaces are where the plugin's project installs its agents besides kube-system
	// ("kube-flannel"): their DaemonSets count as evidence, a tenant's never do.
	Namespaces []string
	// Supersedes names plugins whose tell-tales this one also shows: canal runs calico's and
	// flannel's images, and is the one meant when all three are recognised.
	Supersedes []string
	// NewConfig returns the plugin's configuration at its defaults; nil when it has none.
	NewConfig func() Config
	// New builds the plugin for one diagnosis. Nil for a plugin that is recognised but not
	// simulated: a diagnosis then follows the data plane as it is (the generic plugin) and
	// says so.
	New func(env *Env, cfg Config) (Plugin, error)
	// Reasons are the suspicion codes only this plugin reports, with their level and text;
	// docs/suspicions.md lists them with the engine's own.
	Reasons []model.ReasonInfo
}

// Simulated reports whether the engine simulates the plugin, or only recognises it.
func (d *Descriptor) Simulated() bool { return d.New != nil }

// Registry is the plugins one binary knows, with the cluster's defaults for their
// configuration (the manager's and `netdiag diagnose`'s flags).
type Registry struct {
	plugins []Descriptor
	byName  map[string]int
	// flags holds every plugin's flags as the command line set them; a diagnosis's config
	// starts from them.
	flags *pflag.FlagSet
	// systemNamespaces are the namespaces whose DaemonSets detection reads; nil: the
	// defaults (SystemNamespaces).
	systemNamespaces []string
	// clusterPlugin, when set, is the plugin the operator says the cluster runs: detection
	// is not consulted.
	clusterPlugin string
}

// NewRegistry checks the descriptors (names unique and lower-case, a plugin that has flags
// prefixes them with its name) and returns their registry.
func NewRegistry(descriptors ...Descriptor) (*Registry, error) {
	r := &Registry{byName: map[string]int{}, flags: pflag.NewFlagSet("plugins", pflag.ContinueOnError)}
	for _, d := range descriptors {
		switch {
		case d.Name == "" || d.Name != strings.ToLower(d.Name) || strings.ContainsAny(d.Name, " \t/"):
			return nil, fmt.Errorf("plugin registry: invalid plugin name %q", d.Name)
		case d.Name == Auto:
			return nil, fmt.Errorf("plugin registry: %q is reserved for detection", Auto)
		}
		if _, dup := r.byName[d.Name]; dup {
			return nil, fmt.Errorf("plugin registry: plugin %q registered twice", d.Name)
		}
		r.byName[d.Name] = len(r.plugins)
		r.plugins = append(r.plugins, d)
		if d.NewConfig == nil {
			continue
		}
		fs := pflag.NewFlagSet(d.Name, pflag.ContinueOnError)
		d.NewConfig().BindFlags(fs)
		var bad error
		fs.VisitAll(func(f *pflag.Flag) {
			if !strings.HasPrefix(f.Name, d.Name+"-") {
				bad = errors.Join(bad, fmt.Errorf("plugin registry: flag --%s of plugin %q does not start with %q", f.Name, d.Name, d.Name+"-"))
			}
		})
		if bad != nil {
			return nil, bad
		}
		r.flags.AddFlagSet(fs)
	}
	for _, d := range r.plugins {
		for _, s := range d.Supersedes {
			if _, ok := r.byName[s]; !ok {
				return nil, fmt.Errorf("plugin registry: %q supersedes %q, which is not registered", d.Name, s)
			}
		}
	}
	return r, nil
}

// Auto is the network plugin name that asks for detection.
const Auto = "auto"

// Descriptors returns the registered plugins in registration order.
func (r *Registry) Descriptors() []Descriptor { return slices.Clone(r.plugins) }

// Lookup returns the named plugin.
func (r *Registry) Lookup(name string) (Descriptor, bool) {
	i, ok := r.byName[name]
	if !ok {
		return Descriptor{}, false
	}
	return r.plugins[i], true
}

// Simulated names the plugins the engine simulates, sorted.
func (r *Registry) Simulated() []string {
	var names []string
	for _, d := range r.plugins {
		if d.Simulated() {
			names = append(names, d.Name)
		}
	}
	sort.Strings(names)
	return names
}

// BindFlags binds every plugin's flags to fs: the values given there are the cluster's
// defaults, which each diagnosis starts from.
func (r *Registry) BindFlags(fs *pflag.FlagSet) { fs.AddFlagSet(r.flags) }

// Resolve returns the named plugin, which must be simulated, with its configuration for one
// diagnosis (Config). A plugin the registry does not know or only recognises is an
// *UnknownPluginError; options it does not accept are a *ConfigError.
func (r *Registry) Resolve(name string, overrides map[string]string) (Descriptor, Config, error) {
	d, ok := r.Lookup(name)
	if !ok || !d.Simulated() {
		return Descriptor{}, nil, &UnknownPluginError{Name: name, Recognised: ok, Supported: r.Simulated()}
	}
	cfg, err := r.Config(name, overrides)
	if err != nil {
		return Descriptor{}, nil, err
	}
	return d, cfg, nil
}

// Config returns the configuration of the named plugin for one diagnosis: the plugin's
// defaults, then the registry's flags as the command line set them, then overrides, keyed
// by the flag's name without the plugin's prefix ("mode" for --calico-mode). A key the
// plugin does not have, a value its flag does not parse, or values the plugin cannot
// simulate are a *ConfigError that names the key and lists the plugin's options.
func (r *Registry) Config(name string, overrides map[string]string) (Config, error) {
	d, ok := r.Lookup(name)
	if !ok {
		return nil, &UnknownPluginError{Name: name, Supported: r.Simulated()}
	}
	if d.NewConfig == nil {
		if len(overrides) > 0 {
			return nil, &ConfigError{Plugin: name, Err: errors.New("it has no options")}
		}
		return nil, nil
	}
	cfg := d.NewConfig()
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	cfg.BindFlags(fs)
	var errs error
	// The flags are shared with the command's FlagSet, which marks the ones it set.
	r.flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed && fs.Lookup(f.Name) != nil {
			errs = errors.Join(errs, fs.Set(f.Name, f.Value.String()))
		}
	})
	if errs != nil {
		return nil, &ConfigError{Plugin: name, Err: fmt.Errorf("the command line: %w", errs)}
	}
	keys := make([]string, 0, len(overrides))
	for k := range overrides {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		flag := fs.Lookup(name + "-" + k)
		if flag == nil {
			return nil, &ConfigError{Plugin: name, Err: fmt.Errorf("no option %q (options: %s)", k, strings.Join(options(fs, name), ", "))}
		}
		if err := fs.Set(flag.Name, overrides[k]); err != nil {
			return nil, &ConfigError{Plugin: name, Err: fmt.Errorf("option %s: %w", k, err)}
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, &ConfigError{Plugin: name, Err: err}
	}
	return cfg, nil
}

// ConfigError is a plugin configuration that cannot be used.
type ConfigError struct {
	Plugin string
	Err    error
}

func (e *ConfigError) Error() string { return "network plugin " + e.Plugin + ": " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

func options(fs *pflag.FlagSet, plugin string) []string {
	var out []string
	fs.VisitAll(func(f *pflag.Flag) { out = append(out, strings.TrimPrefix(f.Name, plugin+"-")) })
	return out
}

// UnknownPluginError is a plugin name the registry does not know, or knows but does not
// simulate.
type UnknownPluginError struct {
	Name string
	// Recognised is set when the plugin is known but not simulated.
	Recognised bool
	Supported  []string
}

func (e *UnknownPluginError) Error() string {
	if e.Recognised {
		return fmt.Sprintf("network plugin %q is recognised but not simulated (supported: %s)", e.Name, strings.Join(e.Supported, ", "))
	}
	return fmt.Sprintf("network plugin %q is not known (supported: %s)", e.Name, strings.Join(e.Supported, ", "))
}

// Detection is the plugin a cluster snapshot shows, and why.
type Detection struct {
	Plugin   Descriptor
	Evidence string
}

// KubeSystem is where most plugins install their agents; its DaemonSets always count.
const KubeSystem = "kube-system"

// DefaultSystemNamespaces are kube-system and every namespace a registered plugin's project
// installs into, sorted.
func (r *Registry) DefaultSystemNamespaces() []string {
	ns := []string{KubeSystem}
	for _, d := range r.plugins {
		ns = append(ns, d.Namespaces...)
	}
	slices.Sort(ns)
	return slices.Compact(ns)
}

// SetSystemNamespaces names the namespaces whose DaemonSets detection reads (the manager's
// --system-namespaces). Only cluster administrators create DaemonSets there, so that a
// tenant's look-alike never changes the plugin every other tenant's diagnosis simulates.
func (r *Registry) SetSystemNamespaces(namespaces []string) error {
	for _, ns := range namespaces {
		if ns == "" || ns != strings.ToLower(ns) || strings.ContainsAny(ns, " \t/") {
			return fmt.Errorf("system namespaces: invalid namespace name %q", ns)
		}
	}
	r.systemNamespaces = slices.Clone(namespaces)
	return nil
}

// SystemNamespaces are the namespaces whose DaemonSets detection reads.
func (r *Registry) SystemNamespaces() []string {
	if r.systemNamespaces == nil {
		return r.DefaultSystemNamespaces()
	}
	return slices.Clone(r.systemNamespaces)
}

// SetClusterPlugin says which plugin the cluster runs (the manager's --network-plugin), so
// that detection is not consulted; Auto or "" detects again. A name the registry does not
// know is an *UnknownPluginError; a plugin it only recognises is accepted, and diagnoses
// then follow the data plane as it is.
func (r *Registry) SetClusterPlugin(name string) error {
	if name == Auto {
		name = ""
	}
	if _, ok := r.Lookup(name); name != "" && !ok {
		return &UnknownPluginError{Name: name, Supported: r.Simulated()}
	}
	r.clusterPlugin = name
	return nil
}

// ClusterPluginEvidence is the evidence Detect gives for the plugin the operator named.
const ClusterPluginEvidence = "named by the manager's --network-plugin"

// Detect returns the plugin the cluster runs: the one the operator named (SetClusterPlugin),
// else the one the snapshot's nodes and system namespaces' DaemonSets show running. When
// several are recognised the one that supersedes the others wins; between unrelated ones,
// registration order.
func (r *Registry) Detect(s *cluster.Snapshot) (Detection, bool) {
	if r.clusterPlugin != "" {
		d, _ := r.Lookup(r.clusterPlugin)
		return Detection{Plugin: d, Evidence: ClusterPluginEvidence}, true
	}
	trusted := &cluster.Snapshot{Nodes: s.Nodes, DaemonSets: cluster.DaemonSetsIn(s, r.SystemNamespaces())}
	var found []Detection
	for _, d := range r.plugins {
		if d.Recognise == nil {
			continue
		}
		if ev, ok := d.Recognise(trusted); ok {
			found = append(found, Detection{Plugin: d, Evidence: ev})
		}
	}
	// A running agent first; within each kind, registration order.
	slices.SortStableFunc(found, func(a, b Detection) int {
		return cmpBool(isDaemonSet(b.Evidence), isDaemonSet(a.Evidence))
	})
	for _, f := range found {
		superseded := false
		for _, g := range found {
			if slices.Contains(g.Plugin.Supersedes, f.Plugin.Name) {
				superseded = true
				break
			}
		}
		if !superseded {
			return f, true
		}
	}
	return Detection{}, false
}

func isDaemonSet(evidence string) bool { return strings.HasPrefix(evidence, cluster.DaemonSetEvidence) }

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
