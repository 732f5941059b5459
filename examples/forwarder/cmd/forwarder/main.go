// Command forwarder runs the syslog-over-TCP forwarder example: it accepts
// newline-framed RFC 5424 / RFC 3164 lines, rewrites each to a JSON record and
// writes the records to a sink (a TCP address or a file).
//
//	forwarder -listen 127.0.0.1:5514 -sink tcp://127.0.0.1:6000
//	forwarder -sink out.jsonl -fix
//	forwarder -sink out.jsonl -load 5s      # also run the loopback load generator
//
// Without -fix the rewriting step is the pathological loop that never yields;
// with -fix it yields (inspect.Budget). It stops on Ctrl-C, or when -load is
// set, once the load is done, and prints its counters to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hotloop/hotloop/examples/forwarder"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("forwarder", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:5514", "TCP address to accept syslog on")
	sinkSpec := fs.String("sink", "", "where records go: tcp://host:port or a file path (required)")
	fix := fs.Bool("fix", false, "rewrite in chunks and yield (the fix) instead of one loop that never yields")
	load := fs.Duration("load", 0, "run the loopback load generator against the listener for this long, then stop")
	conns := fs.Int("conns", 4, "load: connections")
	burst := fs.Int("burst", 16384, "load: lines per burst (0: continuous)")
	pause := fs.Duration("pause", 200*time.Millisecond, "load: pause between bursts")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *sinkSpec == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "forwarder: -sink is required and no arguments are taken")
		fs.Usage()
		return 2
	}
	sink, err := forwarder.OpenSink(*sinkSpec)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer sink.Close()
	srv, err := forwarder.Start(forwarder.Config{Listen: *listen, Sink: sink, Fix: *fix})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stderr, "forwarder: listening on %s, fix=%v\n", srv.Addr(), *fix)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var loadErr error
	if *load > 0 {
		res, err := forwarder.Load{
			Addr: srv.Addr().String(), Conns: *conns, Duration: *load,
			Burst: *burst, Pause: *pause, ProbeInterval: time.Millisecond, Seed: 1,
		}.Run(ctx)
		loadErr = err
		fmt.Fprintf(stderr, "load: %d lines and %d probe lines in %s (%.0f lines/s offered)\n",
			res.Lines, res.ProbeLines, res.Elapsed.Round(time.Millisecond), float64(res.Lines)/res.Elapsed.Seconds())
		// Give the forwarder what was sent before stopping it.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		srv.WaitRecords(wctx, res.Lines+res.ProbeLines)
		cancel()
	} else {
		<-ctx.Done()
	}
	err = errors.Join(loadErr, srv.Stop())
	st := srv.Stats()
	fmt.Fprintf(stderr, "forwarder: %d connections, %d lines, %d records written in %d writes, %d malformed, %d truncated, %d dropped\n",
		st.Conns, st.Lines, st.Records, st.Writes, st.Malformed, st.Truncated, st.Dropped)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
