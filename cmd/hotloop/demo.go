package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// STUB: replaced by the owner of this command.
func newDemoCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:  "demo",
		RunE: func(cmd *cobra.Command, args []string) error { return errors.New("demo: not implemented yet") },
	}
}
