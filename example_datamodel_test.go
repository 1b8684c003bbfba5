package cachekit_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cachekit-go/cachekit"
)

// regionStore has one instance per region; its Get is wrapped per instance.
type regionStore struct{ region string }

func (s *regionStore) Get(_ context.Context, id int) (string, error) {
	return fmt.Sprintf("%s:%d", s.region, id), nil
}

// Method values are wrapped with Receiver, so each receiver has its own
// entries.
func ExampleReceiver() {
	c, _ := cachekit.New()
	defer c.Close()
	us, eu := &regionStore{"us"}, &regionStore{"eu"}
	getUS := cachekit.MustWrap1(c, us.Get, cachekit.Receiver("us"))
	getEU := cachekit.MustWrap1(c, eu.Get, cachekit.Receiver("eu"))
	ctx := context.Background()
	a, _ := getEU.Call(ctx, 7)
	b, _ := getUS.Call(ctx, 7)
	fmt.Println(a, b)
	// Output: eu:7 us:7
}

// Types that cannot come back as the function returned them are refused
// before the function runs, with a *TypeError naming the reason.
func ExampleTypeError() {
	c, _ := cachekit.New()
	defer c.Close()
	type session struct {
		User  string
		token string // unexported: never stored
	}
	_, err := cachekit.Load(context.Background(), c, "s:1", func(context.Context) (session, error) {
		return session{User: "ada", token: "t"}, nil
	})
	var te *cachekit.TypeError
	fmt.Println(errors.As(err, &te), errors.Is(err, cachekit.ErrUnsupportedType), te.Path)
	// Output: true true .token
}

// A Python date or time of day comes back as a Date or a TimeOfDay, not as
// a time.Time.
func ExampleDate() {
	c, _ := cachekit.New()
	defer c.Close()
	ctx := context.Background()
	d := cachekit.DateOf(time.Date(2025, 11, 14, 23, 0, 0, 0, time.UTC))
	_ = c.Set(ctx, "holiday", d, 0)
	got, found, err := cachekit.Get[cachekit.Date](ctx, c, "holiday")
	fmt.Println(got, found, err)
	// Output: 2025-11-14 true <nil>
}

var errNoUser = errors.New("users: no such user")

// A chosen error result ("not found") is cached for its own TTL: the
// function does not run again for the missing id.
func ExampleCacheError() {
	c, _ := cachekit.New()
	defer c.Close()
	runs := 0
	find := func(_ context.Context, id int) (string, error) {
		runs++
		if id == 0 {
			return "", errNoUser
		}
		return fmt.Sprint("user", id), nil
	}
	get := cachekit.MustWrap1(c, find, cachekit.Name("users.find"), cachekit.CacheError(errNoUser, time.Minute))
	ctx := context.Background()
	_, err1 := get.Call(ctx, 0)
	_, err2 := get.Call(ctx, 0)
	fmt.Println(errors.Is(err1, errNoUser), errors.Is(err2, errNoUser), runs)
	// Output: true true 1
}
