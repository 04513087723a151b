//go:build race

package drift

// The race detector slows atomics about tenfold; long simulations then run
// at a reduced scale (same assertions) so `go test -race` stays quick.
const raceEnabled = true
