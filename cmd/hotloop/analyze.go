package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// STUB: replaced by the owner of this command.
func newAnalyzeCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:  "analyze",
		RunE: func(cmd *cobra.Command, args []string) error { return errors.New("analyze: not implemented yet") },
	}
}
