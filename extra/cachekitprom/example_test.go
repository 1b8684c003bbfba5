package cachekitprom_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/cachekit-go/cachekit"
	"github.com/cachekit-go/cachekit/extra/cachekitprom"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func Example() {
	m := cachekitprom.New()
	c, err := cachekit.New(cachekit.WithObserver(m))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	m.Watch(c) // the cache's Info is read at each scrape
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	get := cachekit.MustWrap1(c, getUser, cachekit.Name("users.get"))
	for range 3 {
		_, _ = get.Call(context.Background(), 1)
	}
	fams, _ := reg.Gather()
	for _, f := range fams {
		if f.GetName() == "cachekit_calls_total" {
			for _, m := range f.GetMetric() {
				fmt.Println(m.GetLabel()[1].GetValue(), m.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// l1_hit 2
	// miss 1
}
