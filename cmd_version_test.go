package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/netdiag/netdiag/internal/buildinfo"
)

func TestVersionCommand(t *testing.T) {
	var out bytes.Buffer
	cmd := newVersionCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"-o", "json"})
	if err := cmd.Execute(); err != nil {
		t.Fatalf("netdiag version -o json: %v", err)
	}
	var info buildinfo.Info
	if err := json.Unmarshal(out.Bytes(), &info); err != nil {
		t.Fatalf("netdiag version -o json printed no JSON: %v\n%s", err, out.String())
	}
	// A test binary is not stamped by the Makefile.
	if info.Version != "dev" || info.GoVersion != runtime.Version() {
		t.Errorf("netdiag version = %+v, want version dev and Go %s", info, runtime.Version())
	}
	cmd.SetArgs([]string{"extra"})
	if err := cmd.Execute(); err == nil {
		t.Error("netdiag version takes an argument")
	}
}
