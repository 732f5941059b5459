// Package forwarder is a small syslog-over-TCP forwarder with a real
// pathology and its fix: the first of hotloop's example services, built
// from the seed story of a forwarder that got slower because a CPU-only
// loop never yielded and starved everything else.
//
// What it does: a TCP listener; one goroutine per connection reading
// newline-framed RFC 5424 / RFC 3164 lines (octet-counted framing is not
// supported); each line parsed and rewritten into a JSON record
// (AppendRecord); a channel to one publisher goroutine that gathers records
// and writes them to a sink in batches (a TCP connection or a file).
//
// The pathology: a connection task accumulates up to Config.BatchLines lines
// (or Config.BatchDelay) and rewrites the whole batch in one loop that never
// blocks or yields. At ~1.3µs a line a full batch is 20ms of CPU; the runtime
// preempts it only every ~10ms, so with a small GOMAXPROCS other
// connections' readers, the publisher and every timer wait behind it.
// Config.Fix rewrites the batch in chunks of Config.ChunkLines, hands each
// chunk to the publisher at once and yields between chunks with an
// inspect.Budget. Both are timed as inspect units ("forwarder.rewrite",
// "forwarder.publish"), so the stall watchdog names the loop while it runs.
//
// Around it, for tests, benchmarks and hotloop demo: Load, a bounded load
// generator that only talks to loopback addresses, and Receiver, a TCP sink
// that counts records and measures probe-line latency.
//
// The package is an example, not a production forwarder: no TLS, no
// reconnect to a failed sink (records are counted as dropped), no
// back-pressure beyond TCP's.
package forwarder
