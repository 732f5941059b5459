package flame

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts Debian's headless chromium for one test. Without it the
// test skips, except in CI (CI=true), where the browser test is mandatory.
// The returned stop ends the browser and waits for it; it is idempotent.
func newBrowser(t *testing.T) (ctx context.Context, stop func()) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is required in CI: %v (apt-get install chromium)", err)
		}
		t.Skip("chromium not installed: apt-get install chromium")
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 1000), // the whole 1200 px graph on screen, no scrolling
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(actx)
	stop = func() {
		cancel()
		cancelAlloc()
	}
	t.Cleanup(stop)
	return ctx, stop
}

// frameBox is the on-page geometry and state of one frame of the SVG.
type frameBox struct {
	Title     string  `json:"title"`
	X         float64 `json:"x"`
	Width     float64 `json:"width"`
	Class     string  `json:"class"`
	CX        float64 `json:"cx"` // centre on screen, for the mouse
	CY        float64 `json:"cy"`
	Displayed bool    `json:"displayed"`
}

const framesJS = `Array.from(document.getElementById("frames").children).map(function (g) {
	var r = g.getElementsByTagName("rect")[0], b = r.getBoundingClientRect();
	return {title: g.getElementsByTagName("title")[0].textContent,
		x: parseFloat(r.getAttribute("x")), width: parseFloat(r.getAttribute("width")),
		class: g.getAttribute("class") || "", cx: b.left + b.width / 2, cy: b.top + b.height / 2,
		displayed: getComputedStyle(g).display != "none"};
})`

func findFrame(t *testing.T, fs []frameBox, prefix string) frameBox {
	t.Helper()
	for _, f := range fs {
		if strings.HasPrefix(f.Title, prefix) {
			return f
		}
	}
	t.Fatalf("no frame %q", prefix)
	return frameBox{}
}

// matchedPercent is what the search must report: the share of all samples in
// stacks with at least one frame matching re.
func matchedPercent(p *Profile, re *regexp.Regexp) string {
	sum := 0.0
	p.Each(func(stack string, v float64) {
		for _, f := range strings.Split(stack, ";") {
			if re.MatchString(f) {
				sum += v
				return
			}
		}
	})
	return fmt.Sprintf("Matched: %.1f%%", 100*sum/p.Total())
}

func TestSVGInBrowser(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := readTestFolded(t, "small.folded")
	svg := renderSVG(t, p, SVGOptions{})
	pages := map[string][]byte{
		"/flame.svg":  svg,
		"/icicle.svg": renderSVG(t, p, SVGOptions{Inverted: true, Colors: "hot"}),
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := pages[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Write(b)
	}))
	defer ts.Close()

	ctx, stop := newBrowser(t)
	defer stop() // before goleak's check
	tctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/flame.svg"), chromedp.WaitReady(chromedp.ID("frames"))); err != nil {
		t.Fatal(err)
	}
	frames := func() []frameBox {
		t.Helper()
		fs, err := chromedp.Run(tctx, chromedp.Evaluate[[]frameBox]("window.scrollTo(0, 0), "+framesJS))
		if err != nil {
			t.Fatal(err)
		}
		return fs
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.getElementById("`+id+`").textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := frames()
	if len(before) != len(parseSVGFrames(t, svg)) {
		t.Fatalf("browser sees %d frames, the SVG has %d", len(before), len(parseSVGFrames(t, svg)))
	}

	t.Run("search with Ctrl-F", func(t *testing.T) {
		// Ctrl-F opens the prompt; answer it with a regexp. "runtime\." matches
		// nested frames (runtime.mallocgc under runtime.main): counted once.
		term := `runtime\.`
		opening := chromedp.Events(tctx, page.JavascriptDialogOpening)
		answered := make(chan error, 1)
		go func() {
			for ev, err := range opening {
				if err != nil {
					answered <- err
					return
				}
				if ev.Type != page.DialogTypePrompt {
					answered <- fmt.Errorf("dialog %q, want a prompt", ev.Type)
					return
				}
				answered <- chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true, PromptText: term})
					return err
				}))
				return
			}
		}()
		if err := chromedp.Do(tctx, chromedp.KeyEvent("f", chromedp.KeyModifiers(chromedp.ModifierCtrl))); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-answered:
			if err != nil {
				t.Fatal(err)
			}
		case <-tctx.Done():
			t.Fatal("Ctrl-F opened no prompt")
		}
		want := matchedPercent(p, regexp.MustCompile(term))
		if want != "Matched: 91.1%" { // 112 of 123 samples: the test's own arithmetic
			t.Fatalf("expected %q from the profile", want)
		}
		if got := pollText(t, tctx, text, "matched", want); got != want {
			t.Fatalf("search %q shows %q, want %q", term, got, want)
		}
		fill, err := chromedp.Run(tctx, chromedp.Evaluate[int](`document.querySelectorAll('#frames rect[fill="rgb(230,0,230)"]').length`))
		if err != nil {
			t.Fatal(err)
		}
		if fill != strings.Count(string(svg), "<title>runtime.") {
			t.Errorf("%d frames highlighted, want %d", fill, strings.Count(string(svg), "<title>runtime."))
		}
		// The search function also takes a term directly, and a second regexp.
		pct, err := chromedp.Run(tctx, chromedp.Evaluate[float64](`search("^github\\.com/acme/fwd/internal/rewrite\\.Line$")`))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := text("matched"), matchedPercent(p, regexp.MustCompile(`^github\.com/acme/fwd/internal/rewrite\.Line$`)); got != want || want != "Matched: 62.6%" || pct < 62.6 || pct > 62.7 {
			t.Errorf("second search shows %q (%v), want %q", got, pct, want)
		}
		// Clicking "Reset Search" clears it.
		if err := chromedp.Do(tctx, chromedp.Click(chromedp.ID("search"))); err != nil {
			t.Fatal(err)
		}
		if got := text("matched"); strings.TrimSpace(got) != "" {
			t.Errorf("after reset search shows %q", got)
		}
	})

	t.Run("hover shows details", func(t *testing.T) {
		f := findFrame(t, frames(), "runtime.goexit ")
		if err := chromedp.Do(tctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, f.CX, f.CY)); err != nil {
			t.Fatal(err)
		}
		want := "Function: runtime.goexit (23 samples, 18.70%)"
		if got := pollText(t, tctx, text, "details", want); got != want {
			t.Fatalf("details %q, want %q", got, want)
		}
	})

	t.Run("click zooms, reset restores", func(t *testing.T) {
		f := findFrame(t, frames(), "runtime.goexit ")
		if err := chromedp.Do(tctx, chromedp.MouseClickXY(f.CX, f.CY)); err != nil {
			t.Fatal(err)
		}
		after := frames()
		z := findFrame(t, after, "runtime.goexit ")
		if z.X != 10 || z.Width != 1180 || !z.Displayed {
			t.Errorf("zoomed frame at x=%v width=%v displayed=%v, want the full width 10..1190", z.X, z.Width, z.Displayed)
		}
		if s := findFrame(t, after, "runtime.main "); s.Displayed || !strings.Contains(s.Class, "hide") {
			t.Errorf("sibling runtime.main still shown (class %q)", s.Class)
		}
		if a := findFrame(t, after, "all "); !a.Displayed || !strings.Contains(a.Class, "parent") {
			t.Errorf("root not shown as a parent (class %q)", a.Class)
		}
		c := findFrame(t, after, "runtime.gcBgMarkWorker ")
		if want := 1180 * 14.0 / 23; c.Width < want-0.2 || c.Width > want+0.2 || !c.Displayed {
			t.Errorf("child runtime.gcBgMarkWorker width %v, want %.1f (14 of 23 samples)", c.Width, want)
		}
		if cls, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.getElementById("unzoom").getAttribute("class")`)); err != nil || strings.Contains(cls, "hide") {
			t.Errorf("Reset Zoom not shown: %q %v", cls, err)
		}

		if err := chromedp.Do(tctx, chromedp.Click(chromedp.ID("unzoom"))); err != nil {
			t.Fatal(err)
		}
		reset := frames()
		for i := range before {
			b, r := before[i], reset[i]
			if b.X != r.X || b.Width != r.Width || !r.Displayed || r.Class != "" {
				t.Errorf("after reset %q: x %v width %v displayed %v class %q; before x %v width %v", r.Title, r.X, r.Width, r.Displayed, r.Class, b.X, b.Width)
			}
		}
	})
	if !bytes.Contains(svg, []byte(`<g id="legend">`)) {
		t.Error("no legend")
	}

	t.Run("view in the URL", func(t *testing.T) {
		// Zoom and search are kept in the query string, and a link restores them.
		f := findFrame(t, frames(), "runtime.goexit ")
		if err := chromedp.Do(tctx, chromedp.MouseClickXY(f.CX, f.CY)); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(tctx, chromedp.Evaluate[float64](`search("gcDrain")`)); err != nil {
			t.Fatal(err)
		}
		loc, err := chromedp.Run(tctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(loc, "x=125.1") || !strings.Contains(loc, "s=gcDrain") {
			t.Fatalf("location %q lacks the zoom and the search", loc)
		}
		if err := chromedp.Do(tctx, chromedp.Navigate(loc), chromedp.WaitReady(chromedp.ID("frames"))); err != nil {
			t.Fatal(err)
		}
		if z := findFrame(t, frames(), "runtime.goexit "); z.Width != 1180 {
			t.Errorf("link did not restore the zoom: width %v", z.Width)
		}
		if got, want := text("matched"), matchedPercent(p, regexp.MustCompile("gcDrain")); got != want {
			t.Errorf("link restored search %q, want %q", got, want)
		}
		if err := chromedp.Do(tctx, chromedp.Click(chromedp.ID("unzoom")), chromedp.Click(chromedp.ID("search"))); err != nil {
			t.Fatal(err)
		}
		if loc, err := chromedp.Run(tctx, chromedp.Location()); err != nil || strings.Contains(loc, "?") {
			t.Errorf("after reset the location is %q (%v)", loc, err)
		}
	})

	t.Run("icicle zoom", func(t *testing.T) {
		if err := chromedp.Do(tctx, chromedp.Navigate(ts.URL+"/icicle.svg"), chromedp.WaitReady(chromedp.ID("frames"))); err != nil {
			t.Fatal(err)
		}
		f := findFrame(t, frames(), "runtime.gcBgMarkWorker ")
		if err := chromedp.Do(tctx, chromedp.MouseClickXY(f.CX, f.CY)); err != nil {
			t.Fatal(err)
		}
		after := frames()
		if z := findFrame(t, after, "runtime.gcBgMarkWorker "); z.X != 10 || z.Width != 1180 {
			t.Errorf("zoomed icicle frame at x=%v width=%v", z.X, z.Width)
		}
		// in an icicle the ancestors are above: runtime.goexit is a parent, runtime.main hidden
		if a := findFrame(t, after, "runtime.goexit "); !strings.Contains(a.Class, "parent") || a.Width != 1180 {
			t.Errorf("ancestor runtime.goexit class %q width %v", a.Class, a.Width)
		}
		if s := findFrame(t, after, "runtime.main "); s.Displayed {
			t.Errorf("runtime.main shown after zooming into the GC worker")
		}
		if c := findFrame(t, after, "runtime.gcDrain "); c.Width != 1180 || !c.Displayed {
			t.Errorf("only child runtime.gcDrain width %v, want 1180", c.Width)
		}
	})
}

// pollText reads an element's text until it equals want or the deadline
// passes: the page updates on its own event loop.
func pollText(t *testing.T, ctx context.Context, text func(string) string, id, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := text(id)
		if got == want || time.Now().After(deadline) || ctx.Err() != nil {
			return got
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}
