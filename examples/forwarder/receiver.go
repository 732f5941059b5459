package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Receiver is a TCP sink on loopback for the forwarder's records: the
// downstream a real deployment would have (a broker, a log store), small
// enough to run in the same process for tests, benchmarks and the demo. It
// counts records, measures the latency of probe lines (see Load.ProbeInterval)
// and, when asked, keeps the records.
type Receiver struct {
	ln      net.Listener
	keep    int
	wg      sync.WaitGroup
	records atomic.Int64

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	kept   [][]byte
	lat    []time.Duration // probe latencies, at most maxLatencies (the newest replace at random)
	latN   int64
	errs   []error
	closed bool

	stopOnce sync.Once
	stopErr  error
}

const maxLatencies = 1 << 16

// StartReceiver listens on addr ("127.0.0.1:0" when empty). keep is how many
// records to retain for Records (0: none), so memory stays bounded.
func StartReceiver(addr string, keep int) (*Receiver, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("forwarder: receiver: %w", err)
	}
	r := &Receiver{ln: ln, keep: keep, conns: make(map[net.Conn]struct{})}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is where the Receiver listens; give "tcp://"+Addr().String() to OpenSink.
func (r *Receiver) Addr() net.Addr { return r.ln.Addr() }

// Count is the number of records received so far.
func (r *Receiver) Count() int64 { return r.records.Load() }

// Records returns a copy of the list of kept records (without newlines).
func (r *Receiver) Records() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.kept)
}

// Latency summarizes probe latencies: send (by Load) to receipt (here).
type Latency struct {
	N             int64
	P50, P99, Max time.Duration
}

func (l Latency) String() string {
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", l.N, l.P50.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.Max.Round(10*time.Microsecond))
}

// Latency returns the probe latencies so far.
func (r *Receiver) Latency() Latency {
	r.mu.Lock()
	s := slices.Clone(r.lat)
	n := r.latN
	r.mu.Unlock()
	if len(s) == 0 {
		return Latency{}
	}
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return Latency{N: n, P50: q(0.50), P99: q(0.99), Max: s[len(s)-1]}
}

// WaitCount polls (every millisecond) until at least n records arrived or ctx is done.
func (r *Receiver) WaitCount(ctx context.Context, n int64) error {
	for r.Count() < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("forwarder: receiver: waiting for %d records, got %d: %w", n, r.Count(), ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// Stop closes the listener and every connection and waits for its
// goroutines. It returns the first malformed-input error seen, if any.
func (r *Receiver) Stop() error {
	r.stopOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.ln.Close()
		r.wg.Wait()
		r.stopErr = errors.Join(r.errs...)
	})
	return r.stopErr
}

func (r *Receiver) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed by Stop; loopback accept does not fail otherwise
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.conns[c] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		go r.serve(c)
	}
}

var probeKey = []byte(`"msg":"` + ProbePrefix)

// serve reads records in large chunks and looks only at what it must (line
// ends, probe lines), so the sink costs the pipeline far less than the
// forwarder's own rewriting and never becomes the bottleneck being measured.
func (r *Receiver) serve(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		c.Close()
	}()
	const maxRecord = 1 << 20
	buf := make([]byte, 256<<10)
	have := 0
	for {
		n, err := c.Read(buf[have:])
		now := time.Now()
		have += n
		data := buf[:have]
		end := bytes.LastIndexByte(data, '\n') + 1 // complete records: data[:end]
		recs := data[:end]
		r.records.Add(int64(bytes.Count(recs, []byte{'\n'})))
		for p := recs; ; {
			i := bytes.Index(p, probeKey)
			if i < 0 {
				break
			}
			digits := p[i+len(probeKey):]
			if j := bytes.IndexByte(digits, '"'); j > 0 {
				if ns, err := strconv.ParseInt(string(digits[:j]), 10, 64); err == nil {
					r.addLatency(now.Sub(time.Unix(0, ns)))
				}
			}
			p = digits
		}
		if r.keep > 0 {
			r.keepRecords(recs)
		}
		have = copy(buf, data[end:])
		if have == len(buf) { // a record longer than the buffer: grow, up to maxRecord
			if len(buf) >= maxRecord {
				r.fail(fmt.Errorf("forwarder: receiver: record longer than %d bytes", maxRecord))
				return
			}
			buf = append(buf, make([]byte, len(buf))...)
		}
		if err != nil {
			switch {
			case errors.Is(err, net.ErrClosed):
				// Stop closed it: whatever was in flight is cut on purpose.
			case !errors.Is(err, io.EOF):
				r.fail(fmt.Errorf("forwarder: receiver: %w", err))
			case have > 0:
				r.fail(fmt.Errorf("forwarder: receiver: %d bytes after the last newline", have))
			}
			return
		}
	}
}

func (r *Receiver) keepRecords(recs []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(recs) > 0 && len(r.kept) < r.keep {
		i := bytes.IndexByte(recs, '\n')
		r.kept = append(r.kept, bytes.Clone(recs[:i]))
		recs = recs[i+1:]
	}
}

func (r *Receiver) fail(err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err)
	r.mu.Unlock()
}

func (r *Receiver) addLatency(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latN++
	if len(r.lat) < maxLatencies {
		r.lat = append(r.lat, d)
		return
	}
	// Reservoir sampling keeps a uniform sample of all probes in bounded memory.
	if j := rand.Int64N(r.latN); j < maxLatencies {
		r.lat[j] = d
	}
}
