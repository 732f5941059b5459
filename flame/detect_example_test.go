package flame_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/hotloop/hotloop/flame"
)

// Read detects the format: here `perf script` text, collapsed as
// stackcollapse-perf.pl --kernel would.
func ExampleRead() {
	in := strings.NewReader(`app 10 1.0: 250000 cpu-clock:
	ffffffff81000000 do_syscall_64+0x1 ([kernel.kallsyms])
	4a1f00 main.parse+0x40 (/srv/app)
	4a0e00 main.main+0x10 (/srv/app)

`)
	p, format, err := flame.Read(in, flame.ReadOptions{Perf: flame.PerfOptions{Kernel: true}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(format)
	flame.WriteFolded(os.Stdout, p)
	// Output:
	// perf
	// app;main.main;main.parse;do_syscall_64_[k] 250000
}

// Bad input is a *ParseError naming the format and the line.
func ExampleReadPerf_error() {
	_, err := flame.ReadPerf(strings.NewReader("app 10 1.0: 1 cycles:\n\t4a1f00 main.parse (/srv/app\n\n"), flame.PerfOptions{})
	fmt.Println(err)
	// Output:
	// parsing perf script: line 2: unrecognized line "\t4a1f00 main.parse (/srv/app" (want an event line "comm pid time: period event:" or a frame "addr symbol (module)")
}
