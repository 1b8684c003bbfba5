package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/cachekit-go/cachekit/backend"
	"github.com/cachekit-go/cachekit/backend/dynamodb"
)

// httpErr builds the error shape the SDK returns for an HTTP error response.
func httpErr(status int, err error) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "GetItem", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
			Err:      err,
		},
		RequestID: "req",
	}}
}

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }

// TestClassify covers error shapes a test server cannot be made to produce
// (throttling, 5xx, expired tokens). The errors are built the way the SDK
// builds them; the server-produced ones are covered against dynalite.
func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want backend.Kind
	}{
		{"throughput exceeded", httpErr(400, &types.ProvisionedThroughputExceededException{}), backend.Transient},
		{"throttling", httpErr(400, apiErr("ThrottlingException")), backend.Transient},
		{"request limit", httpErr(400, &types.RequestLimitExceeded{}), backend.Transient},
		{"internal server error", httpErr(500, &types.InternalServerError{}), backend.Transient},
		{"503 without a code", httpErr(503, errors.New("unavailable")), backend.Transient},
		{"429 without a code", httpErr(429, errors.New("slow down")), backend.Transient},
		{"validation", httpErr(400, apiErr("ValidationException")), backend.Permanent},
		{"missing table", httpErr(400, &types.ResourceNotFoundException{}), backend.Permanent},
		{"other 4xx", httpErr(413, errors.New("too big")), backend.Permanent},
		{"access denied", httpErr(400, apiErr("AccessDeniedException")), backend.Authentication},
		{"unrecognized client", httpErr(400, apiErr("UnrecognizedClientException")), backend.Authentication},
		{"expired token", httpErr(400, apiErr("ExpiredTokenException")), backend.Authentication},
		{"403 without a code", httpErr(403, errors.New("forbidden")), backend.Authentication},
		{"deadline", fmt.Errorf("op: %w", context.DeadlineExceeded), backend.Timeout},
		{"deadline inside canceled error", &smithy.CanceledError{Err: context.DeadlineExceeded}, backend.Timeout},
		{"connection refused", &net.OpError{Op: "dial", Err: errors.New("refused")}, backend.Transient},
		{"server fault", apiErr("SomethingNew"), backend.Unknown},
		{"server fault flagged", &smithy.GenericAPIError{Code: "SomethingNew", Fault: smithy.FaultServer}, backend.Transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := dynamodb.Classify(tc.err); got != tc.want {
				t.Fatalf("classify(%v) = %v; want %v", tc.err, got, tc.want)
			}
		})
	}
}

func FuzzParseTTL(f *testing.F) {
	for _, s := range []string{"0", "1700000000", "-5", "1700000000.25", "1e30", "-1e30", "9223372036854775807", "9223372036854775808", "NaN", "x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exp, ok, err := dynamodb.ParseTTL(s)
		if err != nil {
			if ok || exp != 0 || !errors.Is(err, dynamodb.ErrBadItem) {
				t.Fatalf("ParseTTL(%q) = %d, %v, %v", s, exp, ok, err)
			}
			return
		}
		if !ok {
			t.Fatalf("ParseTTL(%q) ok = false without error", s)
		}
		if n, perr := strconv.ParseInt(s, 10, 64); perr == nil && n != exp {
			t.Fatalf("ParseTTL(%q) = %d", s, exp)
		}
	})
}
