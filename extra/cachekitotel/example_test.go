package cachekitotel_test

import (
	"context"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/extra/cachekitotel"
)

func Example() {
	// The global TracerProvider and MeterProvider (set by the application's
	// OpenTelemetry setup) receive the spans and metrics.
	o, err := cachekitotel.New(cachekitotel.Options{})
	if err != nil {
		panic(err)
	}
	c, err := cachekit.New(cachekit.WithObserver(o))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if _, err := o.Watch(c); err != nil {
		panic(err)
	}
	get := cachekit.MustWrap1(c, getUser, cachekit.Name("users.get"))
	_, _ = get.Call(context.Background(), 1) // a span "cachekit users.get"
}
