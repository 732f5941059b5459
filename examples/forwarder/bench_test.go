package forwarder

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotloop/hotloop/inspect"
)

// BenchmarkAppendRecord is the per-line cost of the rewriting step.
func BenchmarkAppendRecord(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	lines := make([][]byte, 1024)
	size := 0
	for i := range lines {
		l := AppendLine(nil, rng, fixedTime, 0, i)
		lines[i] = l[:len(l)-1]
		size += len(lines[i])
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	var dst []byte
	for i := 0; b.Loop(); i++ {
		dst, _ = AppendRecord(dst[:0], lines[i&1023])
	}
}

// BenchmarkForwarder runs the whole forwarder over loopback, the load
// generator and the receiver in the same process (as hotloop demo does),
// once with the pathological rewrite loop and once with the fix. Each
// iteration sends 4 connections × 4 bursts of 16384 lines, 200ms apart (about
// 240k lines/s offered, below what the forwarder takes), while a probe
// connection sends one line per millisecond; it reports the bulk throughput
// (lines/s, including the pauses) and the probe lines' latency from send to
// sink (p50-ms, p99-ms): the starvation a latency-sensitive sender suffers.
// Run with -cpu 1,2 to see how a small GOMAXPROCS makes it worse.
func BenchmarkForwarder(b *testing.B) {
	for _, mode := range []struct {
		name string
		fix  bool
	}{{"pathological", false}, {"fix", true}} {
		b.Run(mode.name, func(b *testing.B) {
			recv, err := StartReceiver("", 0)
			if err != nil {
				b.Fatal(err)
			}
			defer recv.Stop()
			sink, err := OpenSink("tcp://" + recv.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			var stalls atomic.Int64
			mon := inspect.NewMonitor(inspect.Config{
				OnStall: func(st inspect.Stall) {
					if st.Done {
						stalls.Add(1)
					}
				},
				Logger: slog.New(slog.DiscardHandler),
			})
			defer mon.Close()
			srv, err := Start(Config{Sink: sink, Fix: mode.fix, Monitor: mon})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			const conns, lines, burst = 4, 4 * 16384, 16384
			ctx := context.Background()
			var sent int64
			var busy time.Duration
			lag := startLagMeter()
			for b.Loop() {
				start := time.Now()
				res, err := Load{Addr: srv.Addr().String(), Conns: conns, Lines: lines, Burst: burst, Pause: 200 * time.Millisecond, ProbeInterval: time.Millisecond, Seed: 1}.Run(ctx)
				if err != nil {
					b.Fatal(err)
				}
				sent += res.Lines + res.ProbeLines
				wctx, cancel := context.WithTimeout(ctx, time.Minute)
				err = recv.WaitCount(wctx, sent)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
				busy += time.Since(start)
			}
			lat, sched := recv.Latency(), lag.stop()
			b.ReportMetric(float64(b.N*conns*lines)/busy.Seconds(), "lines/s")
			b.ReportMetric(float64(lat.P50)/1e6, "p50-ms")
			b.ReportMetric(float64(lat.P99)/1e6, "p99-ms")
			b.ReportMetric(float64(lat.Max)/1e6, "max-ms")
			b.ReportMetric(float64(sched.P99)/1e6, "tick-lag-p99-ms")
			b.ReportMetric(float64(sched.Max)/1e6, "tick-lag-max-ms")
			b.ReportMetric(float64(stalls.Load())/float64(b.N), "stalls/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// lagMeter measures how late a 1ms ticker's receiver runs: the scheduling
// latency every goroutine in the process suffers.
type lagMeter struct {
	done chan struct{}
	out  chan Latency
}

func startLagMeter() *lagMeter {
	m := &lagMeter{done: make(chan struct{}), out: make(chan Latency)}
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var lags []time.Duration
		for {
			select {
			case <-m.done:
				slices.Sort(lags)
				var l Latency
				if n := len(lags); n > 0 {
					l = Latency{N: int64(n), P50: lags[n/2], P99: lags[n*99/100], Max: lags[n-1]}
				}
				m.out <- l
				return
			case at := <-t.C:
				if len(lags) < 1<<20 {
					lags = append(lags, time.Since(at))
				}
			}
		}
	}()
	return m
}

func (m *lagMeter) stop() Latency {
	close(m.done)
	return <-m.out
}
