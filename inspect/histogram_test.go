package inspect

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	// Every bucket's bounds map back to it, and buckets tile the line.
	for i := 1; i < NumBuckets-1; i++ {
		lo, hi := BucketLower(i), BucketUpper(i)
		if lo >= hi {
			t.Fatalf("bucket %d: [%v, %v)", i, lo, hi)
		}
		if got := bucketOf(int64(lo)); got != i {
			t.Errorf("bucketOf(lower(%d)=%v) = %d", i, lo, got)
		}
		if got := bucketOf(int64(hi) - 1); got != i {
			t.Errorf("bucketOf(upper(%d)-1=%v) = %d", i, hi-1, got)
		}
		if w := float64(hi-lo) / float64(lo); w > 1.0/8+1e-9 {
			t.Errorf("bucket %d relative width %.3f", i, w)
		}
	}
	for _, c := range []struct {
		d    time.Duration
		want int
	}{
		{-5, 0}, {0, 0}, {1023, 0}, {1024, 1}, {time.Hour, NumBuckets - 1}, {math.MaxInt64, NumBuckets - 1},
	} {
		if got := bucketOf(int64(c.d)); got != c.want {
			t.Errorf("bucketOf(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	if BucketLower(1) > 2*time.Microsecond || BucketLower(NumBuckets-1) < 100*time.Second {
		t.Errorf("range [%v, %v) does not cover 1µs-100s", BucketLower(1), BucketLower(NumBuckets-1))
	}
}

func TestQuantileAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var a atomicHist
	var vals []int64
	for range 100000 {
		// log-uniform between 2 µs and 2 s
		v := int64(math.Exp(math.Log(2e3) + r.Float64()*(math.Log(2e9)-math.Log(2e3))))
		vals = append(vals, v)
		a.observe(v)
	}
	slices.Sort(vals)
	var h Histogram
	a.addTo(&h)
	if h.Count() != uint64(len(vals)) {
		t.Fatalf("count %d", h.Count())
	}
	var sum int64
	for _, v := range vals {
		sum += v
	}
	if h.Sum != time.Duration(sum) {
		t.Errorf("sum %v, want %v", h.Sum, time.Duration(sum))
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := float64(vals[int(q*float64(len(vals)))-1])
		got := float64(h.Quantile(q))
		if math.Abs(got-exact)/exact > 0.125 {
			t.Errorf("p%v = %v, exact %v", q*100, time.Duration(got), time.Duration(exact))
		}
	}
	if h.Quantile(math.NaN()) > h.Quantile(0.01) || h.Quantile(2) < h.Quantile(0.999) {
		t.Error("out-of-range q not clamped")
	}
	if (Histogram{}).Quantile(0.5) != 0 || (Histogram{}).Mean() != 0 {
		t.Error("empty histogram")
	}
}

func TestHistogramSubAdd(t *testing.T) {
	var a atomicHist
	for range 100 {
		a.observe(int64(time.Millisecond))
	}
	var before Histogram
	a.addTo(&before)
	for range 10 {
		a.observe(int64(50 * time.Millisecond))
	}
	var after Histogram
	a.addTo(&after)
	win := after.Sub(before)
	if win.Count() != 10 || win.Sum != 500*time.Millisecond {
		t.Fatalf("window count %d sum %v", win.Count(), win.Sum)
	}
	if p := win.Quantile(0.99); p < 45*time.Millisecond || p > 55*time.Millisecond {
		t.Errorf("window p99 = %v", p)
	}
	if p := after.Quantile(0.5); p > 1100*time.Microsecond {
		t.Errorf("overall p50 = %v", p)
	}
	if got := before.Add(win); got != after {
		t.Error("before + window != after")
	}
	if z := before.Sub(after); z.Count() != 0 || z.Sum != 0 {
		t.Error("Sub of a later snapshot is not empty")
	}
	if win.Mean() != 50*time.Millisecond {
		t.Errorf("mean %v", win.Mean())
	}
}
