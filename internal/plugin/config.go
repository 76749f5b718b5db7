package plugin

import (
	"github.com/spf13/pflag"
)

// ConfigBinder is a plugin's configuration as flags: it binds them (prefixed with the
// plugin's name) to a FlagSet, so that `netdiag manager --flannel-backend host-gw` and
// `netdiag diagnose --flannel-backend host-gw` reach it. The Registry binds every plugin's.
type ConfigBinder interface {
	BindFlags(fs *pflag.FlagSet)
}
