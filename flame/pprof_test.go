package flame

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// testPprof builds a small CPU profile: main calls decode, whose call to
// parse is inlined; samples carry the label "unit" (except one) and a
// numeric label "conn".
func testPprof() *profile.Profile {
	fnMain := &profile.Function{ID: 1, Name: "main.main", SystemName: "main.main", Filename: "main.go"}
	fnDecode := &profile.Function{ID: 2, Name: "main.decode", Filename: "decode.go"}
	fnParse := &profile.Function{ID: 3, Name: "main.parse;odd", Filename: "parse.go"}
	m := &profile.Mapping{ID: 1, Start: 0x1000, Limit: 0x9000, File: "/usr/lib/libc.so.6", HasFunctions: true}
	locMain := &profile.Location{ID: 1, Address: 0x1010, Line: []profile.Line{{Function: fnMain, Line: 10}}}
	// Inlined: Line[0] is the callee (parse) inlined into decode.
	locDecode := &profile.Location{ID: 2, Address: 0x1020, Line: []profile.Line{{Function: fnParse, Line: 5}, {Function: fnDecode, Line: 20}}}
	locLibc := &profile.Location{ID: 3, Address: 0x2000, Mapping: m}
	locBare := &profile.Location{ID: 4, Address: 0xdead}
	return &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10000000,
		Sample: []*profile.Sample{
			{Location: []*profile.Location{locDecode, locMain}, Value: []int64{3, 30}, Label: map[string][]string{"unit": {"decode"}}},
			{Location: []*profile.Location{locLibc, locDecode, locMain}, Value: []int64{1, 10}, Label: map[string][]string{"unit": {"decode"}}},
			{Location: []*profile.Location{locMain}, Value: []int64{2, 20}, NumLabel: map[string][]int64{"conn": {7}}},
			{Location: []*profile.Location{locBare, locMain}, Value: []int64{1, 0}},
		},
		Location: []*profile.Location{locMain, locDecode, locLibc, locBare},
		Function: []*profile.Function{fnMain, fnDecode, fnParse},
		Mapping:  []*profile.Mapping{m},
	}
}

func encodePprof(t testing.TB, p *profile.Profile, gz bool) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	if gz {
		err = p.Write(&b)
	} else {
		err = p.WriteUncompressed(&b)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func folded(t testing.TB, p *Profile) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteFolded(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestReadPprof(t *testing.T) {
	tests := []struct {
		name     string
		opt      PprofOptions
		unit     string
		want     string
		modified func(*profile.Profile)
	}{
		{name: "default is the last type", unit: "nanoseconds",
			want: "main.main 20\nmain.main;main.decode;main.parse:odd 30\nmain.main;main.decode;main.parse:odd;[libc.so.6] 10\n"},
		{name: "by name", opt: PprofOptions{SampleType: "samples"}, unit: "count",
			want: "main.main 2\nmain.main;0xdead 1\nmain.main;main.decode;main.parse:odd 3\nmain.main;main.decode;main.parse:odd;[libc.so.6] 1\n"},
		{name: "by name/unit", opt: PprofOptions{SampleType: "samples/count"}, unit: "count",
			want: "main.main 2\nmain.main;0xdead 1\nmain.main;main.decode;main.parse:odd 3\nmain.main;main.decode;main.parse:odd;[libc.so.6] 1\n"},
		{name: "DefaultSampleType wins", unit: "count", modified: func(p *profile.Profile) { p.DefaultSampleType = "samples" },
			want: "main.main 2\nmain.main;0xdead 1\nmain.main;main.decode;main.parse:odd 3\nmain.main;main.decode;main.parse:odd;[libc.so.6] 1\n"},
		{name: "by label", opt: PprofOptions{ByLabel: "unit"}, unit: "nanoseconds",
			want: "unit=<none>;main.main 20\nunit=decode;main.main;main.decode;main.parse:odd 30\nunit=decode;main.main;main.decode;main.parse:odd;[libc.so.6] 10\n"},
		{name: "by numeric label", opt: PprofOptions{ByLabel: "conn"}, unit: "nanoseconds",
			want: "conn=7;main.main 20\nconn=<none>;main.main;main.decode;main.parse:odd 30\nconn=<none>;main.main;main.decode;main.parse:odd;[libc.so.6] 10\n"},
	}
	for _, tt := range tests {
		for _, gz := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gzip=%v", tt.name, gz), func(t *testing.T) {
				pp := testPprof()
				if tt.modified != nil {
					tt.modified(pp)
				}
				p, err := ReadPprof(bytes.NewReader(encodePprof(t, pp, gz)), tt.opt)
				if err != nil {
					t.Fatal(err)
				}
				if p.Unit != tt.unit {
					t.Errorf("unit %q, want %q", p.Unit, tt.unit)
				}
				if got := folded(t, p); got != tt.want {
					t.Errorf("got\n%s\nwant\n%s", got, tt.want)
				}
			})
		}
	}
}

func TestReadPprofBadInput(t *testing.T) {
	good := encodePprof(t, testPprof(), true)
	tests := []struct {
		name string
		in   []byte
		opt  PprofOptions
		want string
	}{
		{"empty", nil, PprofOptions{}, "parsing pprof profile: empty input"},
		{"unknown sample type", good, PprofOptions{SampleType: "alloc_space"},
			`parsing pprof profile: no sample type "alloc_space" (available: samples/count, cpu/nanoseconds)`},
		{"truncated gzip", good[:len(good)/2], PprofOptions{}, "parsing pprof profile: reading input: truncated or corrupt gzip data: unexpected EOF"},
		{"bad gzip header", []byte{0x1f, 0x8b, 0, 0}, PprofOptions{}, "parsing pprof profile: reading gzip header"},
		{"garbage", []byte("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01garbage"), PprofOptions{}, "parsing pprof profile: not a pprof protobuf"},
		{"text", []byte("main;foo 1\n"), PprofOptions{}, "parsing pprof profile: not a pprof protobuf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadPprof(bytes.NewReader(tt.in), tt.opt)
			var pe *ParseError
			if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("got %v, want a *ParseError %q", err, tt.want)
			}
		})
	}
}

// TestReadPprofDeepStack: a 10,000-frame stack.
func TestReadPprofDeepStack(t *testing.T) {
	pp := &profile.Profile{SampleType: []*profile.ValueType{{Type: "cpu", Unit: "nanoseconds"}}}
	var locs []*profile.Location
	for i := 1; i <= 10000; i++ {
		fn := &profile.Function{ID: uint64(i), Name: fmt.Sprintf("f%d", i)}
		loc := &profile.Location{ID: uint64(i), Line: []profile.Line{{Function: fn}}}
		pp.Function = append(pp.Function, fn)
		pp.Location = append(pp.Location, loc)
		locs = append(locs, loc)
	}
	pp.Sample = []*profile.Sample{{Location: locs, Value: []int64{5}}}
	p, err := ReadPprof(bytes.NewReader(encodePprof(t, pp, true)), PprofOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Each(func(stack string, v float64) {
		if n := strings.Count(stack, ";") + 1; n != 10000 || !strings.HasPrefix(stack, "f10000;") || !strings.HasSuffix(stack, ";f1") || v != 5 {
			t.Fatalf("stack of %d frames, value %v", n, v)
		}
	})
}

func TestFromPprofNoSampleTypes(t *testing.T) {
	if _, err := FromPprof(&profile.Profile{}, PprofOptions{}); err == nil || !strings.Contains(err.Error(), "no sample types") {
		t.Fatalf("got %v", err)
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecodePprofMatchesGooglePprof: the direct decoder gives what
// FromPprof gives on google/pprof's decoding, for every option.
func TestDecodePprofMatchesGooglePprof(t *testing.T) {
	profiles := map[string]*profile.Profile{"small": testPprof(), "generated": benchPprof(3000, 500, 40)}
	for name, pp := range profiles {
		data := encodePprof(t, pp, false)
		for _, opt := range []PprofOptions{{}, {SampleType: "samples"}, {ByLabel: "unit"}, {ByLabel: "conn"}, {ByLabel: "nope"}} {
			t.Run(fmt.Sprintf("%s/%+v", name, opt), func(t *testing.T) {
				comparePprofDecoders(t, data, opt)
			})
		}
	}
}

func comparePprofDecoders(t *testing.T, data []byte, opt PprofOptions) {
	t.Helper()
	pp, err := profile.ParseUncompressed(data)
	if err == nil {
		err = pp.CheckValid()
	}
	if err != nil {
		return // google/pprof rejects it; ours may be more lenient
	}
	want, werr := FromPprof(pp, opt)
	got, gerr := decodePprof(data, opt)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("google/pprof+FromPprof: %v; decodePprof: %v", werr, gerr)
	}
	if werr != nil {
		return
	}
	if got.Unit != want.Unit || folded(t, got) != folded(t, want) {
		t.Fatalf("decoders differ:\n%s\nvs\n%s", firstDiff([]byte(folded(t, got)), []byte(folded(t, want))), got.Unit+" "+want.Unit)
	}
}
