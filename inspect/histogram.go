package inspect

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram layout: log-linear, like HDR histograms. Durations below 1.024 µs
// share bucket 0; above that, every power of two [2^e, 2^(e+1)) ns is split
// into 8 equal sub-buckets, up to 2^37 ns (~137 s); longer durations share the
// last bucket. The relative width of a bucket is at most 1/8, so a quantile
// read from it is within 12.5% (6.25% at the bucket's middle, which Quantile
// interpolates from). The layout is fixed, so histograms taken at different
// times, or from different processes running the same version, subtract and
// add bucket by bucket.
const (
	histSubBits  = 3
	histSub      = 1 << histSubBits
	histMinExp   = 10 // 2^10 ns = 1.024 µs
	histMaxExp   = 37 // 2^37 ns ≈ 137 s
	histExpCount = histMaxExp - histMinExp

	// NumBuckets is the number of buckets in a Histogram.
	NumBuckets = 1 + histExpCount*histSub + 1
)

// Histogram is a fixed-size latency histogram with counts since the unit was
// created (they only grow), so the observations made between two snapshots
// are cur.Sub(prev). Bucket i counts durations in [BucketLower(i),
// BucketUpper(i)). The zero value is empty and ready to use.
type Histogram struct {
	Counts [NumBuckets]uint64 `json:"counts"`
	// Sum is the exact total of the observed durations.
	Sum time.Duration `json:"sum"`
}

// bucketOf maps a duration in nanoseconds to its bucket: a bits.Len64, two
// shifts and an add; no loop, no table.
func bucketOf(ns int64) int {
	if ns < 1<<histMinExp {
		return 0
	}
	v := uint64(ns)
	e := bits.Len64(v) - 1
	if e >= histMaxExp {
		return NumBuckets - 1
	}
	sub := int(v>>(uint(e)-histSubBits)) & (histSub - 1)
	return 1 + (e-histMinExp)*histSub + sub
}

// BucketLower returns the smallest duration counted in bucket i.
func BucketLower(i int) time.Duration {
	switch {
	case i <= 0:
		return 0
	case i >= NumBuckets-1:
		return 1 << histMaxExp
	}
	e := histMinExp + (i-1)/histSub
	sub := (i - 1) % histSub
	return time.Duration(histSub+sub) << (e - histSubBits)
}

// BucketUpper returns the first duration past bucket i (math.MaxInt64 for the
// overflow bucket).
func BucketUpper(i int) time.Duration {
	if i >= NumBuckets-1 {
		return math.MaxInt64
	}
	return BucketLower(i + 1)
}

// Count returns the number of observations.
func (h Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Sub returns the observations made between prev and h, where prev is an
// earlier snapshot of the same unit. A bucket that went backwards (prev is
// not earlier) counts as zero.
func (h Histogram) Sub(prev Histogram) Histogram {
	var d Histogram
	for i := range h.Counts {
		if h.Counts[i] > prev.Counts[i] {
			d.Counts[i] = h.Counts[i] - prev.Counts[i]
		}
	}
	if h.Sum > prev.Sum {
		d.Sum = h.Sum - prev.Sum
	}
	return d
}

// Add returns the union of two histograms' observations (for example the
// same unit from several processes).
func (h Histogram) Add(o Histogram) Histogram {
	for i := range h.Counts {
		h.Counts[i] += o.Counts[i]
	}
	h.Sum += o.Sum
	return h
}

// Mean returns Sum/Count, or 0 when empty.
func (h Histogram) Mean() time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return h.Sum / time.Duration(n)
}

// Quantile returns the duration below which a fraction q (0..1) of the
// observations fall, interpolated linearly inside the bucket that holds it;
// 0 when the histogram is empty. Values in the overflow bucket report its
// lower bound (~137 s).
func (h Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	if !(q > 0) { // also catches NaN
		q = 0
	}
	if q > 1 {
		q = 1
	}
	rank := q * float64(n)
	var cum float64
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		if cum+float64(c) >= rank {
			lo := BucketLower(i)
			if i == NumBuckets-1 {
				return lo
			}
			hi := BucketUpper(i)
			frac := (rank - cum) / float64(c)
			return lo + time.Duration(frac*float64(hi-lo))
		}
		cum += float64(c)
	}
	return BucketLower(NumBuckets - 1)
}

// atomicHist is the live, concurrently updated form: one atomic add to a
// bucket and one to the sum per observation.
type atomicHist struct {
	counts [NumBuckets]atomic.Uint64
	sum    atomic.Int64
}

func (a *atomicHist) observe(ns int64) {
	a.counts[bucketOf(ns)].Add(1)
	a.sum.Add(ns)
}

// addTo adds the live counts into h. Buckets are read one by one, so under
// concurrent updates the copy is not an instant; every observation completed
// before the call is in it.
func (a *atomicHist) addTo(h *Histogram) {
	for i := range a.counts {
		h.Counts[i] += a.counts[i].Load()
	}
	h.Sum += time.Duration(a.sum.Load())
}
