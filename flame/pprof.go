package flame

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
	"github.com/klauspost/compress/gzip"
)

// PprofOptions choose what a pprof profile's flame graph shows.
type PprofOptions struct {
	// SampleType is the value to weigh stacks by: a sample type's name
	// ("cpu", "samples", "alloc_space", ...) or "name/unit". Empty means
	// the profile's default (its DefaultSampleType, else the last type, as
	// go tool pprof picks: cpu nanoseconds for a Go CPU profile).
	SampleType string

	// ByLabel, if set, is a pprof label key (string or numeric label, as set
	// with pprof.Do or pprof.Labels): each stack gets a pseudo-frame
	// "key=value" at its root, so one flame graph is split per work unit.
	// Samples without the label go under "key=<none>".
	ByLabel string
}

// MaxPprofBytes bounds the decompressed size of a pprof profile. A profile is
// one protobuf message that must be decoded whole, so this is what bounds the
// memory of ReadPprof (and what stops a gzip bomb).
const MaxPprofBytes = 1 << 30

const pprofFormat = "pprof profile"

// ReadPprof reads a pprof protobuf profile, gzipped or not, into a Profile.
// Each sample's stack is expanded with its inlined frames (a Location's lines
// hold the inlined callee first), frames are named by function, and stacks
// are weighed by the chosen sample type, whose unit becomes the Profile's
// Unit ("nanoseconds", "bytes", "count", ...). Samples of value zero are left
// out: they weigh nothing in a flame graph.
//
// Cost: the protobuf is held whole (that is the format), bounded by
// MaxPprofBytes, but decoded directly into stacks (see decodePprof), not
// into google/pprof's object graph: a 100k-sample profile reads in about a
// third of profile.Parse's time. Frames are built once per location.
func ReadPprof(r io.Reader, opt PprofOptions) (*Profile, error) {
	br := bufio.NewReader(r)
	if head, _ := br.Peek(2); isGzip(head) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &ParseError{Format: pprofFormat, Msg: "reading gzip header: " + err.Error()}
		}
		defer zr.Close()
		r = gzipErrReader{zr}
	} else {
		r = br
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxPprofBytes+1))
	if err != nil {
		return nil, &ParseError{Format: pprofFormat, Msg: "reading input: " + err.Error()}
	}
	if len(data) > MaxPprofBytes {
		return nil, &ParseError{Format: pprofFormat, Msg: fmt.Sprintf("larger than %d bytes decompressed", MaxPprofBytes)}
	}
	if len(data) == 0 {
		return nil, &ParseError{Format: pprofFormat, Msg: "empty input"}
	}
	p, err := decodeProfile(data, opt)
	if err != nil {
		return nil, &ParseError{Format: pprofFormat, Msg: err.Error()}
	}
	return p, nil
}

// decodeProfile runs decodePprof, with its wire errors said as such.
func decodeProfile(data []byte, opt PprofOptions) (p *Profile, err error) {
	p, err = decodePprof(data, opt)
	var pe *ParseError
	if err != nil && !errors.As(err, &pe) && !strings.HasPrefix(err.Error(), "no sample type") {
		err = fmt.Errorf("not a pprof protobuf (%v)", err)
	}
	return p, err
}

// FromPprof builds a Profile from a decoded pprof profile, as ReadPprof. The
// profile must be valid (profile.Parse and CheckValid ensure it): samples
// refer to locations of pp.Location, whose ids are unique.
func FromPprof(pp *profile.Profile, opt PprofOptions) (*Profile, error) {
	idx, err := sampleIndex(pp, opt.SampleType)
	if err != nil {
		return nil, err
	}
	p := NewProfile(pp.SampleType[idx].Unit)
	// Stacks are summed by location ids first (see stackSums): a profile
	// holds many samples of the same stack, one per label set.
	sums := newStackSums()
	// Location ids are dense in practice (1..n): a slice is much cheaper
	// than a map for the tens of lookups per sample.
	maxID := uint64(0)
	for _, l := range pp.Location {
		maxID = max(maxID, l.ID)
	}
	var locIDs []uint32
	if maxID <= 4*uint64(len(pp.Location))+1024 {
		locIDs = make([]uint32, maxID+1)
		for _, l := range pp.Location {
			if locIDs[l.ID] != 0 {
				locIDs = nil // duplicate ids (an unchecked profile): use the map
				break
			}
			locIDs[l.ID] = 1
		}
		clear(locIDs)
	}
	locID := map[*profile.Location]uint32{}
	labelID := map[string]uint32{}
	var label []byte
	for _, s := range pp.Sample {
		if idx >= len(s.Value) {
			return nil, &ParseError{Format: pprofFormat, Msg: fmt.Sprintf("sample with %d values, want %d", len(s.Value), len(pp.SampleType))}
		}
		v := s.Value[idx]
		if v == 0 {
			continue
		}
		k := sums.key[:0]
		if opt.ByLabel != "" {
			label = appendLabelFrame(label[:0], s, opt.ByLabel)
			id, ok := labelID[string(label)]
			if !ok {
				id = sums.intern(label)
				labelID[string(label)] = id
			}
			k = binary.LittleEndian.AppendUint32(k, id)
		}
		for i := len(s.Location) - 1; i >= 0; i-- {
			k = binary.LittleEndian.AppendUint32(k, locFrame(sums, s.Location[i], locIDs, locID))
		}
		sums.key = k
		sums.add(k, float64(v), p)
	}
	sums.flush(p)
	return p, nil
}

// locFrame returns the interned frames of loc, from the slice by ID (ids
// stored +1, 0 meaning not yet) or else the map.
func locFrame(sums *stackSums, loc *profile.Location, byID []uint32, byPtr map[*profile.Location]uint32) uint32 {
	if loc.ID < uint64(len(byID)) {
		if id := byID[loc.ID]; id != 0 {
			return id - 1
		}
		id := sums.intern([]byte(locationFrames(loc)))
		byID[loc.ID] = id + 1
		return id
	}
	id, ok := byPtr[loc]
	if !ok {
		id = sums.intern([]byte(locationFrames(loc)))
		byPtr[loc] = id
	}
	return id
}

// sampleIndex finds the sample type to use; the error lists the choices.
func sampleIndex(pp *profile.Profile, want string) (int, error) {
	if len(pp.SampleType) == 0 {
		return 0, &ParseError{Format: pprofFormat, Msg: "no sample types"}
	}
	if want == "" {
		want = pp.DefaultSampleType
		if want == "" {
			return len(pp.SampleType) - 1, nil
		}
	}
	for i, st := range pp.SampleType {
		if st.Type == want || st.Type+"/"+st.Unit == want {
			return i, nil
		}
	}
	names := make([]string, len(pp.SampleType))
	for i, st := range pp.SampleType {
		names[i] = st.Type + "/" + st.Unit
	}
	return 0, &ParseError{Format: pprofFormat, Msg: fmt.Sprintf("no sample type %q (available: %s)", want, strings.Join(names, ", "))}
}

// appendLabelFrame appends "key=value" for the sample's label key.
func appendLabelFrame(dst []byte, s *profile.Sample, key string) []byte {
	dst = appendFrameName(dst, key)
	dst = append(dst, '=')
	if vs := s.Label[key]; len(vs) > 0 {
		return appendFrameName(dst, strings.Join(vs, ","))
	}
	if ns := s.NumLabel[key]; len(ns) > 0 {
		for i, n := range ns {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, n, 10)
			if us := s.NumUnit[key]; i < len(us) && us[i] != "" {
				dst = appendFrameName(dst, us[i])
			}
		}
		return dst
	}
	return append(dst, "<none>"...)
}

// locationFrames is a location's frames in folded form, caller first: its
// lines in reverse (Line[0] is the innermost inlined callee). A location
// without symbols is named after its mapping ("[libc.so.6]"), as perf's
// unknown frames are, or by its address.
func locationFrames(loc *profile.Location) string {
	var b []byte
	for i := len(loc.Line) - 1; i >= 0; i-- {
		name := ""
		if fn := loc.Line[i].Function; fn != nil {
			name = fn.Name
			if name == "" {
				name = fn.SystemName
			}
		}
		if name == "" {
			continue
		}
		if len(b) > 0 {
			b = append(b, ';')
		}
		b = appendFrameName(b, name)
	}
	if len(b) > 0 {
		return string(b)
	}
	if loc.Mapping != nil && loc.Mapping.File != "" {
		return "[" + string(appendFrameName(nil, path.Base(loc.Mapping.File))) + "]"
	}
	return "0x" + strconv.FormatUint(loc.Address, 16)
}

// appendFrameName appends name with the bytes folded text cannot hold
// replaced: ';' separates frames (':' as stackcollapse-perf.pl does) and a
// line break ends a folded line.
func appendFrameName(dst []byte, name string) []byte {
	if !strings.ContainsAny(name, ";\n\r") {
		return append(dst, name...)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; c {
		case ';':
			dst = append(dst, ':')
		case '\n', '\r':
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// isGzip reports whether b starts with the gzip magic number.
func isGzip(b []byte) bool { return bytes.HasPrefix(b, []byte{0x1f, 0x8b}) }
