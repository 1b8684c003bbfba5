package dynamodb_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit-go/cachekit/backend/dynamodb"
	"github.com/cachekit-go/cachekit/internal/testenv"
)

const endpointEnv = "CACHEKIT_TEST_DYNAMODB_ENDPOINT"

// staticCredentials are what DynamoDB-compatible test servers accept.
var staticCredentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "dummy", SecretAccessKey: "dummy", Source: "test"}, nil
})

// newClient returns an SDK client for the test server started by
// scripts/services/dynamodb.sh, or skips (fails under CI) without one.
func newClient(tb testing.TB, creds aws.CredentialsProvider) *awsddb.Client {
	tb.Helper()
	endpoint := testenv.Require(tb, endpointEnv)
	return awsddb.New(awsddb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  creds,
	})
}

// uniqueName returns prefix plus a random suffix, valid as a table name or key.
func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

var shared struct {
	once   sync.Once
	client *awsddb.Client
	opts   dynamodb.Options
	err    error
}

// sharedTable returns a client and the options of one table that all tests
// of the package share (keys are unique per test).
func sharedTable(tb testing.TB) (*awsddb.Client, dynamodb.Options) {
	tb.Helper()
	client := newClient(tb, staticCredentials)
	shared.once.Do(func() {
		shared.client = client
		shared.opts = dynamodb.Options{Table: uniqueName("cachekit-test-")}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		shared.err = dynamodb.CreateTable(ctx, client, shared.opts)
	})
	if shared.err != nil {
		tb.Fatalf("CreateTable: %v", shared.err)
	}
	return shared.client, shared.opts
}

// newBackend returns a Backend on the shared table.
func newBackend(tb testing.TB) *dynamodb.Backend {
	tb.Helper()
	client, opts := sharedTable(tb)
	b, err := dynamodb.New(context.Background(), client, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return b
}

// testKey returns a key unique to this test.
func testKey(tb testing.TB, suffix string) string {
	return uniqueName(strings.ReplaceAll(tb.Name(), "/", ".")+":") + ":" + suffix
}
