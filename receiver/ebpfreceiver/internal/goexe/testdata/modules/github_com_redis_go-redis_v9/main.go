// Command modapp uses the types of github.com/redis/go-redis/v9 whose field offsets cmd/offsetgen
// records (the client's options, a command's arguments, its connection
// pool's state), so that they are
// in its DWARF. It is built against every release of the module; it is never
// run.
package main

import (
	"context"

	redis "github.com/redis/go-redis/v9"
)

func main() {
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	_ = c.Get(context.Background(), "key").Err()
	_, _ = c.Pipelined(context.Background(), func(p redis.Pipeliner) error { return nil })
	_ = c.PoolStats()
}
