// Command runtimedemo is a purpose-built target for the runtime-metrics
// tests: each mode produces one runtime behaviour whose truth is known.
//
//	-mode leak   goroutines blocked forever on a channel, created by main.leakyWorkerSpawner
//	-mode alloc  allocations from main.allocHeavy and main.allocLight, 3:1 in bytes;
//	             main.allocLarge (64 KiB objects) and main.allocMap (map growth)
//	-mode gc     forced and natural GC cycles; prints its own runtime/metrics figures
//	-mode many   -n goroutines blocked on a channel, created by main.spawnMany
//	-mode pool   one generic creation site (main.runInPool) starting different
//	             functions: main.ordersWorker leaks, main.paymentsWorker stays
//	             at 30; 5 main.argWorker started through main.startWithArg's
//	             `go argWorker(id)` (a compiler-generated wrapper)
//	-mode busy   more CPU-bound locked threads than CPUs
//	-mode bench  an allocation- and goroutine-heavy workload printing ops/s
//	-mode switch a context-switch-heavy workload (pipe ping-pong between two
//	             threads) printing round trips/s
//
// It prints "ready" once the behaviour is under way, and "stats ..." lines.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"
)

var sink [][]byte

var never = make(chan struct{})

//go:noinline
func leakyWorker() {
	<-never // blocks forever: the leak
}

//go:noinline
func leakyWorkerSpawner(n int) {
	for i := 0; i < n; i++ {
		go leakyWorker()
	}
}

//go:noinline
func spawnMany(n int, wg *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			wg.Done()
			<-never
		}()
	}
}

// runInPool is a generic helper, like a worker pool's submit or errgroup's
// Go: every goroutine of -mode pool is created here, whatever it runs.
//
//go:noinline
func runInPool(f func()) {
	go f()
}

//go:noinline
func ordersWorker() {
	<-never
}

//go:noinline
func paymentsWorker() {
	<-never
}

//go:noinline
func argWorker(id int) {
	if id < 0 {
		fmt.Println(id)
	}
	<-never
}

//go:noinline
func startWithArg(id int) {
	go argWorker(id)
}

//go:noinline
func allocHeavy() {
	// 3 KiB per call, in three 1 KiB objects.
	for i := 0; i < 3; i++ {
		sink[0] = make([]byte, 1024)
	}
}

//go:noinline
func allocLight() {
	sink[1] = make([]byte, 1024)
}

// mapSink keeps allocMap's maps on the heap.
var mapSink map[int]int

// allocMap fills a map: its memory is allocated inside the runtime's map
// code (internal/runtime/maps since Go 1.24), called from here.
//
//go:noinline
func allocMap() {
	m := make(map[int]int)
	for i := 0; i < 64; i++ {
		m[i] = i
	}
	mapSink = m
}

//go:noinline
func allocLarge() {
	sink[2] = make([]byte, 64<<10)
}

// gcStats prints the program's own view of its GC (runtime/metrics; the
// names that older Go versions lack are left out of the line).
func gcStats() string {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}, {Name: "/gc/cycles/forced:gc-cycles"}, {Name: "/gc/gogc:percent"}, {Name: "/sched/latencies:seconds"}}
	metrics.Read(s)
	line := "stats"
	for i, k := range []string{"cycles", "forced", "gogc"} {
		if s[i].Value.Kind() == metrics.KindUint64 {
			line += fmt.Sprintf(" %s=%d", k, s[i].Value.Uint64())
		}
	}
	if s[3].Value.Kind() == metrics.KindFloat64Histogram {
		var n uint64
		for _, c := range s[3].Value.Float64Histogram().Counts {
			n += c
		}
		line += fmt.Sprintf(" schedlat=%d", n)
	}
	return line
}

func main() {
	mode := flag.String("mode", "leak", "leak|pool|alloc|gc|many|busy|bench|switch")
	rate := flag.Int("memprofilerate", 4096, "runtime.MemProfileRate for -mode alloc (0 keeps sampling off)")
	many := flag.Int("n", 10000, "goroutines blocked by -mode many")
	flag.Parse()
	sink = make([][]byte, 3)
	switch *mode {
	case "leak":
		go func() {
			for {
				leakyWorkerSpawner(20)
				runtime.GC() // GC records g.waitsince of blocked goroutines
				time.Sleep(200 * time.Millisecond)
			}
		}()
	case "pool":
		for i := 0; i < 30; i++ {
			runInPool(paymentsWorker)
		}
		for i := 0; i < 5; i++ {
			startWithArg(i)
		}
		go func() {
			for {
				for i := 0; i < 20; i++ {
					runInPool(ordersWorker)
				}
				runtime.GC()
				time.Sleep(200 * time.Millisecond)
			}
		}()
	case "alloc":
		runtime.MemProfileRate = *rate
		go func() {
			for {
				for i := 0; i < 1000; i++ {
					allocHeavy()
					allocLight()
				}
				allocLarge()
				allocMap()
				time.Sleep(time.Millisecond)
			}
		}()
	case "gc":
		go func() {
			for i := 0; ; i++ {
				for j := 0; j < 100; j++ {
					sink[0] = make([]byte, 64<<10)
				}
				if i%5 == 0 {
					runtime.GC()
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		go func() {
			for {
				fmt.Println(gcStats())
				time.Sleep(100 * time.Millisecond)
			}
		}()
	case "many":
		var wg sync.WaitGroup
		spawnMany(*many, &wg)
		wg.Wait()
		time.Sleep(100 * time.Millisecond) // let the last ones park
		// A timer keeps the runtime from declaring a deadlock.
		go func() {
			for {
				time.Sleep(time.Second)
			}
		}()
	case "busy":
		for i := 0; i < 3*runtime.NumCPU(); i++ {
			go func() {
				runtime.LockOSThread()
				x := 0
				for {
					for i := 0; i < 1000000; i++ {
						x += i
					}
					if x == -1 {
						fmt.Println(x)
					}
				}
			}()
		}
	case "bench":
		bench()
		return
	case "switch":
		pingPong()
		return
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", *mode)
		os.Exit(2)
	}
	fmt.Println("ready")
	select {}
}

// benchSink keeps bench allocations on the heap.
var benchSink [32][]byte

// bench runs a fixed-duration allocation- and goroutine-heavy workload and
// prints how many operations it completed per second. Each operation is a
// 256-byte heap allocation in one of 32 short-lived goroutines; no channel
// ping-pong, whose throughput swings with thread placement.
func bench() {
	dur := benchDuration()
	fmt.Println("ready")
	deadline := time.Now().Add(dur)
	var ops uint64
	start := time.Now()
	for time.Now().Before(deadline) {
		var wg sync.WaitGroup
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for j := 0; j < 256; j++ {
					b := make([]byte, 256)
					b[j] = byte(i)
					benchSink[i] = b
				}
			}(i)
		}
		wg.Wait()
		ops += 32 * 256
	}
	printRates(ops, start)
}

// benchDuration is how long -mode bench and -mode switch run (5 s, or
// RUNTIMEDEMO_BENCH_SECONDS).
func benchDuration() time.Duration {
	dur := 5 * time.Second
	if v := os.Getenv("RUNTIMEDEMO_BENCH_SECONDS"); v != "" {
		if s, err := time.ParseDuration(v + "s"); err == nil {
			dur = s
		}
	}
	return dur
}

// printRates prints ops per wall second since start and per CPU second of
// this process.
func printRates(ops uint64, start time.Time) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("ops_per_sec %.0f\n", float64(ops)/time.Since(start).Seconds())
	// Per CPU-second of this process: what the work cost, less sensitive
	// than wall-clock throughput to other load on the machine.
	fmt.Printf("ops_per_cpu_sec %.0f\n", float64(ops)/cpu.Seconds())
}

// pingPong is a context-switch-heavy workload: two OS threads pass one
// byte back and forth through two pipes with blocking reads, so every
// round trip puts each thread to sleep and wakes it again (sched_switch
// and sched_wakeup on every exchange). One op is one round trip.
func pingPong() {
	dur := benchDuration()
	var ping, pong [2]int
	if err := syscall.Pipe(ping[:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := syscall.Pipe(pong[:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		runtime.LockOSThread()
		b := make([]byte, 1)
		for {
			if _, err := syscall.Read(ping[0], b); err != nil {
				return
			}
			if _, err := syscall.Write(pong[1], b); err != nil {
				return
			}
		}
	}()
	runtime.LockOSThread()
	fmt.Println("ready")
	b := make([]byte, 1)
	start := time.Now()
	deadline := start.Add(dur)
	var ops uint64
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			_, _ = syscall.Write(ping[1], b)
			_, _ = syscall.Read(pong[0], b)
		}
		ops += 1000
	}
	printRates(ops, start)
}
