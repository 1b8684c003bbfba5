// Package dynamodb is a cachekit-go backend that stores entries in an Amazon
// DynamoDB table (or any server speaking the DynamoDB API, such as DynamoDB
// Local or dynalite).
//
// It lives in its own Go module so that aws-sdk-go-v2 is only downloaded by
// programs that use DynamoDB; the root cachekit module does not depend on it.
//
// # What it stores
//
// One item per cache entry, in a table whose partition key is a string:
//
//	key   (S, partition key)  the cache key, as given
//	value (B)                 the entry's bytes, opaque to this package
//	ttl   (N, optional)       expiry as Unix epoch seconds; absent = no expiry
//
// The table name and the three attribute names are configurable in [Options];
// the defaults are [DefaultTable], [DefaultKeyAttribute],
// [DefaultValueAttribute] and [DefaultTTLAttribute]. Locks ([Backend.AcquireLock])
// are items of the same shape under the key "<key>:lock" ([LockSuffix]), whose
// value is the lock id, the way the reference SDKs name their Redis locks.
// [CreateTable] creates a suitable on-demand table for development and tests.
//
// # TTL semantics
//
// The ttl attribute is DynamoDB's own TTL format (whole epoch seconds, a
// Number), so enabling Time to Live on the table with that attribute makes
// DynamoDB delete expired items for free. DynamoDB deletes them lazily,
// typically within a day or two, and until then they are still returned by
// reads. This backend therefore checks the ttl attribute on every read: an
// item whose ttl is at or before the current time is a miss for Get, Exists
// and TTL, even while it is still stored, and conditional writes (locks,
// RefreshTTL) treat it as absent.
//
// Because the attribute holds whole seconds, expiry is rounded UP to the next
// second: an entry never disappears early, and lives at most one second longer
// than asked. Lock holds are rounded the same way. [Backend.TTL] reports the
// remaining lifetime truncated to whole seconds (like Redis's TTL command), so
// it never exceeds what was set. Clocks matter: the expiry
// is computed from this process's clock and compared with the clock of the
// process that reads it, so keep hosts NTP-synchronised.
//
// # Cost and latency
//
// Every operation is one DynamoDB request (single-digit milliseconds inside a
// region, far more across the internet) and is billed by item size: a read
// unit per 4 KB read, a write unit per 1 KB written. Reads are strongly
// consistent by default, so a value written by one process is seen by the
// next read anywhere; [Options.EventuallyConsistentReads] halves the read cost
// at the price of reads that may briefly return the previous value. Delete,
// Exists, TTL and lock operations never transfer the value back. Keep values
// small (compression above this layer helps): DynamoDB refuses items over
// 400 KB, and this backend refuses them before sending, with a Permanent
// error wrapping [ErrItemTooLarge]. Prefer an in-process L1 cache in front of
// this backend for hot keys: DynamoDB is durable and shared, not fast.
//
// # Clearing by prefix
//
// [Backend.DeletePrefix] (what cachekit's per-function Clear uses) Scans the
// whole table with a begins_with filter and deletes the matches with
// BatchWriteItem. DynamoDB has no cheaper way to find keys by prefix when the
// key is the partition key: a Scan reads and bills every item of the table,
// so a Clear costs about the table's size in read units. It needs the Scan
// and BatchWriteItem methods ([ScanClient]) of the client.
//
// # When DynamoDB is down
//
// New checks the table with DescribeTable, but when DynamoDB does not answer
// (unreachable, throttling, timing out) it logs a warning and succeeds
// without the check, so a service starts while its backend is down; a
// missing table, a wrong key schema or rejected credentials still fail New.
// Every operation is bounded by its context and Options.Timeout, the AWS
// SDK's retries included.
//
// # Errors
//
// Failures are *backend.Error values. Throttling, 5xx and network failures are
// Transient; validation failures, missing tables and oversized items are
// Permanent; rejected or missing credentials are Authentication; deadlines are
// Timeout. Messages carry the operation, the key and the DynamoDB error code,
// never credentials or values. The AWS SDK's own retryer still runs inside
// each call; the cache above sees only its final result.
package dynamodb
