package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newCollectCommand() *cobra.Command {
	return &cobra.Command{
		Use:  "collect",
		RunE: func(*cobra.Command, []string) error { return errors.New("collect: not built yet") },
	}
}
