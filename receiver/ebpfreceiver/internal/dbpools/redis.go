package dbpools

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/sqlconnector"
)

// go-redis modules whose connection pools are read.
var redisModules = []string{"github.com/redis/go-redis/v9", "github.com/go-redis/redis/v8"}

// field is a struct field's offset and size (0: absent).
type field struct{ off, size uint64 }

// RedisLayout is where a binary's go-redis keeps what is read: the
// client's pool (baseClient.connPool, an interface holding a
// *pool.ConnPool) and options, and the pool's state. From DWARF, else from
// the offsets table, which records these fields' offsets and sizes for
// every release of go-redis v9 and v8 (goexe/offsets_fields.txt): the
// pool's fields changed size and place across releases (poolSize and
// idleConnsLen became atomic.Int32 and Options.PoolSize an int32 in later
// v9 releases; WaitCount and waitDurationNs came in v9.10;
// PendingRequests later).
type RedisLayout struct {
	Module string
	// baseClient
	ConnPool, Opt uint64
	// Options (the client's)
	Addr, DB uint64
	// pool.ConnPool and pool.Options
	PoolCfg                                    uint64
	PoolSizeOpt, PoolOpen, PoolIdle            field
	Timeouts, WaitCount, Pending, WaitDuration field
}

// RedisLayoutOf reads the layout of the first go-redis module the binary
// links, from its DWARF or, without DWARF, the offsets table by the
// module's version (an error naming the module, its version and the
// missing field when it links none, or neither knows the layout).
func RedisLayoutOf(exe *goexe.Executable) (RedisLayout, error) {
	for _, m := range redisModules {
		if _, ok := exe.Modules[m]; !ok {
			continue
		}
		l, err := redisLayoutOf(exe, m)
		if err != nil {
			return RedisLayout{}, fmt.Errorf("%s %s: %w", m, exe.Modules[m], err)
		}
		return l, nil
	}
	return RedisLayout{}, errors.New("no go-redis v8 or v9 module")
}

func redisLayoutOf(exe *goexe.Executable, module string) (RedisLayout, error) {
	l := RedisLayout{Module: module}
	pool := module + "/internal/pool."
	var errs []error
	off := func(structName, name string) uint64 {
		o, err := exe.FieldOffset(structName, name)
		if err != nil {
			errs = append(errs, err)
		}
		return o
	}
	sized := func(structName, name string, required bool) field {
		o, err := exe.FieldOffset(structName, name)
		if err != nil {
			if required {
				errs = append(errs, err)
			}
			return field{}
		}
		s, err := exe.FieldSize(structName, name)
		if err != nil || (s != 4 && s != 8) {
			errs = append(errs, fmt.Errorf("%s.%s: size %d: %v", structName, name, s, err))
			return field{}
		}
		return field{o, s}
	}
	l.ConnPool = off(module+".baseClient", "connPool")
	l.Opt = off(module+".baseClient", "opt")
	l.Addr = off(module+".Options", "Addr")
	l.DB = off(module+".Options", "DB")
	// The pool's options: cfg in v9, opt in v8.
	if o, err := exe.FieldOffset(pool+"ConnPool", "cfg"); err == nil {
		l.PoolCfg = o
	} else {
		l.PoolCfg = off(pool+"ConnPool", "opt")
	}
	l.PoolSizeOpt = sized(pool+"Options", "PoolSize", true) // int, int32 in later v9
	l.PoolOpen = sized(pool+"ConnPool", "poolSize", true)
	l.PoolIdle = sized(pool+"ConnPool", "idleConnsLen", true)
	stats := off(pool+"ConnPool", "stats")
	for _, f := range []struct {
		name     string
		dst      *field
		required bool
	}{{"Timeouts", &l.Timeouts, true}, {"WaitCount", &l.WaitCount, false}, {"PendingRequests", &l.Pending, false}} {
		if v := sized(pool+"Stats", f.name, f.required); v.size != 0 {
			*f.dst = field{stats + v.off, v.size}
		}
	}
	l.WaitDuration = sized(pool+"ConnPool", "waitDurationNs", false)
	if len(errs) > 0 {
		return RedisLayout{}, fmt.Errorf("go-redis pool layout: %w", errors.Join(errs...))
	}
	return l, nil
}

// redisPoolType is the runtime's name of the pool a Client makes (a
// Conn's single-connection pools are not read).
const redisPoolType = "*pool.ConnPool"

// maxRedisAddr bounds the address read.
const maxRedisAddr = 256

// ReadRedis reads the pool of the go-redis *baseClient at client: its
// state, its address (the pool's identity: clients sharing a pool are
// read once) and its name ("redis 127.0.0.1:6379/0"). typeName names a
// type descriptor at an unrelocated address; bias is the load bias.
func ReadRedis(mem Memory, client uint64, l RedisLayout, bias uint64, typeName func(uint64) string) (State, uint64, string, error) {
	word := func(addr uint64) (uint64, error) {
		var w [8]byte
		if _, err := mem.ReadAt(w[:], int64(addr)); err != nil {
			return 0, fmt.Errorf("read %#x: %w", addr, err)
		}
		return binary.LittleEndian.Uint64(w[:]), nil
	}
	num := func(base uint64, f field) (int64, error) {
		if f.size == 0 {
			return 0, nil
		}
		v, err := word(base + f.off)
		if f.size == 4 {
			return int64(int32(uint32(v))), err
		}
		return int64(v), err
	}
	itab, err := word(client + l.ConnPool)
	if err != nil {
		return State{}, 0, "", err
	}
	pool, err := word(client + l.ConnPool + 8)
	if err != nil || itab == 0 || pool == 0 {
		return State{}, 0, "", fmt.Errorf("go-redis client at %#x: no pool (%v)", client, err)
	}
	typ, err := word(itab + 8)
	if err != nil || typ == 0 || typeName == nil || typeName(typ-bias) != redisPoolType {
		return State{}, 0, "", errNotConnPool
	}
	var s State
	var errs []error
	cfg, err := word(pool + l.PoolCfg)
	errs = append(errs, err)
	if cfg != 0 {
		s.MaxOpen, err = num(cfg, l.PoolSizeOpt)
		errs = append(errs, err)
	}
	s.Open, err = num(pool, l.PoolOpen)
	errs = append(errs, err)
	s.Idle, err = num(pool, l.PoolIdle)
	errs = append(errs, err)
	s.Timeouts, err = num(pool, l.Timeouts)
	errs = append(errs, err)
	s.HasTimeouts = true
	if l.WaitCount.size != 0 {
		s.WaitCount, err = num(pool, l.WaitCount)
		errs = append(errs, err)
		var ns int64
		ns, err = num(pool, l.WaitDuration)
		errs = append(errs, err)
		s.WaitDuration = durationNs(ns)
	} else {
		s.NoWaits = true
	}
	if l.Pending.size != 0 {
		s.Pending, err = num(pool, l.Pending)
		errs = append(errs, err)
		s.Pending = int64(uint32(s.Pending)) // a uint32
	} else {
		s.NoPending = true
	}
	if err := errors.Join(errs...); err != nil {
		return s, pool, "", fmt.Errorf("go-redis pool at %#x: %w", pool, err)
	}
	if s.Open < 0 || s.Idle < 0 || s.Idle > s.Open+1<<20 || s.MaxOpen < 0 || s.WaitCount < 0 {
		return s, pool, "", fmt.Errorf("go-redis pool at %#x: implausible state %+v", pool, s)
	}
	return s, pool, redisPoolName(mem, client, l), nil
}

var errNotConnPool = errors.New("not a *pool.ConnPool")

// redisPoolName: "redis", the client's address and database.
func redisPoolName(mem Memory, client uint64, l RedisLayout) string {
	srv := sqlconnector.Server{System: "redis"}
	var w [16]byte
	if _, err := mem.ReadAt(w[:8], int64(client+l.Opt)); err != nil {
		return srv.PoolName("redis")
	}
	opt := binary.LittleEndian.Uint64(w[:8])
	if opt == 0 {
		return srv.PoolName("redis")
	}
	if _, err := mem.ReadAt(w[:], int64(opt+l.Addr)); err == nil {
		ptr, n := binary.LittleEndian.Uint64(w[:8]), binary.LittleEndian.Uint64(w[8:])
		if n > 0 && n <= maxRedisAddr && ptr != 0 {
			b := make([]byte, n)
			if _, err := mem.ReadAt(b, int64(ptr)); err == nil {
				if host, port, err := net.SplitHostPort(string(b)); err == nil {
					srv.Address = host
					srv.Port, _ = strconv.Atoi(port)
				} else {
					srv.Address = string(b) // a unix socket's path
				}
			}
		}
	}
	if _, err := mem.ReadAt(w[:8], int64(opt+l.DB)); err == nil {
		srv.Namespace = strconv.FormatInt(int64(binary.LittleEndian.Uint64(w[:8])), 10)
	}
	return srv.PoolName("redis")
}
