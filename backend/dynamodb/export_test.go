package dynamodb

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// SetClock replaces b's clock. Tests only: it lets expiry be checked against a
// real server without sleeping.
func SetClock(b *Backend, now func() time.Time) { b.now = now }

// Classify exposes the SDK error classification to the tests.
var Classify = classify

// ParseTTL exposes the ttl attribute decoding to the fuzz target.
func ParseTTL(n string) (int64, bool, error) {
	b := &Backend{opts: Options{TTLAttribute: DefaultTTLAttribute}}
	return b.itemTTL(map[string]types.AttributeValue{DefaultTTLAttribute: &types.AttributeValueMemberN{Value: n}})
}
