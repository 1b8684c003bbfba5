package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// TableClient is the part of the DynamoDB API CreateTable uses.
// *dynamodb.Client satisfies it.
type TableClient interface {
	CreateTable(ctx context.Context, in *ddb.CreateTableInput, optFns ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, optFns ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
	UpdateTimeToLive(ctx context.Context, in *ddb.UpdateTimeToLiveInput, optFns ...func(*ddb.Options)) (*ddb.UpdateTimeToLiveOutput, error)
}

var _ TableClient = (*ddb.Client)(nil)

// tablePollInterval is how often CreateTable checks whether a new table has
// become ACTIVE.
const tablePollInterval = 100 * time.Millisecond

// CreateTable creates the table described by opts (on-demand billing, a
// String partition key named opts.KeyAttribute), waits until it is ACTIVE and
// enables Time to Live on opts.TTLAttribute. It is meant for development and
// tests; production tables belong in infrastructure code.
//
// An existing table with a matching key schema is not an error (CreateTable
// is idempotent); one with a different schema is an error wrapping
// ErrTableMismatch. A server that does not implement UpdateTimeToLive (such
// as dynalite) gets a table without TTL deletion, which the backend tolerates
// because it checks expiry on every read; this is logged at debug level.
func CreateTable(ctx context.Context, client TableClient, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	_, err = client.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:   aws.String(opts.Table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{
			AttributeName: aws.String(opts.KeyAttribute),
			AttributeType: types.ScalarAttributeTypeS,
		}},
		KeySchema: []types.KeySchemaElement{{
			AttributeName: aws.String(opts.KeyAttribute),
			KeyType:       types.KeyTypeHash,
		}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return wrapErr("create_table", "", err)
	}
	if err := waitActive(ctx, client, opts); err != nil {
		return err
	}
	_, err = client.UpdateTimeToLive(ctx, &ddb.UpdateTimeToLiveInput{
		TableName: aws.String(opts.Table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(opts.TTLAttribute),
			Enabled:       aws.Bool(true),
		},
	})
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "UnknownOperationException":
			opts.Logger.DebugContext(ctx, "dynamodb: server does not support UpdateTimeToLive; expired items are filtered on read but never deleted", "table", opts.Table)
			return nil
		case "ValidationException":
			// Already enabled (possibly on this attribute): DynamoDB refuses
			// to enable TTL twice.
			opts.Logger.DebugContext(ctx, "dynamodb: UpdateTimeToLive refused, TTL probably already enabled", "table", opts.Table)
			return nil
		}
	}
	return wrapErr("create_table", "", err)
}

// waitActive polls DescribeTable until the table is ACTIVE and checks its key
// schema.
func waitActive(ctx context.Context, client TableClient, opts Options) error {
	t := time.NewTicker(tablePollInterval)
	defer t.Stop()
	for {
		out, err := client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(opts.Table)})
		var notFound *types.ResourceNotFoundException
		switch {
		case errors.As(err, &notFound):
			// Not visible yet right after CreateTable: keep polling.
		case err != nil:
			return wrapErr("create_table", "", err)
		case out.Table == nil:
			return fmt.Errorf("%w: DescribeTable returned no table", ErrTableMismatch)
		default:
			if err := checkKeySchema(out.Table, opts.KeyAttribute); err != nil {
				return err
			}
			if out.Table.TableStatus == types.TableStatusActive {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return wrapErr("create_table", "", ctx.Err())
		case <-t.C:
		}
	}
}
