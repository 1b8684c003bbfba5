package dynamodb

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit-go/cachekit/backend"
)

// ScanClient is the part of the DynamoDB API DeletePrefix needs on top of
// Client. *dynamodb.Client satisfies it; a Client wrapper that lacks these
// methods makes DeletePrefix fail with an error matching
// errors.ErrUnsupported.
type ScanClient interface {
	Scan(ctx context.Context, in *ddb.ScanInput, optFns ...func(*ddb.Options)) (*ddb.ScanOutput, error)
	BatchWriteItem(ctx context.Context, in *ddb.BatchWriteItemInput, optFns ...func(*ddb.Options)) (*ddb.BatchWriteItemOutput, error)
}

var (
	_ ScanClient            = (*ddb.Client)(nil)
	_ backend.PrefixDeleter = (*Backend)(nil)
)

// batchWriteMax is the most requests one BatchWriteItem call takes.
const batchWriteMax = 25

// unprocessedRetries bounds how often DeletePrefix resends the deletes a
// throttled BatchWriteItem left unprocessed, before failing Transient.
const unprocessedRetries = 8

// errUnprocessed is the cause when deletes stay unprocessed after every
// retry (the table is throttled).
var errUnprocessed = errors.New("BatchWriteItem kept leaving deletes unprocessed")

// DeletePrefix removes every entry whose key starts with prefix and returns
// how many unexpired entries it removed (expired items still stored are
// removed too, uncounted). It Scans the whole table with the filter
// begins_with(key, prefix), page by page, and deletes each page's keys with
// BatchWriteItem, 25 at a time, resending what DynamoDB leaves unprocessed.
//
// Cost: a Scan reads, and bills, every item of the table, values included
// (a filter only reduces what is returned, not what is read), so a Clear on
// a big table is expensive and slow; keep per-function Clear for small
// tables or rare maintenance. Items whose key ends in LockSuffix (locks) are
// kept. The deletes are unconditional, so an entry rewritten between the
// Scan and the delete is removed as well; entries written after their page
// was scanned survive. prefix "" is refused with an error matching
// backend.ErrEmptyPrefix. Options.Timeout bounds each page (one Scan and
// its deletes), ctx the whole walk; on cancellation the count so far is
// returned with the error.
func (b *Backend) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	const op = "delete_prefix"
	if prefix == "" {
		return 0, permanent(op, "", backend.ErrEmptyPrefix, "")
	}
	sc, ok := b.client.(ScanClient)
	if !ok {
		return 0, permanent(op, prefix, errors.ErrUnsupported, "the client has no Scan and BatchWriteItem")
	}
	removed := 0
	var start map[string]types.AttributeValue
	for {
		if err := ctx.Err(); err != nil {
			return removed, wrapErr(op, prefix, err)
		}
		n, next, err := b.deletePage(ctx, sc, prefix, start)
		removed += n
		if errors.Is(err, errUnprocessed) {
			return removed, backend.NewError(backend.Transient, Name, op, prefix, err)
		}
		if err != nil {
			return removed, wrapErr(op, prefix, err)
		}
		if len(next) == 0 {
			return removed, nil
		}
		start = next
	}
}

// deletePage scans one page from start and deletes the matching keys on it.
func (b *Backend) deletePage(ctx context.Context, sc ScanClient, prefix string, start map[string]types.AttributeValue) (removed int, next map[string]types.AttributeValue, err error) {
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	out, err := sc.Scan(ctx, &ddb.ScanInput{
		TableName:                 aws.String(b.opts.Table),
		ExclusiveStartKey:         start,
		FilterExpression:          aws.String("begins_with(#k, :p)"),
		ProjectionExpression:      aws.String("#k, #t"),
		ExpressionAttributeNames:  map[string]string{"#k": b.opts.KeyAttribute, "#t": b.opts.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: prefix}},
		ConsistentRead:            aws.Bool(!b.opts.EventuallyConsistentReads),
	}, tagCredentials)
	if err != nil {
		return 0, nil, err
	}
	now := b.now()
	var (
		reqs []types.WriteRequest
		live []bool // live[i]: reqs[i] deletes an unexpired entry
	)
	for _, item := range out.Items {
		k, ok := item[b.opts.KeyAttribute].(*types.AttributeValueMemberS)
		if !ok || !strings.HasPrefix(k.Value, prefix) || strings.HasSuffix(k.Value, LockSuffix) {
			continue
		}
		ok, _, _, err := b.live(item, now)
		live = append(live, ok && err == nil)
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: b.keyAttr(k.Value)}})
	}
	for i := 0; i < len(reqs); i += batchWriteMax {
		end := min(i+batchWriteMax, len(reqs))
		if err := b.batchDelete(ctx, sc, reqs[i:end]); err != nil {
			return removed, nil, err
		}
		for _, l := range live[i:end] {
			if l {
				removed++
			}
		}
	}
	return removed, out.LastEvaluatedKey, nil
}

// batchDelete sends reqs (at most 25) with BatchWriteItem and resends the
// unprocessed ones with a growing pause.
func (b *Backend) batchDelete(ctx context.Context, sc ScanClient, reqs []types.WriteRequest) error {
	pause := 50 * time.Millisecond
	for range unprocessedRetries {
		out, err := sc.BatchWriteItem(ctx, &ddb.BatchWriteItemInput{
			RequestItems: map[string][]types.WriteRequest{b.opts.Table: reqs},
		}, tagCredentials)
		if err != nil {
			return err
		}
		reqs = out.UnprocessedItems[b.opts.Table]
		if len(reqs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, time.Second)
	}
	return errUnprocessed
}
