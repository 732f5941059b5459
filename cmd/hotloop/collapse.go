package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// STUB: replaced by the owner of this command.
func newCollapseCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:  "collapse",
		RunE: func(cmd *cobra.Command, args []string) error { return errors.New("collapse: not implemented yet") },
	}
}
