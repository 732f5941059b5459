package flame

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
)

func addFoldedSeeds(f *testing.F) {
	for _, s := range []string{
		"a;b;c 12\n", "a 5\na-b 2\na;b 3\n", "a;b 1.5\r\n\r\nb 2", "", "\n", "a", "a x", "a -1", " 3",
		"a;;b 1\n;a 2\n; 3\n", "x\x00y 1", "a 99999999999999999999999", "a 1e5", "a\xff\xfe;b 3",
		"main.main;runtime.mallocgc 7\nmain.main 3\n", "a;  3\n",
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/small.folded"); err == nil {
		f.Add(b)
	}
}

// FuzzReadFolded: never panics; a profile it accepts writes back as folded
// text that reads to the same profile.
func FuzzReadFolded(f *testing.F) {
	addFoldedSeeds(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := ReadFolded(bytes.NewReader(in))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		// A stack ending in " <number>" reads back as a differential line:
		// the format is ambiguous there (flamegraph.pl's too).
		ambiguous := p.IsDiff()
		p.Each(func(s string, _ float64) {
			_, _, isDiff := splitBaseCount([]byte(s))
			ambiguous = ambiguous || isDiff
		})
		if ambiguous {
			return
		}
		var a, b bytes.Buffer
		if err := WriteFolded(&a, p); err != nil {
			t.Fatal(err)
		}
		q, err := ReadFolded(bytes.NewReader(a.Bytes()))
		if err != nil {
			t.Fatalf("re-reading our own output %q: %v", a.Bytes(), err)
		}
		if err := WriteFolded(&b, q); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) || p.Len() != q.Len() {
			t.Fatalf("round trip changed the profile:\n%q\n%q", a.Bytes(), b.Bytes())
		}
	})
}

// FuzzWriteSVG: any profile the folded reader accepts renders, with any
// options, to well-formed XML (or a clear error), never a panic.
func FuzzWriteSVG(f *testing.F) {
	addFoldedSeeds(f)
	f.Fuzz(fuzzBody)
}

func fuzzBody(t *testing.T, in []byte) {
	{
		p, err := ReadFolded(bytes.NewReader(in))
		if err != nil {
			return
		}
		var sel byte
		if len(in) > 0 {
			sel = in[len(in)-1]
		}
		opt := SVGOptions{
			Inverted: sel&1 != 0,
			Reverse:  sel&2 != 0,
			Hash:     sel&4 != 0,
			Colors:   Palettes[int(sel>>3)%len(Palettes)],
			Title:    string(in[:min(len(in), 10)]),
		}
		if sel&0x80 != 0 {
			opt.MinWidth = -1
		}
		var out bytes.Buffer
		if err := WriteSVG(&out, p, opt); err != nil {
			if p.Total() > 0 && p.Total() < 1e300 {
				t.Fatalf("WriteSVG: %v", err)
			}
			return
		}
		checkXML(t, out.Bytes())
		// and as a differential graph against itself reversed
		d := Diff(p.Reversed(), p, DiffOptions{Normalize: sel&8 != 0})
		out.Reset()
		if err := WriteSVG(&out, d, opt); err == nil {
			checkXML(t, out.Bytes())
		}
		if err := WriteFoldedDiff(io.Discard, d); err != nil {
			t.Fatal(err)
		}
	}
}
