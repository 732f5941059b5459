package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotloop/hotloop/inspect"
)

// Config configures a Server. The zero value of every field but Sink works.
type Config struct {
	// Listen is the TCP address to accept syslog on. Default "127.0.0.1:0"
	// (loopback, a free port: read it back with Server.Addr).
	Listen string

	// Sink receives the JSON records, one per line, in batches: one Write per
	// batch. Required. A net.Conn (see DialSink) or a file (see OpenSink).
	// The Server never closes it.
	Sink io.Writer

	// Fix selects the repaired rewriting step: the batch is rewritten in
	// chunks of ChunkLines, each handed to the publisher as soon as it is done,
	// and between chunks the goroutine yields the processor whenever it has
	// run for YieldAfter (inspect.Budget).
	// Without Fix the whole batch is rewritten in one loop that never yields:
	// the pathology this example exists to show.
	Fix bool

	// BatchLines and BatchBytes cap how much a connection accumulates before
	// it rewrites; BatchDelay caps how long the first line of a batch waits.
	// Defaults 16384 lines, 4 MiB, 20ms. A connection whose sender keeps up
	// always fills the batch, so the unfixed loop then runs for the whole of it.
	BatchLines int
	BatchBytes int
	BatchDelay time.Duration

	// ChunkLines and YieldAfter shape the fixed rewriting step. Defaults 64
	// lines (well under a millisecond of work) and 500µs.
	ChunkLines int
	YieldAfter time.Duration

	// MaxLineBytes is the longest line kept; the rest of a longer line is
	// dropped (Stats.Truncated counts them). Default 64 KiB.
	MaxLineBytes int

	// QueueLen is how many rewritten batches may wait for the publisher before
	// connections block (back-pressure to the senders). Default 64.
	QueueLen int

	// PublishBytes is how much the publisher gathers from the queue into one
	// sink write. Default 256 KiB.
	PublishBytes int

	// MaxConns caps concurrent connections; more are closed on accept.
	// Default 1024. Memory is bounded by about MaxConns × (BatchBytes×2.5 +
	// MaxLineBytes) + QueueLen × BatchBytes×1.5.
	MaxConns int

	// Monitor is the inspect monitor the work units are timed on:
	// "forwarder.rewrite" (one batch, or one chunk with Fix) and
	// "forwarder.publish" (one sink write). Nil means inspect.Default(). Its
	// stall watchdog is what catches the unfixed loop while it runs.
	Monitor *inspect.Monitor

	// DrainTimeout bounds how long Stop waits for a sink that no longer reads,
	// when the sink has SetWriteDeadline (a net.Conn does). Default 5s.
	DrainTimeout time.Duration
}

func (c *Config) fill() error {
	if c.Sink == nil {
		return errors.New("forwarder: Config.Sink is nil")
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.BatchLines, 16384)
	def(&c.BatchBytes, 4<<20)
	defDur(&c.BatchDelay, 20*time.Millisecond)
	def(&c.ChunkLines, 64)
	defDur(&c.YieldAfter, 500*time.Microsecond)
	def(&c.MaxLineBytes, 64<<10)
	def(&c.QueueLen, 64)
	def(&c.PublishBytes, 256<<10)
	def(&c.MaxConns, 1024)
	defDur(&c.DrainTimeout, 5*time.Second)
	if c.Monitor == nil {
		c.Monitor = inspect.Default()
	}
	return nil
}

// The inspect unit names the Server times its work under.
const (
	UnitRewrite = "forwarder.rewrite"
	UnitPublish = "forwarder.publish"
)

// Stats are the Server's counters, read with Server.Stats.
type Stats struct {
	Conns     int64 // connections accepted
	Refused   int64 // connections closed because MaxConns were open
	Lines     int64 // lines read (counted as they are read, before rewriting)
	Malformed int64 // lines that broke the syslog grammar (forwarded as {"error","raw"})
	Truncated int64 // lines longer than MaxLineBytes (forwarded cut)
	Batches   int64 // rewritten batches (chunks, with Fix) handed to the publisher
	Records   int64 // records written to the sink
	Writes    int64 // sink writes
	Dropped   int64 // records lost to sink write errors
}

// Server is a running forwarder: a listener, one goroutine per connection,
// one publisher. Safe for concurrent use.
type Server struct {
	cfg    Config
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	queue  chan *outBatch

	rewriteUnit, publishUnit *inspect.Unit

	conns   sync.WaitGroup // connection tasks
	pubDone chan struct{}

	mu     sync.Mutex
	open   map[net.Conn]struct{}
	closed bool

	stopOnce sync.Once
	stopErr  error
	pubErr   error // first sink write error; read after pubDone

	stats struct {
		conns, refused, lines, malformed, truncated, batches, records, writes, dropped atomic.Int64
	}
}

// outBatch is rewritten output: n newline-terminated JSON records in buf.
type outBatch struct {
	buf []byte
	n   int
}

var outPool = sync.Pool{New: func() any { return &outBatch{buf: make([]byte, 0, 64<<10)} }}

// Start listens and serves until Stop.
func Start(cfg Config) (*Server, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("forwarder: listening: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:     cfg,
		ln:      ln,
		ctx:     ctx,
		cancel:  cancel,
		queue:   make(chan *outBatch, cfg.QueueLen),
		pubDone: make(chan struct{}),
		open:    make(map[net.Conn]struct{}),

		rewriteUnit: cfg.Monitor.NewUnit(UnitRewrite),
		publishUnit: cfg.Monitor.NewUnit(UnitPublish),
	}
	go s.publish()
	s.conns.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the address the Server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stats returns the counters so far.
func (s *Server) Stats() Stats {
	return Stats{
		Conns: s.stats.conns.Load(), Refused: s.stats.refused.Load(), Lines: s.stats.lines.Load(),
		Malformed: s.stats.malformed.Load(), Truncated: s.stats.truncated.Load(),
		Batches: s.stats.batches.Load(), Records: s.stats.records.Load(),
		Writes: s.stats.writes.Load(), Dropped: s.stats.dropped.Load(),
	}
}

// Stop closes the listener and every connection, forwards what was already
// read, and returns once every goroutine the Server started has exited. It
// returns the first sink write error, if any. Calling it again returns the
// same result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.cancel()
		lnErr := s.ln.Close()
		s.conns.Wait()
		close(s.queue)
		if d, ok := s.cfg.Sink.(interface{ SetWriteDeadline(time.Time) error }); ok {
			d.SetWriteDeadline(time.Now().Add(s.cfg.DrainTimeout))
		}
		<-s.pubDone
		if lnErr != nil && !errors.Is(lnErr, net.ErrClosed) {
			s.stopErr = lnErr
		}
		s.stopErr = errors.Join(s.stopErr, s.pubErr)
	})
	return s.stopErr
}

// WaitRecords polls (every millisecond) until at least n records were written
// to the sink or lost to a sink error, or ctx is done. It is how a caller knows
// that a finished load has gone through.
func (s *Server) WaitRecords(ctx context.Context, n int64) error {
	for {
		st := s.Stats()
		if st.Records+st.Dropped >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("forwarder: waiting for %d records, %d written: %w", n, st.Records, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

func (s *Server) accept() {
	defer s.conns.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary accept failures (EMFILE): back off rather than spin.
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
				continue
			}
		}
		s.mu.Lock()
		if s.closed || len(s.open) >= s.cfg.MaxConns {
			s.mu.Unlock()
			s.stats.refused.Add(1)
			c.Close()
			continue
		}
		s.open[c] = struct{}{}
		s.conns.Add(1)
		s.mu.Unlock()
		s.stats.conns.Add(1)
		go s.serveConn(c)
	}
}

// batch is the lines a connection accumulated: raw holds them back to back,
// ends[i] is where line i ends.
type batch struct {
	raw  []byte
	ends []int
}

func (b *batch) add(line []byte) {
	b.raw = append(b.raw, line...)
	b.ends = append(b.ends, len(b.raw))
}

func (b *batch) line(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.raw[start:b.ends[i]]
}

func (b *batch) reset() { b.raw, b.ends = b.raw[:0], b.ends[:0] }

// serveConn is the connection task: it reads newline-framed lines into a
// batch until the batch is full or its first line has waited BatchDelay, then
// rewrites the batch and queues the records for the publisher.
func (s *Server) serveConn(c net.Conn) {
	defer s.conns.Done()
	defer func() {
		s.mu.Lock()
		delete(s.open, c)
		s.mu.Unlock()
		c.Close()
	}()
	var (
		rd       = make([]byte, s.cfg.MaxLineBytes)
		have     int  // bytes in rd not yet split into lines
		skipping bool // dropping the tail of an over-long line
		b        batch
		deadline time.Time // when the current batch must be flushed; zero when empty
	)
	flush := func() {
		if len(b.ends) > 0 {
			s.rewrite(&b)
			b.reset()
		}
		if !deadline.IsZero() {
			deadline = time.Time{}
			c.SetReadDeadline(time.Time{})
		}
	}
	for {
		n, err := c.Read(rd[have:])
		have += n
		// Split what we have into lines.
		start, before := 0, len(b.ends)
		for {
			nl := bytes.IndexByte(rd[start:have], '\n')
			if nl < 0 {
				break
			}
			line := rd[start : start+nl]
			start += nl + 1
			if skipping {
				skipping = false
				continue
			}
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			if len(line) > 0 {
				b.add(line)
			}
		}
		have = copy(rd, rd[start:have])
		if have == len(rd) { // a line longer than MaxLineBytes: keep its head
			if !skipping {
				b.add(rd)
				s.stats.truncated.Add(1)
			}
			skipping, have = true, 0
		}
		if err != nil && have > 0 && !skipping {
			// EOF or closed: a last line without its newline is still a line.
			// (A timeout keeps the partial line for the next read.)
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				b.add(rd[:have])
			}
		}
		s.stats.lines.Add(int64(len(b.ends) - before))
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				flush()
				continue
			}
			flush()
			return
		}
		if len(b.ends) >= s.cfg.BatchLines || len(b.raw) >= s.cfg.BatchBytes {
			flush()
		} else if len(b.ends) > 0 {
			if deadline.IsZero() {
				deadline = time.Now().Add(s.cfg.BatchDelay)
				c.SetReadDeadline(deadline)
			} else if !time.Now().Before(deadline) {
				flush()
			}
		}
	}
}

// rewrite turns a batch into JSON records and queues them.
func (s *Server) rewrite(b *batch) {
	if s.cfg.Fix {
		s.rewriteChunked(b)
		return
	}
	out := outPool.Get().(*outBatch)
	r := s.rewriteUnit.Begin(s.ctx)
	out.buf, out.n = rewriteBatch(out.buf[:0], b, &s.stats.malformed)
	r.End()
	s.enqueue(out)
}

// rewriteBatch is the pathology: every line of the batch, up to BatchLines of
// them, rewritten in one loop that never blocks or yields. On a small
// GOMAXPROCS the goroutine holds its processor until the runtime preempts it
// (after 10ms), so other connections' readers, the publisher and every timer
// on that processor wait behind it.
func rewriteBatch(dst []byte, b *batch, malformed *atomic.Int64) ([]byte, int) {
	bad := 0
	for i := range b.ends {
		var ok bool
		dst, ok = AppendRecord(dst, b.line(i))
		if !ok {
			bad++
		}
	}
	malformed.Add(int64(bad))
	return dst, len(b.ends)
}

// rewriteChunked is the fix: the same rewriting, in chunks of ChunkLines
// (each one short unit of work, well under a millisecond) that go to the
// publisher as soon as each is done, with a Budget between chunks that gives
// the processor away whenever the goroutine has run for YieldAfter. The
// Budget reads the clock only every few calls, so the fix costs nothing
// measurable; and because the yield is between units, a unit's time is its
// own work, not its wait for the processor it gave away.
func (s *Server) rewriteChunked(b *batch) {
	budget := inspect.NewBudget(s.cfg.YieldAfter)
	for lo := 0; lo < len(b.ends); lo += s.cfg.ChunkLines {
		hi := min(lo+s.cfg.ChunkLines, len(b.ends))
		out := outPool.Get().(*outBatch)
		out.buf, out.n = out.buf[:0], hi-lo
		r := s.rewriteUnit.Begin(s.ctx)
		bad := 0
		for i := lo; i < hi; i++ {
			var ok bool
			out.buf, ok = AppendRecord(out.buf, b.line(i))
			if !ok {
				bad++
			}
		}
		r.End()
		s.stats.malformed.Add(int64(bad))
		s.enqueue(out)
		budget.Yield()
	}
}

func (s *Server) enqueue(out *outBatch) {
	s.stats.batches.Add(1)
	s.queue <- out
}

// publish is the one publisher: it takes what is queued, up to PublishBytes,
// and writes it to the sink in one write.
func (s *Server) publish() {
	defer close(s.pubDone)
	buf := make([]byte, 0, s.cfg.PublishBytes+64<<10)
	for out := range s.queue {
		buf = append(buf[:0], out.buf...)
		n := out.n
		putOut(out)
	gather:
		for len(buf) < s.cfg.PublishBytes {
			select {
			case more, ok := <-s.queue:
				if !ok {
					break gather
				}
				buf = append(buf, more.buf...)
				n += more.n
				putOut(more)
			default:
				break gather
			}
		}
		s.write(buf, n)
	}
}

func (s *Server) write(buf []byte, n int) {
	if s.pubErr != nil {
		s.stats.dropped.Add(int64(n))
		return
	}
	r := s.publishUnit.Begin(s.ctx)
	_, err := s.cfg.Sink.Write(buf)
	r.End()
	if err != nil {
		s.pubErr = fmt.Errorf("forwarder: writing to sink: %w", err)
		s.stats.dropped.Add(int64(n))
		return
	}
	s.stats.writes.Add(1)
	s.stats.records.Add(int64(n))
}

// putOut returns a batch buffer to the pool unless it grew past what a full
// batch needs (a batch of unusually long lines), so the pool does not pin more.
func putOut(out *outBatch) {
	if cap(out.buf) <= 16<<20 {
		outPool.Put(out)
	}
}

// OpenSink opens the sink named by spec: "tcp://host:port" dials TCP,
// anything else is a file path, created or appended to. The caller closes it
// after Server.Stop.
func OpenSink(spec string) (io.WriteCloser, error) {
	if len(spec) > 6 && spec[:6] == "tcp://" {
		c, err := net.DialTimeout("tcp", spec[6:], 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("forwarder: dialing sink: %w", err)
		}
		return c, nil
	}
	f, err := os.OpenFile(spec, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("forwarder: opening sink: %w", err)
	}
	return f, nil
}
