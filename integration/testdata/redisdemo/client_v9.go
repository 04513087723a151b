//go:build !redisv8

package main

import (
	"time"

	redis "github.com/redis/go-redis/v9"
)

// The go-redis API this demo uses is the same in v8 and v9; the build tag
// redisv8 picks github.com/go-redis/redis/v8 instead (client_v8.go).
type (
	client    = redis.Client
	pipeliner = redis.Pipeliner
)

var (
	errNil    = redis.Nil
	newClient = func(addr string, db int) *client { return redis.NewClient(&redis.Options{Addr: addr, DB: db}) }
	// newPoolClient: a client of at most size connections, whose commands
	// wait at most timeout for one.
	newPoolClient = func(addr string, db, size int, timeout time.Duration) *client {
		return redis.NewClient(&redis.Options{Addr: addr, DB: db, PoolSize: size, PoolTimeout: timeout})
	}
)
