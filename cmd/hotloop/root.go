package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// streams is what every command writes to. Commands never touch os.Stdout or
// os.Stderr directly, so tests run them in-process against buffers.
type streams struct {
	in     io.Reader
	out    io.Writer // data: SVG, folded text, JSON
	errOut io.Writer // everything meant for people
}

// Exit codes, as gh and gops use them.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and found a failure (including a CI gate)
	exitBadUse  = 2 // bad usage or bad input
)

// exitError carries an exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// badInput marks err as the user's input being wrong: exit code 2.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitBadUse, err: err}
}

// failure marks err as a finding-style failure: exit code 1.
func failure(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitFailure, err: err}
}

func newRootCmd(s *streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "hotloop",
		Short: "Find where the time of your goroutines goes",
		Long: `hotloop renders flame graphs from pprof, folded stacks and perf script,
compares profiles, and diagnoses CPU-bound loops, scheduler starvation, GC and
off-CPU waits in Go services.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.errOut)
	// Flag parsing errors are bad usage: exit 2.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return badInput(err) })
	root.AddCommand(
		newFlameCmd(s),
		newCollapseCmd(s),
		newDiffCmd(s),
		newAnalyzeCmd(s),
		newDemoCmd(s),
		newVersionCmd(s),
	)
	return root
}

// run executes the CLI and returns the process exit code. Ctrl-C cancels the
// command's context: captures stop and still write what they collected.
func run(args []string, in io.Reader, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runContext(ctx, args, &streams{in: in, out: out, errOut: errOut})
}

func runContext(ctx context.Context, args []string, s *streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(s.errOut, "hotloop: %v\n", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// cobra reports unknown commands and wrong argument counts as plain errors.
	if isUsageError(err) {
		return exitBadUse
	}
	return exitFailure
}
