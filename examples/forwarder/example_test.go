package forwarder_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/hotloop/hotloop/examples/forwarder"
)

// Forward a bounded load over loopback to an in-process sink, with the fix on.
func Example() {
	recv, err := forwarder.StartReceiver("", 0)
	if err != nil {
		log.Fatal(err)
	}
	defer recv.Stop()
	sink, err := forwarder.OpenSink("tcp://" + recv.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	srv, err := forwarder.Start(forwarder.Config{Sink: sink, Fix: true})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := forwarder.Load{Addr: srv.Addr().String(), Conns: 2, Lines: 500}.Run(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := recv.WaitCount(ctx, res.Lines); err != nil {
		log.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent", res.Lines, "received", recv.Count(), "malformed", srv.Stats().Malformed)
	// Output: sent 1000 received 1000 malformed 0
}

// AppendRecord is the per-line rewriting step.
func ExampleAppendRecord() {
	rec, ok := forwarder.AppendRecord(nil, []byte(`<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed`))
	fmt.Print(string(rec), ok)
	// Output:
	// {"facility":"auth","severity":"crit","time":"Oct 11 22:14:15","host":"mymachine","app":"su","procid":"123","msg":"'su root' failed"}
	// true
}
