package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDiagnoseCommand() *cobra.Command {
	return &cobra.Command{
		Use:  "diagnose",
		RunE: func(*cobra.Command, []string) error { return errors.New("diagnose: not built yet") },
	}
}
