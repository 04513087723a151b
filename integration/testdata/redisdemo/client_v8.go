//go:build redisv8

package main

import (
	"time"

	redis "github.com/go-redis/redis/v8"
)

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
