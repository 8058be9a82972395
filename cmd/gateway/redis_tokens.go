// This file holds the settings of managed mode's token store on Redis
// (issue 13): with -auth-mode managed and -redis-url, the locations' token
// pairs live in Redis (oauth.RedisStore), sealed with -oauth-store-key,
// refreshed under a per-location lock shared by every replica.

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"time"

	"github.com/ghl-graphql/gateway/oauth"
	"github.com/ghl-graphql/gateway/redisx"
)

// minTokenLockLease is the shortest lock lease accepted: the holder renews
// every third of it, and a renewal is one Redis round trip.
const minTokenLockLease = 300 * time.Millisecond

// redisTokenConfig is the settings of the token store on Redis.
type redisTokenConfig struct {
	acceptNoPersistence bool
	lease               time.Duration
	localTTL            time.Duration
	readCache           time.Duration
}

// registerRedisTokenFlags declares the token store's Redis flags.
func registerRedisTokenFlags(fs *flag.FlagSet, c *redisTokenConfig) {
	fs.BoolVar(&c.acceptNoPersistence, "redis-accept-no-persistence", false, "managed with -redis-url: let the token store start on a Redis that persists nothing (no AOF, no RDB) or whose persistence cannot be read; a restart of Redis then loses every install")
	fs.DurationVar(&c.lease, "redis-token-lock-lease", oauth.DefaultLockLease, "managed with -redis-url: lease of a location's refresh lock, renewed while held; a replica that dies holding it frees it this long after")
	fs.DurationVar(&c.readCache, "redis-token-read-cache", oauth.DefaultReadCache, "managed with -redis-url: how long a location's tokens read from Redis answer calls from memory (a refresh always reads Redis); 0: every call reads Redis")
	fs.DurationVar(&c.localTTL, "redis-token-local-ttl", oauth.DefaultLocalTTL, "managed with -redis-url: while Redis is down, how long after its last read a location's access token is still served from memory (never past its expiry; refreshes are refused); 0: never")
}

// validate names the first bad setting.
func (c redisTokenConfig) validate() error {
	if c.lease < minTokenLockLease {
		return fmt.Errorf("%s %v: must be at least %v", setting("redis-token-lock-lease"), c.lease, minTokenLockLease)
	}
	if c.readCache < 0 {
		return fmt.Errorf("%s %v: must not be negative (0: every call reads Redis)", setting("redis-token-read-cache"), c.readCache)
	}
	if c.localTTL < 0 {
		return fmt.Errorf("%s %v: must not be negative (0: never serve from memory)", setting("redis-token-local-ttl"), c.localTTL)
	}
	return nil
}

// redisTokenStore returns managed mode's token store on the shared Redis:
// sealed with -oauth-store-key, refusing a Redis that persists nothing
// unless -redis-accept-no-persistence. The caller has validated cfg.
func redisTokenStore(ctx context.Context, conn *redisx.Conn, cfg *config, logger *slog.Logger) (oauth.Store, error) {
	key, err := oauth.ParseKey(cfg.oauthStoreKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting("oauth-store-key"), err)
	}
	localTTL := cfg.redisTokens.localTTL
	if localTTL == 0 {
		localTTL = -1 // RedisStoreConfig: negative is never, 0 its default
	}
	readCache := cfg.redisTokens.readCache
	if readCache == 0 {
		readCache = -1
	}
	s, err := oauth.NewRedisStore(ctx, conn, oauth.RedisStoreConfig{
		Key: key, Lease: cfg.redisTokens.lease, LocalTTL: localTTL, ReadCache: readCache,
		AcceptNoPersistence: cfg.redisTokens.acceptNoPersistence, Logger: logger,
	})
	if err != nil {
		return nil, fmt.Errorf("token store on Redis (%s): %w", setting("redis-url"), err)
	}
	return s, nil
}

// tokenStore returns managed mode's token store: on Redis when conn is
// not nil (-redis-url set), else the encrypted file -oauth-token-store.
func (c *config) tokenStore(ctx context.Context, conn *redisx.Conn, logger *slog.Logger) (oauth.Store, error) {
	if conn != nil {
		return redisTokenStore(ctx, conn, c, logger)
	}
	key, _ := oauth.ParseKey(c.oauthStoreKey)
	store, err := oauth.NewFileStore(c.oauthStore, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting("oauth-token-store"), err)
	}
	return store, nil
}
