// Package plugintest runs a plugin's packet-flow tables: one row is a question, an optional
// fault, and what the diagnosis must answer; a row that fails prints the whole trace.
package plugintest
