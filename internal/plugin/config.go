package plugin

import (
	"fmt"
	"slices"
	"sync"

	"github.com/spf13/pflag"
)

// ConfigBinder is a plugin's configuration: it binds its flags (prefixed with the plugin's
// name) to a FlagSet, so that `netdiag diagnose --flannel-backend host-gw` reaches it.
type ConfigBinder interface {
	BindFlags(fs *pflag.FlagSet)
}

var (
	bindersMu sync.Mutex
	binders   = map[string]ConfigBinder{}
)

// RegisterConfigBinder registers the configuration of the named plugin; a plugin package
// calls it from init. Registering a name twice panics: it is a programming error.
func RegisterConfigBinder(name string, b ConfigBinder) {
	bindersMu.Lock()
	defer bindersMu.Unlock()
	if _, ok := binders[name]; ok {
		panic(fmt.Sprintf("plugin: config binder %q registered twice", name))
	}
	binders[name] = b
}

// BindAllFlags binds the flags of every registered plugin, in name order.
func BindAllFlags(fs *pflag.FlagSet) {
	bindersMu.Lock()
	defer bindersMu.Unlock()
	names := make([]string, 0, len(binders))
	for n := range binders {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		binders[n].BindFlags(fs)
	}
}
