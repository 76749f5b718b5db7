// Package provider turns a network plugin's name into the Network that simulates it.
package provider
