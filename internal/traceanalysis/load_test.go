package traceanalysis

import (
	"context"
	"io"
	"net"
	"os"
	rtrace "runtime/trace"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// busyLoad runs a program that keeps the scheduler busy until ctx ends: pairs
// of goroutines in channel ping-pong, and TCP echo over loopback. It is what
// the performance figures are measured on. It returns when every goroutine
// it started has ended.
func busyLoad(ctx context.Context, pairs, conns int) error {
	var wg sync.WaitGroup
	for range pairs {
		ping, pong := make(chan int), make(chan int)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for v := range ping {
				pong <- v + 1
			}
			close(pong)
		}()
		go func() {
			defer wg.Done()
			defer close(ping)
			for v := 0; ctx.Err() == nil; {
				ping <- v
				v = <-pong
			}
		}()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var srv sync.WaitGroup
	srv.Add(1)
	go func() {
		defer srv.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			srv.Add(1)
			go func() {
				defer srv.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	var firstErr atomic.Value
	for range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			ln.Close()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 64)
			for ctx.Err() == nil {
				if _, err := c.Write(buf); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	ln.Close()
	srv.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// recordLoad traces busyLoad into w until about size bytes were written.
func recordLoad(t testing.TB, w io.Writer, size int64) {
	t.Helper()
	cw := &countWriter{w: w}
	if err := rtrace.Start(cw); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- busyLoad(ctx, 8, 8) }()
	tick := time.NewTicker(20 * time.Millisecond)
	for cw.n.Load() < size {
		<-tick.C
	}
	tick.Stop()
	cancel()
	err := <-done
	rtrace.Stop()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteLoadTrace writes a trace of busyLoad to $HOTLOOP_LOAD_TRACE of
// $HOTLOOP_LOAD_TRACE_MB megabytes (default 100): the input of the
// `hotloop analyze` throughput and memory measurement in BENCHMARKS.md.
func TestWriteLoadTrace(t *testing.T) {
	path := os.Getenv("HOTLOOP_LOAD_TRACE")
	if path == "" {
		t.Skip("set HOTLOOP_LOAD_TRACE=path to write a load trace")
	}
	mb := int64(100)
	if v := os.Getenv("HOTLOOP_LOAD_TRACE_MB"); v != "" {
		var err error
		if mb, err = parseInt(v); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	recordLoad(t, f, mb<<20)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
