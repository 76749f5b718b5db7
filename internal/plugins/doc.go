// Package plugins is the one list of the network plugins netdiag knows: every part that
// names plugins (the manager's and `netdiag diagnose`'s flags, detection, the engine, the
// docs) reads the registry built here. Adding a plugin is its folder under internal/plugin
// plus one line below.
package plugins
