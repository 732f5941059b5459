package forwarder

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Load is a bounded syslog load generator for loopback: Conns connections each
// send Lines lines as fast as the forwarder takes them (or until Duration has
// passed, whichever comes first), and optionally one latency probe connection
// sends a timestamped line every ProbeInterval. With Burst, each connection
// sends Burst lines at once and then pauses, the way relays such as rsyslog
// flush their queues: the average rate stays below what the forwarder can
// take, but each burst arrives as one big batch. It refuses any address that is
// not loopback, so it cannot be pointed at someone else's server.
//
// Line i of connection c carries "#c/i " at the start of its message, so a
// sink can check that every line arrived once and in order.
type Load struct {
	Addr          string        // the forwarder; a loopback address
	Conns         int           // bulk connections; default 4
	Lines         int           // lines per bulk connection; 0: until Duration
	Duration      time.Duration // upper bound on the run; 0 with Lines 0 is refused
	Burst         int           // if > 0, send this many lines at once, then pause
	Pause         time.Duration // the pause between bursts
	ProbeInterval time.Duration // 0: no probe connection
	Seed          uint64        // for the line mix; same seed, same lines
	Time          time.Time     // if set, the timestamp of every bulk line, so runs are reproducible
}

// LoadResult is what a Load sent.
type LoadResult struct {
	Lines      int64 // bulk lines written
	ProbeLines int64 // probe lines written
	Elapsed    time.Duration
}

// ProbePrefix starts the message of every probe line, followed by the send
// time in Unix nanoseconds; Receiver measures latency from it.
const ProbePrefix = "probe t="

// Run sends the load and returns when it is done, ctx is cancelled (not an
// error: a cancelled run reports what it sent), or a connection fails.
func (l Load) Run(ctx context.Context) (LoadResult, error) {
	if err := checkLoopback(l.Addr); err != nil {
		return LoadResult{}, err
	}
	if l.Lines <= 0 && l.Duration <= 0 {
		return LoadResult{}, errors.New("forwarder: load: Lines or Duration must bound the run")
	}
	if l.Conns <= 0 {
		l.Conns = 4
	}
	if l.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Duration)
		defer cancel()
	}
	var (
		res    LoadResult
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		bulk   atomic.Int64
		probes atomic.Int64
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	start := time.Now()
	bulkCtx, bulkDone := context.WithCancel(ctx)
	defer bulkDone()
	var bulkWG sync.WaitGroup
	for c := range l.Conns {
		bulkWG.Add(1)
		go func() {
			defer bulkWG.Done()
			if err := l.sendBulk(bulkCtx, c, &bulk); err != nil {
				fail(err)
			}
		}()
	}
	if l.ProbeInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.sendProbes(bulkCtx, &probes); err != nil {
				fail(err)
			}
		}()
	}
	bulkWG.Wait()
	bulkDone() // the probe runs as long as the bulk load
	wg.Wait()
	res.Lines, res.ProbeLines, res.Elapsed = bulk.Load(), probes.Load(), time.Since(start)
	return res, errors.Join(errs...)
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("forwarder: load: %w", err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("forwarder: load: %s is not a loopback address", addr)
	}
	return nil
}

// writeGrace is how long a write in progress may still take once the load's
// context is done: long enough for a forwarder that is reading to take the
// rest of a buffer (so no line is cut in half), short enough that a
// forwarder that stopped reading cannot hold the load up.
const writeGrace = 5 * time.Second

// dialCtx connects; once ctx is done, writes get writeGrace to finish.
func dialCtx(ctx context.Context, addr string) (net.Conn, func(), error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("forwarder: load: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { c.SetWriteDeadline(time.Now().Add(writeGrace)) })
	return c, func() { stop(); c.Close() }, nil
}

// lineWriter buffers whole lines and counts a line as sent only once the
// connection took all of it.
type lineWriter struct {
	c     net.Conn
	buf   []byte
	lines int64
	sent  *atomic.Int64
}

func (w *lineWriter) add(line []byte) error {
	w.buf = append(w.buf, line...)
	w.lines++
	if len(w.buf) >= 32<<10 {
		return w.flush()
	}
	return nil
}

func (w *lineWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.c.Write(w.buf)
	if err != nil {
		// Count the lines that got out whole.
		w.sent.Add(int64(bytes.Count(w.buf[:n], []byte{'\n'})))
		w.buf, w.lines = w.buf[:0], 0
		return err
	}
	w.sent.Add(w.lines)
	w.buf, w.lines = w.buf[:0], 0
	return nil
}

func (l Load) sendBulk(ctx context.Context, conn int, sent *atomic.Int64) error {
	c, closeConn, err := dialCtx(ctx, l.Addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer closeConn()
	fail := func(err error) error { return fmt.Errorf("forwarder: load: connection %d: %w", conn, err) }
	w := &lineWriter{c: c, buf: make([]byte, 0, 40<<10), sent: sent}
	rng := rand.New(rand.NewPCG(l.Seed, uint64(conn)))
	var line []byte
	now := l.Time
	for i := 0; l.Lines <= 0 || i < l.Lines; i++ {
		if i&255 == 0 {
			if ctx.Err() != nil {
				break
			}
			if l.Time.IsZero() {
				now = time.Now()
			}
		}
		if l.Burst > 0 && i > 0 && i%l.Burst == 0 {
			if err := w.flush(); err != nil {
				return fail(err)
			}
			t := time.NewTimer(l.Pause)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		line = AppendLine(line[:0], rng, now, conn, i)
		if err := w.add(line); err != nil {
			return fail(err)
		}
	}
	if err := w.flush(); err != nil {
		return fail(err)
	}
	return nil
}

func (l Load) sendProbes(ctx context.Context, sent *atomic.Int64) error {
	c, closeConn, err := dialCtx(ctx, l.Addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer closeConn()
	t := time.NewTicker(l.ProbeInterval)
	defer t.Stop()
	var line []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		line = append(line[:0], "<134>1 "...)
		now := time.Now()
		line = now.UTC().AppendFormat(line, "2006-01-02T15:04:05.000000Z")
		line = append(line, " probe.local forwarder-probe - PROBE - "+ProbePrefix...)
		line = strconv.AppendInt(line, now.UnixNano(), 10)
		line = append(line, '\n')
		if _, err := c.Write(line); err != nil {
			return fmt.Errorf("forwarder: load: probe: %w", err)
		}
		sent.Add(1)
	}
}

var (
	hosts   = []string{"web-01.example.net", "web-02.example.net", "db-1", "edge-7.fra.example.net", "cache-3"}
	apps    = []string{"nginx", "postgres", "sshd", "kernel", "api-gateway", "cron"}
	paths   = []string{"/api/v1/items?id=42", "/healthz", "/static/app.3f9c2.js", "/api/v1/users/1077/orders?limit=50&sort=-created", "/login"}
	agents  = []string{`curl/8.5.0`, `Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0`, `Go-http-client/1.1`, `kube-probe/1.31`}
	queries = []string{
		`SELECT * FROM "users" WHERE id = $1`,
		`UPDATE orders SET state = 'paid', note = E'line1\nline2' WHERE id = $1`,
		`INSERT INTO events (kind, payload) VALUES ($1, '{"k": "v", "path": "C:\\tmp"}')`,
	}
)

// AppendLine appends one realistic syslog line (newline included) to dst:
// mostly RFC 5424 access logs with structured data, some RFC 3164 database
// and auth logs, with quotes, backslashes, tabs and non-ASCII text that the
// JSON rewriting must escape. Its message starts with "#conn/seq ".
func AppendLine(dst []byte, rng *rand.Rand, now time.Time, conn, seq int) []byte {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	id := func(dst []byte) []byte {
		dst = append(dst, '#')
		dst = strconv.AppendInt(dst, int64(conn), 10)
		dst = append(dst, '/')
		dst = strconv.AppendInt(dst, int64(seq), 10)
		return append(dst, ' ')
	}
	switch k := rng.IntN(10); {
	case k < 6: // RFC 5424 access log
		dst = append(dst, "<165>1 "...)
		dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
		dst = append(dst, ' ')
		dst = append(dst, pick(hosts)...)
		dst = append(dst, " nginx "...)
		dst = strconv.AppendInt(dst, int64(1000+rng.IntN(30000)), 10)
		dst = append(dst, ` ACCESS [req@32473 method="GET" path="`...)
		path := pick(paths)
		dst = append(dst, path...)
		dst = append(dst, `" ua="`...)
		dst = append(dst, pick(agents)...)
		dst = append(dst, `\"quoted\" \] end"][net@32473 peer="10.0.`...)
		dst = strconv.AppendInt(dst, int64(rng.IntN(256)), 10)
		dst = append(dst, `.7"] `...)
		dst = id(dst)
		dst = append(dst, "GET "...)
		dst = append(dst, path...)
		dst = append(dst, " HTTP/1.1 200 "...)
		dst = strconv.AppendInt(dst, int64(rng.IntN(100000)), 10)
		dst = append(dst, " rt=0.00"...)
		dst = strconv.AppendInt(dst, int64(rng.IntN(10)), 10)
		dst = append(dst, "\tcache=HIT user=\"müller\" note=naïve→ok"...)
	case k < 9: // RFC 3164 database log
		dst = append(dst, "<134>"...)
		dst = now.AppendFormat(dst, time.Stamp)
		dst = append(dst, ' ')
		dst = append(dst, pick(hosts)...)
		dst = append(dst, ' ')
		dst = append(dst, pick(apps)...)
		dst = append(dst, '[')
		dst = strconv.AppendInt(dst, int64(100+rng.IntN(60000)), 10)
		dst = append(dst, "]: "...)
		dst = id(dst)
		dst = append(dst, "LOG:  duration: 12.345 ms  statement: "...)
		dst = append(dst, pick(queries)...)
	default: // RFC 5424 without structured data, auth failure
		dst = append(dst, "<38>1 "...)
		dst = now.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000000Z")
		dst = append(dst, " bastion sshd - AUTH - "...)
		dst = id(dst)
		dst = append(dst, `Failed password for invalid user "admin\root" from 203.0.113.`...)
		dst = strconv.AppendInt(dst, int64(rng.IntN(256)), 10)
		dst = append(dst, " port 52811 ssh2 \x01"...)
	}
	return append(dst, '\n')
}
