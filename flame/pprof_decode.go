package flame

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// decodePprof builds a Profile straight from the protobuf bytes of a pprof
// profile (github.com/google/pprof/proto/profile.proto), with the semantics
// of FromPprof(profile.ParseUncompressed(data)): it decodes only the fields a
// flame graph needs and never builds the profile's object graph (a pointer
// per location of every sample), which is what makes decoding a 100k-sample
// profile take a third of the time. Ids that refer to nothing, string
// indexes out of range and malformed wire data are errors.
func decodePprof(data []byte, opt PprofOptions) (*Profile, error) {
	d := pprofDecoder{}
	if err := d.top(data); err != nil {
		return nil, err
	}
	if len(d.sampleTypes) == 0 {
		return nil, errors.New("no sample types")
	}
	str := func(i int64) (string, error) {
		if i < 0 || i >= int64(len(d.strings)) {
			return "", fmt.Errorf("string index %d out of range (%d strings)", i, len(d.strings))
		}
		return d.strings[i], nil
	}
	// Sample type.
	idx := len(d.sampleTypes) - 1
	want := opt.SampleType
	if want == "" {
		var err error
		if want, err = str(d.defaultType); err != nil {
			return nil, err
		}
	}
	names := make([]string, len(d.sampleTypes))
	units := make([]string, len(d.sampleTypes))
	for i, st := range d.sampleTypes {
		var err error
		if names[i], err = str(st[0]); err != nil {
			return nil, err
		}
		if units[i], err = str(st[1]); err != nil {
			return nil, err
		}
	}
	if want != "" {
		idx = -1
		for i := range names {
			if names[i] == want || names[i]+"/"+units[i] == want {
				idx = i
				break
			}
		}
		if idx < 0 {
			list := make([]string, len(names))
			for i := range names {
				list[i] = names[i] + "/" + units[i]
			}
			return nil, fmt.Errorf("no sample type %q (available: %s)", want, strings.Join(list, ", "))
		}
	}

	// Functions and mappings: id -> name.
	funcName := make(map[uint64]string, len(d.functions))
	for _, b := range d.functions {
		var id uint64
		var name, sys int64
		err := fields(b, func(num protowire.Number, v uint64, _ []byte) error {
			switch num {
			case 1:
				id = v
			case 2:
				name = int64(v)
			case 3:
				sys = int64(v)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("function: %v", err)
		}
		n, err := str(name)
		if err != nil {
			return nil, err
		}
		if n == "" {
			if n, err = str(sys); err != nil {
				return nil, err
			}
		}
		funcName[id] = n
	}
	mapFile := make(map[uint64]string, len(d.mappings))
	for _, b := range d.mappings {
		var id uint64
		var file int64
		err := fields(b, func(num protowire.Number, v uint64, _ []byte) error {
			switch num {
			case 1:
				id = v
			case 5:
				file = int64(v)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("mapping: %v", err)
		}
		f, err := str(file)
		if err != nil {
			return nil, err
		}
		mapFile[id] = f
	}

	// Locations: id -> interned frames, caller first.
	p := NewProfile(strings.Clone(units[idx]))
	sums := newStackSums()
	locFrames := make(map[uint64]uint32, len(d.locations))
	var fnIDs []uint64
	var buf []byte
	for _, b := range d.locations {
		var id, mapping, addr uint64
		fnIDs = fnIDs[:0]
		err := fields(b, func(num protowire.Number, v uint64, sub []byte) error {
			switch num {
			case 1:
				id = v
			case 2:
				mapping = v
			case 3:
				addr = v
			case 4: // Line
				var fn uint64
				if err := fields(sub, func(num protowire.Number, v uint64, _ []byte) error {
					if num == 1 {
						fn = v
					}
					return nil
				}); err != nil {
					return err
				}
				fnIDs = append(fnIDs, fn)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("location: %v", err)
		}
		if id == 0 {
			return nil, errors.New("location with id 0")
		}
		if _, dup := locFrames[id]; dup {
			return nil, fmt.Errorf("duplicate location id %d", id)
		}
		buf = buf[:0]
		for i := len(fnIDs) - 1; i >= 0; i-- {
			if fnIDs[i] == 0 {
				continue
			}
			name := funcName[fnIDs[i]] // an unknown function is no name, as in google/pprof
			if name == "" {
				continue
			}
			if len(buf) > 0 {
				buf = append(buf, ';')
			}
			buf = appendFrameName(buf, name)
		}
		if len(buf) == 0 {
			if f := mapFile[mapping]; mapping != 0 && f != "" {
				buf = append(appendFrameName(append(buf, '['), path.Base(f)), ']')
			} else {
				buf = strconv.AppendUint(append(buf, "0x"...), addr, 16)
			}
		}
		locFrames[id] = sums.intern(buf)
	}

	// Samples.
	var labelKey int64 = -1
	if opt.ByLabel != "" {
		for i, s := range d.strings {
			if s == opt.ByLabel {
				labelKey = int64(i)
				break
			}
		}
	}
	labelID := map[string]uint32{}
	var locs []uint64
	var strLabel, numLabel []byte
	for _, b := range d.samples {
		locs = locs[:0]
		var value int64
		nvalues := 0
		strLabel, numLabel = strLabel[:0], numLabel[:0]
		nstr, nnum := 0, 0
		err := fields(b, func(num protowire.Number, v uint64, sub []byte) error {
			switch num {
			case 1:
				if sub != nil { // packed
					return packed(sub, func(v uint64) { locs = append(locs, v) })
				}
				locs = append(locs, v)
			case 2:
				add := func(v uint64) {
					if nvalues == idx {
						value = int64(v)
					}
					nvalues++
				}
				if sub != nil {
					return packed(sub, add)
				}
				add(v)
			case 3:
				if labelKey < 0 {
					return nil
				}
				var key, s, n, unit int64
				if err := fields(sub, func(num protowire.Number, v uint64, _ []byte) error {
					switch num {
					case 1:
						key = int64(v)
					case 2:
						s = int64(v)
					case 3:
						n = int64(v)
					case 4:
						unit = int64(v)
					}
					return nil
				}); err != nil {
					return err
				}
				if key != labelKey {
					return nil
				}
				// As google/pprof: a string label if it has a string,
				// else a numeric one if it has a number or unit.
				switch {
				case s != 0:
					sv, err := str(s)
					if err != nil {
						return err
					}
					if nstr > 0 {
						strLabel = append(strLabel, ',')
					}
					nstr++
					strLabel = appendFrameName(strLabel, sv)
				case n != 0 || unit != 0:
					u, err := str(unit)
					if err != nil {
						return err
					}
					if nnum > 0 {
						numLabel = append(numLabel, ',')
					}
					nnum++
					numLabel = appendFrameName(strconv.AppendInt(numLabel, n, 10), u)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("sample: %v", err)
		}
		if nvalues != len(d.sampleTypes) {
			return nil, fmt.Errorf("sample with %d values, want %d", nvalues, len(d.sampleTypes))
		}
		if value == 0 {
			continue
		}
		k := sums.key[:0]
		if opt.ByLabel != "" {
			lf := append(appendFrameName(nil, opt.ByLabel), '=')
			switch {
			case nstr > 0:
				lf = append(lf, strLabel...)
			case nnum > 0:
				lf = append(lf, numLabel...)
			default:
				lf = append(lf, "<none>"...)
			}
			id, ok := labelID[string(lf)]
			if !ok {
				id = sums.intern(lf)
				labelID[string(lf)] = id
			}
			k = binary.LittleEndian.AppendUint32(k, id)
		}
		for i := len(locs) - 1; i >= 0; i-- {
			id, ok := locFrames[locs[i]]
			if !ok {
				return nil, fmt.Errorf("sample refers to unknown location %d", locs[i])
			}
			k = binary.LittleEndian.AppendUint32(k, id)
		}
		sums.key = k
		sums.add(k, float64(value), p)
	}
	sums.flush(p)
	return p, nil
}

// pprofDecoder holds the top-level fields of a profile: the string table
// (strings view data, which outlives the decoding), and each repeated
// message still encoded.
type pprofDecoder struct {
	strings     []string
	sampleTypes [][2]int64 // type, unit string indexes
	defaultType int64
	samples     [][]byte
	locations   [][]byte
	functions   [][]byte
	mappings    [][]byte
}

func (d *pprofDecoder) top(data []byte) error {
	return fields(data, func(num protowire.Number, v uint64, sub []byte) error {
		switch num {
		case 1:
			var st [2]int64
			if err := fields(sub, func(num protowire.Number, v uint64, _ []byte) error {
				if num == 1 || num == 2 {
					st[num-1] = int64(v)
				}
				return nil
			}); err != nil {
				return fmt.Errorf("sample type: %v", err)
			}
			d.sampleTypes = append(d.sampleTypes, st)
		case 2:
			d.samples = append(d.samples, sub)
		case 3:
			d.mappings = append(d.mappings, sub)
		case 4:
			d.locations = append(d.locations, sub)
		case 5:
			d.functions = append(d.functions, sub)
		case 6:
			d.strings = append(d.strings, unsafeString(sub))
		case 14:
			d.defaultType = int64(v)
		}
		return nil
	})
}

// fields calls fn for each field of a message: v for varints (and fixed
// ints), sub for length-delimited fields (non-nil, possibly empty).
func fields(b []byte, fn func(num protowire.Number, v uint64, sub []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v uint64
		var sub []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(b)
			v = uint64(v32)
		case protowire.BytesType:
			sub, n = protowire.ConsumeBytes(b)
			if sub == nil && n >= 0 {
				sub = b[:0]
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, v, sub); err != nil {
			return err
		}
	}
	return nil
}

// packed calls fn for each varint of a packed repeated field.
func packed(b []byte, fn func(uint64)) error {
	for len(b) > 0 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		fn(v)
		b = b[n:]
	}
	return nil
}
