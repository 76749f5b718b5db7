package main

import (
	"github.com/spf13/cobra"

	"github.com/netdiag/netdiag/internal/buildinfo"
)

func newVersionCommand() *cobra.Command { return buildinfo.NewCommand("netdiag") }
