package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// STUB: replaced by the owner of this command.
func newDiffCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:  "diff",
		RunE: func(cmd *cobra.Command, args []string) error { return errors.New("diff: not implemented yet") },
	}
}
