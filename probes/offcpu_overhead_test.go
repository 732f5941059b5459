//go:build unix

package probes

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// echoServer serves TCP echo on loopback until ln is closed.
func echoServer(ln net.Listener, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_, _ = io.Copy(c, c)
		}()
	}
}

// TestEchoClientProcess is not a test: it is the load generator of
// TestOffCPUOverhead, run in a child process so that only the server is
// traced. It prints the number of round trips it completed.
func TestEchoClientProcess(t *testing.T) {
	addr := os.Getenv("HOTLOOP_ECHO_ADDR")
	if addr == "" {
		t.Skip("helper process for TestOffCPUOverhead")
	}
	conns, _ := strconv.Atoi(os.Getenv("HOTLOOP_ECHO_CONNS"))
	window, _ := time.ParseDuration(os.Getenv("HOTLOOP_ECHO_WINDOW"))
	size, _ := strconv.Atoi(os.Getenv("HOTLOOP_ECHO_SIZE"))
	var total int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(window)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, max(size, 1))
			n := int64(0)
			for time.Now().Before(deadline) {
				if _, err := c.Write(buf); err != nil {
					break
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					break
				}
				n++
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Printf("roundtrips %d\n", total)
}

// TestOffCPUOverhead measures the throughput of a loopback TCP echo server
// (in this process) driven by a client process, with and without an off-CPU
// capture running, in interleaved rounds. Set HOTLOOP_OVERHEAD=1 to run it;
// HOTLOOP_ECHO_SIZE sets the message size (default 64 bytes). It takes about
// a minute and prints the figures for BENCHMARKS.md, with the runtime's
// tracer alone (writing to io.Discard) as the anchor.
func TestOffCPUOverhead(t *testing.T) {
	if os.Getenv("HOTLOOP_OVERHEAD") == "" {
		t.Skip("set HOTLOOP_OVERHEAD=1 to measure the off-CPU capture's cost on an echo server")
	}
	const (
		rounds = 8
		conns  = 16
		window = 2 * time.Second
	)
	// HOTLOOP_OVERHEAD_BURST=100ms/1s measures the burst mode.
	var burst, every time.Duration
	if v := os.Getenv("HOTLOOP_OVERHEAD_BURST"); v != "" {
		b, e, _ := strings.Cut(v, "/")
		var err1, err2 error
		burst, err1 = time.ParseDuration(b)
		every, err2 = time.ParseDuration(e)
		if err1 != nil || err2 != nil {
			t.Fatalf("HOTLOOP_OVERHEAD_BURST=%q: want BURST/EVERY, e.g. 100ms/1s", v)
		}
	}
	size := 64
	if v := os.Getenv("HOTLOOP_ECHO_SIZE"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go echoServer(ln, &wg)
	defer func() { ln.Close(); wg.Wait() }()

	// client runs the load for one window and returns the server's round
	// trips per second and this process's CPU time per round trip (user +
	// system, all threads: server, tracer, spooling). On a shared machine
	// the CPU cost per request is the steadier figure: throughput also
	// moves with everyone else's load.
	client := func() (float64, float64) {
		var before, after syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestEchoClientProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "HOTLOOP_ECHO_ADDR="+ln.Addr().String(),
			"HOTLOOP_ECHO_CONNS="+strconv.Itoa(conns), "HOTLOOP_ECHO_WINDOW="+window.String(),
			"HOTLOOP_ECHO_SIZE="+strconv.Itoa(size))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("client: %v\n%s", err, out)
		}
		i := bytes.Index(out, []byte("roundtrips "))
		if i < 0 {
			t.Fatalf("client output: %s", out)
		}
		var n int64
		fmt.Sscanf(string(out[i:]), "roundtrips %d", &n)
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
			t.Fatal(err)
		}
		cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
		if n == 0 {
			t.Fatal("client made no round trips")
		}
		return float64(n) / window.Seconds(), float64(cpu.Nanoseconds()) / float64(n)
	}
	// Paired rounds, the order alternating, so the machine's drifting load
	// (this box is shared) hits both sides alike: each round gives the
	// ratio of the capture's throughput (and CPU per round trip) to the
	// plain server's.
	type sample struct{ rate, cpu float64 }
	var base, tracer, traced []sample
	var rateTracer, rateCapture, cpuTracer, cpuCapture []float64
	var traceBytes int64
	runTracer := func() sample {
		if err := trace.Start(io.Discard); err != nil {
			t.Fatal(err)
		}
		defer trace.Stop()
		r, c := client()
		return sample{r, c}
	}
	runCapture := func() sample {
		done := make(chan error, 1)
		go func() {
			r, err := CaptureOffCPU(context.Background(), window+time.Second, OffCPUOptions{Burst: burst, Every: every})
			if err == nil {
				traceBytes = r.TraceBytes
			}
			done <- err
		}()
		waitTracing(t)
		r, c := client()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return sample{r, c}
	}
	runBase := func() sample { r, c := client(); return sample{r, c} }
	for i := range rounds {
		var b, r, c sample
		if i%2 == 0 {
			b, r, c = runBase(), runTracer(), runCapture()
		} else {
			c, r, b = runCapture(), runTracer(), runBase()
		}
		base, tracer, traced = append(base, b), append(tracer, r), append(traced, c)
		rateTracer, rateCapture = append(rateTracer, r.rate/b.rate), append(rateCapture, c.rate/b.rate)
		cpuTracer, cpuCapture = append(cpuTracer, r.cpu/b.cpu), append(cpuCapture, c.cpu/b.cpu)
	}
	rates := func(xs []sample) string {
		parts := make([]string, len(xs))
		for i, x := range xs {
			parts[i] = fmt.Sprintf("%.0f/s %.1fµs", x.rate, x.cpu/1e3)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	t.Logf("bursts %v every %v (0: continuous); echo over loopback, %d conns of %d-byte messages, %d rounds of %v\n"+
		"  without capture (round trips/s, server CPU per round trip): %s\n"+
		"  runtime tracer alone (io.Discard): %s\n    median throughput ratio %.3f, CPU per round trip ratio %.3f\n"+
		"  with CaptureOffCPU: %s\n    median throughput ratio %.3f (cost %.1f%%), CPU per round trip ratio %.3f (cost %.1f%%)\n"+
		"  trace %.1f MB per capture",
		burst, every, conns, size, rounds, window, rates(base), rates(tracer), median(rateTracer), median(cpuTracer),
		rates(traced), median(rateCapture), 100*(1-median(rateCapture)), median(cpuCapture), 100*(median(cpuCapture)-1),
		float64(traceBytes)/1e6)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
