// Command hotloop profiles Go services that move bytes: flame graphs from pprof,
// folded stacks and perf script, work-unit timing, scheduler and GC probes.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
