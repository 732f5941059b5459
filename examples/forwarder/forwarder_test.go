package forwarder

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The default inspect monitor's watchdog exits a second after the last unit;
// tests that use the default monitor leave it behind on purpose.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/hotloop/hotloop/inspect.(*Monitor).watch"))
}

var fixedTime = time.Date(2026, 11, 22, 1, 2, 3, 456789000, time.UTC)

// startPipeline starts a Receiver and a Server writing to it over TCP.
func startPipeline(t *testing.T, cfg Config, keep int) (*Server, *Receiver) {
	t.Helper()
	recv, err := StartReceiver("", keep)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := OpenSink("tcp://" + recv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sink = sink
	srv, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("server Stop: %v", err)
		}
		sink.Close()
		if err := recv.Stop(); err != nil {
			t.Errorf("receiver Stop: %v", err)
		}
	})
	return srv, recv
}

var idRE = regexp.MustCompile(`^#(\d+)/(\d+) `)

// TestForwardExactRecords sends a known load through real sockets and checks
// that the sink got exactly the rewritten record of every line: none lost,
// none duplicated, each connection's lines in order, byte for byte what
// AppendRecord makes of the line.
func TestForwardExactRecords(t *testing.T) {
	for _, fix := range []bool{false, true} {
		t.Run(fmt.Sprintf("fix=%v", fix), func(t *testing.T) {
			const conns, lines = 3, 1500
			// Small batches so a test run crosses many batch and chunk boundaries.
			srv, recv := startPipeline(t, Config{Fix: fix, BatchLines: 300, ChunkLines: 64}, conns*lines)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			load := Load{Addr: srv.Addr().String(), Conns: conns, Lines: lines, Seed: 7, Time: fixedTime}
			res, err := load.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Lines != conns*lines {
				t.Fatalf("load sent %d lines, want %d", res.Lines, conns*lines)
			}
			if err := recv.WaitCount(ctx, conns*lines); err != nil {
				t.Fatal(err)
			}
			// Expected records: regenerate each connection's lines.
			want := make([][][]byte, conns)
			for c := range conns {
				rng := rand.New(rand.NewPCG(7, uint64(c)))
				for i := range lines {
					line := AppendLine(nil, rng, fixedTime, c, i)
					rec, ok := AppendRecord(nil, line[:len(line)-1])
					if !ok {
						t.Fatalf("generated line does not parse: %q", line)
					}
					want[c] = append(want[c], rec[:len(rec)-1])
				}
			}
			next := make([]int, conns)
			for _, rec := range recv.Records() {
				var v struct{ Msg string }
				if err := json.Unmarshal(rec, &v); err != nil {
					t.Fatalf("record is not JSON: %v: %s", err, rec)
				}
				m := idRE.FindStringSubmatch(v.Msg)
				if m == nil {
					t.Fatalf("record without id: %s", rec)
				}
				c, _ := strconv.Atoi(m[1])
				i, _ := strconv.Atoi(m[2])
				if c >= conns || i != next[c] {
					t.Fatalf("connection %d: got line %d, want %d (lost, duplicated or reordered)", c, i, next[c])
				}
				if !bytes.Equal(rec, want[c][i]) {
					t.Fatalf("record %d/%d:\n got %s\nwant %s", c, i, rec, want[c][i])
				}
				next[c]++
			}
			for c, n := range next {
				if n != lines {
					t.Errorf("connection %d: %d records, want %d", c, n, lines)
				}
			}
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			st := srv.Stats()
			if st.Lines != conns*lines || st.Records != conns*lines || st.Malformed != 0 || st.Dropped != 0 || st.Conns != conns {
				t.Errorf("stats %+v", st)
			}
			if extra := recv.Count() - conns*lines; extra != 0 {
				t.Errorf("%d records more than lines sent", extra)
			}
		})
	}
}

// TestFraming covers what senders really do: CRLF, blank lines, a malformed
// line, a line longer than MaxLineBytes, a last line without its newline, and
// lines split across TCP writes.
func TestFraming(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.jsonl")
	sink, err := OpenSink(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(Config{Sink: sink, MaxLineBytes: 128})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	long := "<14>1 - h a - - - " + string(bytes.Repeat([]byte("x"), 300))
	parts := []string{
		"<14>1 - h a - - - one\r\n\n<14>1 - h a - - - tw", "o\n",
		"<999>bad\n", long + "\n", "<14>Jan  2 03:04:05 h t: three",
	}
	for _, p := range parts {
		if _, err := io.WriteString(c, p); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.WaitRecords(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	longRec, _ := AppendRecord(nil, []byte(long[:128]))
	want := `{"facility":"user","severity":"info","version":1,"host":"h","app":"a","msg":"one"}
{"facility":"user","severity":"info","version":1,"host":"h","app":"a","msg":"two"}
{"error":"syslog syntax: priority 999 out of range","raw":"<999>bad"}
` + string(longRec) + `{"facility":"user","severity":"info","time":"Jan  2 03:04:05","host":"h","app":"t","msg":"three"}
`
	if string(got) != want {
		t.Errorf("sink file:\n%s\nwant:\n%s", got, want)
	}
	st := srv.Stats()
	if st.Lines != 5 || st.Records != 5 || st.Malformed != 1 || st.Truncated != 1 {
		t.Errorf("stats %+v", st)
	}
}

type failingSink struct{ n int }

func (f *failingSink) Write(p []byte) (int, error) {
	f.n++
	return 0, errors.New("broker unavailable")
}

func TestSinkErrorIsReturned(t *testing.T) {
	sink := &failingSink{}
	srv, err := Start(Config{Sink: sink})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := (Load{Addr: srv.Addr().String(), Conns: 2, Lines: 100}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitRecords(ctx, 200); err != nil {
		t.Fatal(err)
	}
	err1, err2 := srv.Stop(), srv.Stop()
	if err1 == nil || err1.Error() != "forwarder: writing to sink: broker unavailable" {
		t.Fatalf("Stop = %v", err1)
	}
	if err2 != err1 {
		t.Errorf("second Stop = %v, want the first's result", err2)
	}
	if st := srv.Stats(); st.Dropped != 200 || st.Records != 0 || sink.n != 1 {
		t.Errorf("stats %+v, sink writes %d; want 200 dropped after one failed write", st, sink.n)
	}
}

// TestStopClosesIdleConnections: Stop must not wait for senders that never
// hang up, and what they sent before is still forwarded.
func TestStopClosesIdleConnections(t *testing.T) {
	var buf safeBuffer
	srv, err := Start(Config{Sink: &buf, BatchDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "<14>1 - h a - - - pending\n")
	// Poll until the server has read the line into its (hour-long) batch.
	deadline := time.Now().Add(30 * time.Second)
	for srv.Stats().Lines == 0 {
		if time.Now().After(deadline) {
			t.Fatal("server never read the line")
		}
		time.Sleep(time.Millisecond)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != `{"facility":"user","severity":"info","version":1,"host":"h","app":"a","msg":"pending"}`+"\n" {
		t.Errorf("sink got %q", got)
	}
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLoadRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"10.0.0.1:514", "example.com:514", "0.0.0.0:514"} {
		_, err := Load{Addr: addr, Lines: 1}.Run(context.Background())
		if err == nil {
			t.Errorf("Load to %s ran", addr)
		}
	}
	if _, err := (Load{Addr: "127.0.0.1:1"}).Run(context.Background()); err == nil {
		t.Error("unbounded Load ran")
	}
}

func TestStartNeedsSink(t *testing.T) {
	if _, err := Start(Config{}); err == nil {
		t.Fatal("Start without a sink succeeded")
	}
}
