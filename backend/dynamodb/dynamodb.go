package dynamodb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cachekit-go/cachekit/backend"
)

// Client is the part of the DynamoDB API the backend uses. *dynamodb.Client
// from aws-sdk-go-v2 satisfies it; so can a wrapper that adds tracing.
type Client interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, optFns ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, optFns ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *ddb.DeleteItemInput, optFns ...func(*ddb.Options)) (*ddb.DeleteItemOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, optFns ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, optFns ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
}

var _ Client = (*ddb.Client)(nil)

// Backend stores cache entries in a DynamoDB table. It implements
// backend.Backend, backend.Locker, backend.TTLInspector, backend.TTLGetter,
// backend.TimeoutSetter and backend.PrefixDeleter, and is safe for
// concurrent use.
type Backend struct {
	client  Client
	opts    Options
	timeout time.Duration
	now     func() time.Time // the clock; replaced by tests only

	// Expression attribute names shared by every request (read-only).
	names map[string]string
}

var (
	_ backend.Backend       = (*Backend)(nil)
	_ backend.Locker        = (*Backend)(nil)
	_ backend.TTLInspector  = (*Backend)(nil)
	_ backend.TTLGetter     = (*Backend)(nil)
	_ backend.TimeoutSetter = (*Backend)(nil)
)

// New returns a Backend storing entries through client in the table named by
// opts. Unless opts.SkipTableCheck is set, New calls DescribeTable once to
// verify that the table exists and that its key schema matches opts; a
// mismatch is an error wrapping ErrTableMismatch, a missing table a
// *backend.Error of kind Permanent, rejected credentials one of kind
// Authentication. When DynamoDB does not answer (unreachable, throttling,
// timing out), New logs a warning and succeeds without the check, so a
// service starts while its backend is down; the operations then fail with
// Transient errors until it answers.
func New(ctx context.Context, client Client, opts Options) (*Backend, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil client", ErrInvalidOptions)
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Backend{
		client:  client,
		opts:    opts,
		timeout: opts.Timeout,
		now:     time.Now,
		names: map[string]string{
			"#k": opts.KeyAttribute,
			"#v": opts.ValueAttribute,
			"#t": opts.TTLAttribute,
		},
	}
	if !opts.SkipTableCheck {
		if err := b.checkTable(ctx); err != nil {
			if !backend.IsTransient(err) {
				return nil, err
			}
			// DynamoDB is unreachable (or throttling) right now: start
			// anyway, as the cache serves without its backend, and let
			// the operations report their own errors once it answers.
			opts.Logger.WarnContext(ctx, "dynamodb: table not checked, DynamoDB did not answer; starting anyway", "table", opts.Table, "err", err)
		}
	}
	return b, nil
}

// checkTable verifies that the table's only key is a String partition key
// named KeyAttribute.
func (b *Backend) checkTable(ctx context.Context) error {
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	out, err := b.client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(b.opts.Table)}, tagCredentials)
	if err != nil {
		return wrapErr("describe_table", "", err)
	}
	if out.Table == nil {
		return fmt.Errorf("%w: DescribeTable returned no table", ErrTableMismatch)
	}
	return checkKeySchema(out.Table, b.opts.KeyAttribute)
}

func checkKeySchema(t *types.TableDescription, keyAttr string) error {
	if len(t.KeySchema) != 1 || aws.ToString(t.KeySchema[0].AttributeName) != keyAttr || t.KeySchema[0].KeyType != types.KeyTypeHash {
		return fmt.Errorf("%w: table %q must have exactly one key, a partition key named %q", ErrTableMismatch, aws.ToString(t.TableName), keyAttr)
	}
	for _, d := range t.AttributeDefinitions {
		if aws.ToString(d.AttributeName) == keyAttr && d.AttributeType != types.ScalarAttributeTypeS {
			return fmt.Errorf("%w: partition key %q of table %q must be of type S, not %s", ErrTableMismatch, keyAttr, aws.ToString(t.TableName), d.AttributeType)
		}
	}
	return nil
}

// Options returns the effective options (defaults filled in).
func (b *Backend) Options() Options { return b.opts }

// WithTimeout returns a Backend sharing b's client whose every operation is
// bounded by d (0: no bound beyond the context). b is unchanged.
func (b *Backend) WithTimeout(d time.Duration) backend.Backend {
	c := *b
	if d < 0 {
		d = 0
	}
	c.timeout = d
	return &c
}

func (b *Backend) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.timeout > 0 {
		return context.WithTimeout(ctx, b.timeout)
	}
	return ctx, func() {}
}

// MaxValueSize returns the largest value Set accepts for key: MaxItemSize
// minus the key, the attribute names and the largest ttl number. It is
// negative when the key alone is too long for an item.
func (b *Backend) MaxValueSize(key string) int {
	return MaxItemSize - len(b.opts.KeyAttribute) - len(key) - len(b.opts.ValueAttribute) -
		len(b.opts.TTLAttribute) - maxNumberSize
}

// maxNumberSize is the most a Number attribute value counts towards the item
// size (DynamoDB: up to 21 bytes).
const maxNumberSize = 21

func checkKey(op, key string) error {
	if len(key) == 0 || len(key) > MaxKeySize {
		return permanent(op, key, ErrInvalidKey, "")
	}
	return nil
}

// expiry converts a lifetime into the ttl attribute: epoch seconds, rounded
// up so that an entry never expires early.
func expiry(now time.Time, ttl time.Duration) int64 {
	at := now.Add(ttl)
	s := at.Unix()
	if at.Nanosecond() > 0 {
		s++
	}
	return s
}

func numAttr(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func (b *Backend) keyAttr(key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{b.opts.KeyAttribute: &types.AttributeValueMemberS{Value: key}}
}

// itemTTL reads the ttl attribute of item. hasTTL is false when the item has
// no Number ttl (DynamoDB's TTL ignores such items too, so they never expire).
func (b *Backend) itemTTL(item map[string]types.AttributeValue) (exp int64, hasTTL bool, err error) {
	n, ok := item[b.opts.TTLAttribute].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false, nil
	}
	if exp, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		return exp, true, nil
	}
	// Written by another tool with a fraction or exponent: still seconds.
	f, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(f) {
		return 0, false, fmt.Errorf("%w: ttl %q is not a number", ErrBadItem, n.Value)
	}
	if f >= 1<<62 {
		return 1 << 62, true, nil
	}
	if f <= -(1 << 62) {
		return -(1 << 62), true, nil
	}
	e := int64(f)
	if float64(e) < f {
		e++
	}
	return e, true, nil
}

// live reports whether item exists and has not expired at now.
func (b *Backend) live(item map[string]types.AttributeValue, now time.Time) (ok bool, exp int64, hasTTL bool, err error) {
	if item == nil {
		return false, 0, false, nil
	}
	exp, hasTTL, err = b.itemTTL(item)
	if err != nil {
		return false, 0, false, err
	}
	if hasTTL && exp <= now.Unix() {
		return false, exp, hasTTL, nil
	}
	return true, exp, hasTTL, nil
}

// read fetches the key and ttl attributes (plus the value when withValue).
func (b *Backend) read(ctx context.Context, key string, withValue bool) (map[string]types.AttributeValue, error) {
	proj := "#k, #t"
	names := map[string]string{"#k": b.opts.KeyAttribute, "#t": b.opts.TTLAttribute}
	if withValue {
		proj = "#k, #v, #t"
		names = b.names
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	out, err := b.client.GetItem(ctx, &ddb.GetItemInput{
		TableName:                aws.String(b.opts.Table),
		Key:                      b.keyAttr(key),
		ConsistentRead:           aws.Bool(!b.opts.EventuallyConsistentReads),
		ProjectionExpression:     aws.String(proj),
		ExpressionAttributeNames: names,
	}, tagCredentials)
	if err != nil {
		return nil, err
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// Get returns the value stored under key. An item whose ttl has passed is a
// miss even if DynamoDB has not deleted it yet.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, _, found, err := b.GetWithTTL(ctx, key)
	return v, found, err
}

// GetWithTTL returns the value stored under key and its remaining lifetime
// (0: no expiry), both from the one GetItem that reads the value and the ttl
// attribute; remaining follows TTL's rules (whole seconds, never 0 for a
// live entry that expires).
func (b *Backend) GetWithTTL(ctx context.Context, key string) ([]byte, time.Duration, bool, error) {
	if err := checkKey("get", key); err != nil {
		return nil, 0, false, err
	}
	item, err := b.read(ctx, key, true)
	if err != nil {
		return nil, 0, false, wrapErr("get", key, err)
	}
	now := b.now()
	ok, exp, hasTTL, err := b.live(item, now)
	if err != nil {
		return nil, 0, false, permanent("get", key, err, "")
	}
	if !ok {
		return nil, 0, false, nil
	}
	v, isBin := item[b.opts.ValueAttribute].(*types.AttributeValueMemberB)
	if !isBin {
		return nil, 0, false, permanent("get", key, ErrBadItem, "attribute %q is missing or not Binary", b.opts.ValueAttribute)
	}
	var rem time.Duration
	if hasTTL {
		rem = remaining(exp, now)
	}
	if v.Value == nil {
		return []byte{}, rem, true, nil
	}
	return v.Value, rem, true, nil
}

// Set stores value under key with the given lifetime (0: no expiry). Values
// that would make the item exceed DynamoDB's 400 KB limit are refused before
// sending, with a Permanent error wrapping ErrItemTooLarge.
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkKey("set", key); err != nil {
		return err
	}
	if ttl < 0 {
		return permanent("set", key, errors.New("negative ttl"), "")
	}
	if max := b.MaxValueSize(key); len(value) > max {
		return permanent("set", key, ErrItemTooLarge, "value of %d bytes, at most %d fit with this key", len(value), max)
	}
	item := b.keyAttr(key)
	// The SDK serializes the request before PutItem returns, so value is not
	// retained; a nil value is stored as an empty binary.
	item[b.opts.ValueAttribute] = &types.AttributeValueMemberB{Value: nonNil(value)}
	if ttl > 0 {
		item[b.opts.TTLAttribute] = numAttr(expiry(b.now(), ttl))
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	_, err := b.client.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(b.opts.Table), Item: item}, tagCredentials)
	return wrapErr("set", key, err)
}

func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// Delete removes key and reports whether it held an unexpired value. An
// expired item that DynamoDB has not removed yet is left to its TTL sweep and
// reported as not deleted.
func (b *Backend) Delete(ctx context.Context, key string) (bool, error) {
	if err := checkKey("delete", key); err != nil {
		return false, err
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	_, err := b.client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:                 aws.String(b.opts.Table),
		Key:                       b.keyAttr(key),
		ConditionExpression:       aws.String("attribute_exists(#k) AND (attribute_not_exists(#t) OR #t > :now)"),
		ExpressionAttributeNames:  map[string]string{"#k": b.opts.KeyAttribute, "#t": b.opts.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": numAttr(b.now().Unix())},
	}, tagCredentials)
	return conditional("delete", key, err)
}

// Exists reports whether key holds an unexpired value, without reading the
// value.
func (b *Backend) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey("exists", key); err != nil {
		return false, err
	}
	item, err := b.read(ctx, key, false)
	if err != nil {
		return false, wrapErr("exists", key, err)
	}
	ok, _, _, err := b.live(item, b.now())
	if err != nil {
		return false, permanent("exists", key, err, "")
	}
	return ok, nil
}

// TTL returns the remaining lifetime of key in whole seconds (see the package
// documentation on TTL semantics). An entry without expiry reports
// (0, true, nil); a missing or expired one (0, false, nil).
func (b *Backend) TTL(ctx context.Context, key string) (time.Duration, bool, error) {
	if err := checkKey("ttl", key); err != nil {
		return 0, false, err
	}
	item, err := b.read(ctx, key, false)
	if err != nil {
		return 0, false, wrapErr("ttl", key, err)
	}
	now := b.now()
	ok, exp, hasTTL, err := b.live(item, now)
	if err != nil {
		return 0, false, permanent("ttl", key, err, "")
	}
	if !ok {
		return 0, false, nil
	}
	if !hasTTL {
		return 0, true, nil
	}
	return remaining(exp, now), true, nil
}

// remaining is the lifetime left until the expiry second exp. Like Redis's
// TTL command it is truncated to whole seconds, the storage's resolution, so
// it never exceeds the lifetime given to Set although Set rounded the expiry
// up; in the last second it is reported exactly, so that a live entry never
// reports 0 (which means "no expiry").
func remaining(exp int64, now time.Time) time.Duration {
	r := time.Unix(exp, 0).Sub(now)
	if r >= time.Second {
		r = r.Truncate(time.Second)
	}
	return r
}

// RefreshTTL gives an existing, unexpired key a new lifetime (0: no expiry)
// and reports whether the key existed. The value is not rewritten.
func (b *Backend) RefreshTTL(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := checkKey("refresh_ttl", key); err != nil {
		return false, err
	}
	if ttl < 0 {
		return false, permanent("refresh_ttl", key, errors.New("negative ttl"), "")
	}
	now := b.now()
	values := map[string]types.AttributeValue{":now": numAttr(now.Unix())}
	update := "REMOVE #t"
	if ttl > 0 {
		update = "SET #t = :exp"
		values[":exp"] = numAttr(expiry(now, ttl))
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	_, err := b.client.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(b.opts.Table),
		Key:                       b.keyAttr(key),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("attribute_exists(#k) AND (attribute_not_exists(#t) OR #t > :now)"),
		ExpressionAttributeNames:  map[string]string{"#k": b.opts.KeyAttribute, "#t": b.opts.TTLAttribute},
		ExpressionAttributeValues: values,
	}, tagCredentials)
	return conditional("refresh_ttl", key, err)
}

// AcquireLock tries once to take the lock for key for hold (rounded up to
// whole seconds). It writes the item "<key>:lock" only if it is absent or
// expired (a conditional PutItem), so exactly one of several concurrent
// callers wins. A contested lock is ("", false, nil).
func (b *Backend) AcquireLock(ctx context.Context, key string, hold time.Duration) (string, bool, error) {
	lockKey := key + LockSuffix
	if err := checkKey("lock", lockKey); err != nil {
		return "", false, err
	}
	if hold <= 0 {
		return "", false, permanent("lock", key, errors.New("lock hold must be positive"), "")
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", false, backend.NewError(backend.Permanent, Name, "lock", key, fmt.Errorf("lock id: %w", err))
	}
	id := hex.EncodeToString(raw[:])
	now := b.now()
	item := b.keyAttr(lockKey)
	item[b.opts.ValueAttribute] = &types.AttributeValueMemberB{Value: []byte(id)}
	item[b.opts.TTLAttribute] = numAttr(expiry(now, hold))
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	_, err := b.client.PutItem(ctx, &ddb.PutItemInput{
		TableName:                 aws.String(b.opts.Table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#k) OR #t <= :now"),
		ExpressionAttributeNames:  map[string]string{"#k": b.opts.KeyAttribute, "#t": b.opts.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": numAttr(now.Unix())},
	}, tagCredentials)
	if ok, err := conditional("lock", key, err); !ok {
		return "", false, err
	}
	return id, true, nil
}

// ReleaseLock deletes the lock for key only if lockID holds it and it has
// not expired (a conditional DeleteItem). It reports false otherwise.
func (b *Backend) ReleaseLock(ctx context.Context, key, lockID string) (bool, error) {
	lockKey := key + LockSuffix
	if err := checkKey("unlock", lockKey); err != nil {
		return false, err
	}
	if lockID == "" {
		return false, nil
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	_, err := b.client.DeleteItem(ctx, &ddb.DeleteItemInput{
		TableName:                aws.String(b.opts.Table),
		Key:                      b.keyAttr(lockKey),
		ConditionExpression:      aws.String("#v = :id AND #t > :now"),
		ExpressionAttributeNames: map[string]string{"#v": b.opts.ValueAttribute, "#t": b.opts.TTLAttribute},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":id":  &types.AttributeValueMemberB{Value: []byte(lockID)},
			":now": numAttr(b.now().Unix()),
		},
	}, tagCredentials)
	return conditional("unlock", key, err)
}

// HealthCheck calls DescribeTable and reports healthy when the table is
// ACTIVE (or UPDATING, which still serves requests). details holds
// backend_type, latency_ms, table and table_status, or error on failure.
func (b *Backend) HealthCheck(ctx context.Context) (bool, map[string]any) {
	details := map[string]any{
		backend.DetailBackendType: Name,
		"table":                   b.opts.Table,
	}
	ctx, cancel := b.opContext(ctx)
	defer cancel()
	start := time.Now()
	out, err := b.client.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(b.opts.Table)}, tagCredentials)
	details[backend.DetailLatencyMS] = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		details[backend.DetailError] = wrapErr("health", "", err).Error()
		return false, details
	}
	if out.Table == nil {
		details[backend.DetailError] = "DescribeTable returned no table"
		return false, details
	}
	status := out.Table.TableStatus
	details["table_status"] = string(status)
	if status != types.TableStatusActive && status != types.TableStatusUpdating {
		details[backend.DetailError] = "table is " + string(status)
		return false, details
	}
	return true, details
}

// conditional interprets the result of a conditional write: success is true,
// a condition that did not hold is false without error, anything else an
// error.
func conditional(op, key string, err error) (bool, error) {
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, wrapErr(op, key, err)
	}
	return true, nil
}
