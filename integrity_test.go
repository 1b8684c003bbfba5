package cachekit

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cachekit-go/cachekit/backend/memory"
	"github.com/cachekit-go/cachekit/protocol/frame"
	"github.com/cachekit-go/cachekit/secret"
)

// TestMovedEntryIsAHitWithoutEncryption demonstrates what docs/encryption.md
// says integrity covers without encryption: the envelope checksum covers the
// value, not the key, so an entry copied by a backend writer to another key
// is served there as a hit, with either preset. Encryption binds the key
// (AES-GCM additional data): the moved entry is a tamper rejection and the
// function runs.
func TestMovedEntryIsAHitWithoutEncryption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := secret.String(hexKey(0x33))
	for _, tt := range []struct {
		name     string
		opts     []Option
		movedHit bool
	}{
		{"Minimal", []Option{Minimal()}, true},
		{"Production", []Option{Production()}, true},
		{"Secure", []Option{Secure(), WithEncryption(Encryption{MasterKey: key, Tenant: "acme"})}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := memory.New(memory.Options{})
			name := Name(uniq(t))
			var calls atomic.Int32
			fn := func(_ context.Context, n int) (string, error) {
				calls.Add(1)
				return fmt.Sprintf("balance of account %d", n), nil
			}
			writer, err := Wrap1(newTestCache(t, b, tt.opts...), fn, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 2} {
				if _, err := writer.Call(ctx, n); err != nil {
					t.Fatal(err)
				}
			}
			k1, k2 := mustKey(t, writer, 1), mustKey(t, writer, 2)
			// A backend writer copies account 1's entry over account 2's.
			if err := b.Set(ctx, k2, storedAt(t, b, k1), time.Hour); err != nil {
				t.Fatal(err)
			}
			reader, err := Wrap1(newTestCache(t, b, tt.opts...), fn, name)
			if err != nil {
				t.Fatal(err)
			}
			before := calls.Load()
			v, err := reader.Call(ctx, 2)
			if err != nil {
				t.Fatal(err)
			}
			if tt.movedHit {
				if v != "balance of account 1" || calls.Load() != before || reader.Info().L2Hits != 1 {
					t.Fatalf("%s: Call(2) = %q after %d runs: the moved entry was expected to be served as a hit", tt.name, v, calls.Load()-before)
				}
				return
			}
			if v != "balance of account 2" || calls.Load() != before+1 || reader.Info().Encryption.Failures.Tamper != 1 {
				t.Fatalf("%s: Call(2) = %q, %d runs, failures %+v: encryption must reject the moved entry",
					tt.name, v, calls.Load()-before, reader.Info().Encryption.Failures)
			}
		})
	}
}

// TestSingleBitFlips flips every bit of one stored entry in turn and reads
// it back: with the envelope (Production) no flip ever yields a value, only
// misses; without it (Minimal, raw MessagePack in the frame) many flips
// decode to a wrong value that is returned as a hit. The share is logged;
// docs/encryption.md quotes it.
func TestSingleBitFlips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	want := map[string]any{"id": int64(42), "name": "alice", "email": "alice@example.com", "active": true}
	for _, tt := range []struct {
		name    string
		opt     Option
		wrongOK bool // wrong values expected
	}{
		{"Production", Production(), false},
		{"Minimal", Minimal(), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := memory.New(memory.Options{})
			c := newTestCache(t, b, tt.opt, WithL1(false))
			key := uniq(t)
			if err := c.Set(ctx, key, want, time.Hour); err != nil {
				t.Fatal(err)
			}
			good := storedAt(t, b, key)
			_, payload, err := frame.Decode(good)
			if err != nil {
				t.Fatal(err)
			}
			payloadStart := 8 * (len(good) - len(payload))
			var wrong, same, refused, wrongInPayload int
			for bit := range 8 * len(good) {
				flipped := append([]byte(nil), good...)
				flipped[bit/8] ^= 1 << (bit % 8)
				if err := b.Set(ctx, key, flipped, time.Hour); err != nil {
					t.Fatal(err)
				}
				got, found, err := Get[map[string]any](ctx, c, key)
				switch {
				case err != nil || !found:
					refused++
				case reflect.DeepEqual(got, want):
					same++
				default:
					wrong++
					if bit >= payloadStart {
						wrongInPayload++
					}
				}
			}
			total := 8 * len(good)
			t.Logf("%s: %d-byte entry, %d single-bit flips: %d wrong values returned (%.0f %%; %.0f %% of the %d flips in the %d-byte payload), %d refused, %d harmless",
				tt.name, len(good), total, wrong, 100*float64(wrong)/float64(total),
				100*float64(wrongInPayload)/float64(total-payloadStart), total-payloadStart, len(payload), refused, same)
			if !tt.wrongOK && wrong != 0 {
				t.Fatalf("%s returned %d wrong values", tt.name, wrong)
			}
			if tt.wrongOK && wrong == 0 {
				t.Fatalf("%s: no flip gave a wrong value; docs/encryption.md says most do", tt.name)
			}
		})
	}
}
