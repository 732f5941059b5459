package flame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
)

func TestReadFolded(t *testing.T) {
	in := "\ufeffb;c 3\r\n\n  \na;b 2\na;b 1.5\na 5\na-b 2\nmain;x\t7\n"
	p, err := ReadFolded(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() != 5 || p.Total() != 20.5 || p.Unit != "samples" {
		t.Fatalf("Len %d Total %v Unit %q", p.Len(), p.Total(), p.Unit)
	}
	var out bytes.Buffer
	if err := WriteFolded(&out, p); err != nil {
		t.Fatal(err)
	}
	want := "a 5\na-b 2\na;b 3.5\nb;c 3\nmain;x 7\n"
	if out.String() != want {
		t.Fatalf("WriteFolded:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestReadFoldedErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "parsing folded stacks: no samples"},
		{"\n \r\n", "parsing folded stacks: no samples"},
		{"a;b 1\na;b\n", "parsing folded stacks: line 2: missing count"},
		{"a;b x\n", "parsing folded stacks: line 1: invalid count \"x\""},
		{"a;b -3\n", "parsing folded stacks: line 1: negative count \"-3\""},
		{"a;b 1.2.3\n", "parsing folded stacks: line 1: invalid count"},
		{"a;b .5\n", "parsing folded stacks: line 1: invalid count"},
		{"a\x00b 1\n", "parsing folded stacks: line 1: binary data"},
		{" 7\n", "parsing folded stacks: line 1: missing stack"},
		{"a 1e999\n", "parsing folded stacks: line 1: invalid count"},
	} {
		_, err := ReadFolded(strings.NewReader(tc.in))
		var pe *ParseError
		if err == nil || !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("ReadFolded(%q) = %v, want %q...", tc.in, err, tc.want)
		}
	}
}

func TestFoldedReaderLongLine(t *testing.T) {
	// a 10,000-frame deep stack is longer than the reader's buffer
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString("github.com/x/y.(*Server).handleConnectionFrame")
	}
	deep := b.String()
	fr := NewFoldedReader(strings.NewReader("x 1\n" + deep + " 4\ny 2"))
	var got []string
	for {
		s, v, err := fr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(s))
		if string(s) == deep && (v != 4 || fr.Line() != 2) {
			t.Fatalf("deep line: value %v line %d", v, fr.Line())
		}
	}
	if len(got) != 3 || got[1] != deep || got[2] != "y" {
		t.Fatalf("got %d stacks", len(got))
	}
}

// The prefix tree, with its reuse of the previous stack's path, aggregates
// exactly as a map of stack strings does, whatever the order of Adds.
func TestProfileAddMatchesMap(t *testing.T) {
	frames := []string{"a", "ab", "a b", "b", "a-b", "", "ba"}
	rng := uint64(1)
	next := func(n int) int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int(rng>>33) % n
	}
	for round := 0; round < 200; round++ {
		p := NewProfile("samples")
		want := map[string]float64{}
		for i := 0; i < 50; i++ {
			depth := 1 + next(5)
			var fs []string
			for d := 0; d < depth; d++ {
				fs = append(fs, frames[next(len(frames))])
			}
			s := strings.Join(fs, ";")
			p.Add(s, float64(i))
			want[s] += float64(i)
		}
		var keys []string
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var wantOut, gotOut strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&wantOut, "%s %v\n", k, want[k])
		}
		p.Each(func(s string, v float64) { fmt.Fprintf(&gotOut, "%s %v\n", s, v) })
		if gotOut.String() != wantOut.String() || p.Len() != len(keys) {
			t.Fatalf("round %d:\n%s\nwant\n%s", round, gotOut.String(), wantOut.String())
		}
	}
}
