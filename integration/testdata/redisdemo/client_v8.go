//go:build redisv8

package main

import redis "github.com/go-redis/redis/v8"

type (
	client    = redis.Client
	pipeliner = redis.Pipeliner
)

var (
	errNil    = redis.Nil
	newClient = func(addr string, db int) *client { return redis.NewClient(&redis.Options{Addr: addr, DB: db}) }
)
