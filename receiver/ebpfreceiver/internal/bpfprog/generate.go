// Package bpfprog is the one BPF object every probe is compiled into
// (bpf/goebpf.bpf.c and, through bpf/probes/all.h, every file of bpf/probes), as
// bpf2go generates it: the programs, the maps, and Go types for the event
// structs, the event kinds and the offsets table. Sharing one object keeps
// the goroutine→span map and the ring buffer common to all probes.
package bpfprog

// probelist writes bpf/probes/all.h and generate_bpf2go.go, whose directive
// then runs bpf2go (go generate reads each file when it reaches it).
//go:generate go run ./cmd/probelist -dir ../../../../bpf/probes -go generate_bpf2go.go
