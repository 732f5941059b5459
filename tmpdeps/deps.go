package tmpdeps

import (
	_ "github.com/chromedp/chromedp"
	_ "github.com/felixge/fgprof"
	_ "github.com/google/pprof/profile"
	_ "github.com/grafana/pyroscope-go"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "go.uber.org/goleak"
	_ "golang.org/x/exp/trace"
	_ "golang.org/x/sys/unix"
)
