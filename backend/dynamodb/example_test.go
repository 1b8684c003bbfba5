package dynamodb_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cachekit-go/cachekit/backend/dynamodb"
)

// A backend on an existing table. In production the client usually comes
// from the default AWS configuration:
//
//	cfg, err := config.LoadDefaultConfig(ctx) // github.com/aws/aws-sdk-go-v2/config
//	client := awsddb.NewFromConfig(cfg)
func Example() {
	ctx := context.Background()
	client := awsddb.New(awsddb.Options{Region: "eu-west-1"})

	b, err := dynamodb.New(ctx, client, dynamodb.Options{
		Table:   "my-service-cache",
		Timeout: 2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Set(ctx, "user:42", []byte("payload"), 5*time.Minute); err != nil {
		log.Fatal(err)
	}
	v, found, err := b.Get(ctx, "user:42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(found, string(v))
}

// A throwaway table on a local DynamoDB-compatible server (DynamoDB Local,
// dynalite) for development and tests. Such servers accept any static
// credentials.
func ExampleCreateTable() {
	ctx := context.Background()
	client := awsddb.New(awsddb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://127.0.0.1:8000"),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "dummy", SecretAccessKey: "dummy"}, nil
		}),
	})
	opts := dynamodb.Options{Table: "cachekit-dev"}
	if err := dynamodb.CreateTable(ctx, client, opts); err != nil {
		log.Fatal(err)
	}
	b, err := dynamodb.New(ctx, client, opts)
	if err != nil {
		log.Fatal(err)
	}
	healthy, details := b.HealthCheck(ctx)
	fmt.Println(healthy, details["table_status"])
}

// Stampede protection across processes: one caller computes, the others wait
// or serve stale data.
func ExampleBackend_AcquireLock() {
	ctx := context.Background()
	client := awsddb.New(awsddb.Options{Region: "eu-west-1"})
	b, err := dynamodb.New(ctx, client, dynamodb.Options{})
	if err != nil {
		log.Fatal(err)
	}
	id, ok, err := b.AcquireLock(ctx, "report:daily", 30*time.Second)
	if err != nil {
		log.Fatal(err)
	}
	if !ok {
		fmt.Println("someone else is computing the report")
		return
	}
	defer func() { _, _ = b.ReleaseLock(ctx, "report:daily", id) }()
	// ... compute and Set the report ...
}
