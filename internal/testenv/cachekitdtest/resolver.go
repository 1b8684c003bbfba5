package cachekitdtest

import (
	"context"
	"net"
	"net/netip"
	"strings"
)

// Resolver answers host-name lookups from a map (lowercase names) and
// nothing else. It satisfies cachekitio.Resolver.
type Resolver map[string][]netip.Addr

// LookupNetIP returns the addresses of host, or a not-found *net.DNSError.
func (r Resolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// LoopbackResolver maps every name to 127.0.0.1.
func LoopbackResolver(names ...string) Resolver {
	r := Resolver{}
	for _, n := range names {
		r[strings.ToLower(n)] = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}
	}
	return r
}
