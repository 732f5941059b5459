package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// isUsageError reports whether err is one of cobra's own usage complaints
// (unknown command, wrong number of arguments), which cobra returns untyped.
func isUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "requires exactly", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

// exactArgs is cobra.ExactArgs with its error marked as bad usage.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error { return badInput(cobra.ExactArgs(n)(cmd, args)) }
}

// maxArgs is cobra.MaximumNArgs with its error marked as bad usage.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error { return badInput(cobra.MaximumNArgs(n)(cmd, args)) }
}
