package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// STUB: replaced by the owner of this command.
func newFlameCmd(s *streams) *cobra.Command {
	return &cobra.Command{
		Use:  "flame",
		RunE: func(cmd *cobra.Command, args []string) error { return errors.New("flame: not implemented yet") },
	}
}
