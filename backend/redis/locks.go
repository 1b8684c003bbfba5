package redis

import (
	"context"
	"errors"
	"time"

	"github.com/redis/rueidis"

	"github.com/cachekit-go/cachekit/backend"
)

// releaseScript deletes the lock only while it still holds the caller's
// token, atomically: a holder whose lock expired and was taken by someone
// else cannot release the new holder's lock.
var releaseScript = rueidis.NewLuaScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("DEL", KEYS[1])
end
return 0`)

// extendScript sets a new hold time only while the lock holds the token.
var extendScript = rueidis.NewLuaScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0`)

// errBadHold is the cause of the error for a hold time that is not positive.
var errBadHold = errors.New("lock hold time must be positive")

// AcquireLock tries once to take the lock for key for hold, with
// SET <lock key> <random token> NX PX <hold>. It returns the token as the
// lock id, or ok == false when someone else holds the lock. hold must be
// positive (sub-millisecond holds are rounded up to 1 ms).
func (b *Backend) AcquireLock(ctx context.Context, key string, hold time.Duration) (string, bool, error) {
	if hold <= 0 {
		return "", false, backend.NewError(backend.Permanent, backendName, "lock", key, errBadHold)
	}
	ctx, cancel, c, err := b.start(ctx, "lock", key)
	if err != nil {
		return "", false, err
	}
	defer cancel()
	token := newToken()
	cmd := c.B().Set().Key(b.lockKey(b.prefix + key)).Value(token).Nx().PxMilliseconds(millis(hold)).Build()
	if err := c.Do(ctx, cmd).Error(); err != nil {
		if rueidis.IsRedisNil(err) {
			return "", false, nil
		}
		return "", false, wrapErr("lock", key, err)
	}
	return token, true, nil
}

// ReleaseLock releases the lock for key if lockID still holds it.
func (b *Backend) ReleaseLock(ctx context.Context, key, lockID string) (bool, error) {
	ctx, cancel, c, err := b.start(ctx, "unlock", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	n, err := releaseScript.Exec(ctx, c, []string{b.lockKey(b.prefix + key)}, []string{lockID}).AsInt64()
	if err != nil {
		return false, wrapErr("unlock", key, err)
	}
	return n == 1, nil
}

// ExtendLock gives a lock that lockID still holds a new hold time, for
// loaders that run longer than planned. It reports false when the lock
// expired or belongs to someone else.
func (b *Backend) ExtendLock(ctx context.Context, key, lockID string, hold time.Duration) (bool, error) {
	if hold <= 0 {
		return false, backend.NewError(backend.Permanent, backendName, "lock", key, errBadHold)
	}
	ctx, cancel, c, err := b.start(ctx, "lock", key)
	if err != nil {
		return false, err
	}
	defer cancel()
	ms := millis(hold)
	n, err := extendScript.Exec(ctx, c, []string{b.lockKey(b.prefix + key)}, []string{lockID, formatInt(ms)}).AsInt64()
	if err != nil {
		return false, wrapErr("lock", key, err)
	}
	return n == 1, nil
}
