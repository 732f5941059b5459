package traceanalysis

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// FuzzAnalyze feeds damaged traces to the whole analysis: it must return an
// error or a valid result, never panic, and finish in bounded time. Panics
// inside the third-party parser are turned into errors by Analyze; a panic in
// our own analysis is reported as an "analysis panic", which fails here.
func FuzzAnalyze(f *testing.F) {
	valid := record(f, func() {
		ch := make(chan int)
		done := make(chan struct{})
		go func() {
			for v := range ch {
				_ = v
			}
			close(done)
		}()
		for i := range 50 {
			ch <- i
		}
		close(ch)
		<-done
		time.Sleep(time.Millisecond)
	})
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:64])
	f.Add([]byte{})
	f.Add([]byte("go 1.26 trace\x00\x00\x00"))
	f.Add([]byte("go 1.11 trace\x00\x00\x00"))
	f.Add([]byte("not a trace"))
	flipped := bytes.Clone(valid)
	for i := 40; i < len(flipped); i += 97 {
		flipped[i] ^= 0x5a
	}
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		type result struct {
			res *Result
			err error
		}
		done := make(chan result, 1)
		go func() {
			res, err := Analyze(ctx, bytes.NewReader(data), Options{})
			done <- result{res, err}
		}()
		var res *Result
		var err error
		select {
		case r := <-done:
			res, err = r.res, r.err
		case <-time.After(15 * time.Second):
			t.Fatalf("analysis of %d bytes hangs", len(data))
		}
		if err != nil {
			if strings.Contains(err.Error(), "analysis panic") {
				t.Fatalf("analysis bug on damaged input: %v", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("analysis of %d bytes did not finish in 10s", len(data))
			}
			if !strings.HasPrefix(err.Error(), "parsing execution trace") && !strings.HasPrefix(err.Error(), "analyzing execution trace") {
				t.Fatalf("error does not name the operation: %v", err)
			}
			return
		}
		for _, p := range []interface{ CheckValid() error }{res.OffCPU, res.SchedLatency, res.OnCPU} {
			if err := p.CheckValid(); err != nil {
				t.Fatalf("invalid profile from accepted input: %v", err)
			}
		}
	})
}
