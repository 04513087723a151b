// Package goroutines is the probe that carries span context to new
// goroutines (bpf/probes/goroutines.c): in every program with
// traces.goroutine_ancestry: deep (the receiver's default), so that calls
// any number of go statements below a handler join its span; with parent,
// only in programs whose runtime.g has no parentGoid (Go < 1.21), where
// without it a client call made from a goroutine a handler started would
// start a new trace.
package goroutines

import (
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/probes/httpserver"
)

// Name is the probe's name in selections and errors.
const Name = "goroutines"

// FuncNewprocClosure is runtime.newproc's systemstack closure, probed at
// its one call of FuncRunqput (runqput(pp, newg, true) right after newg :=
// newproc1(...)), which the kernel emulates instead of single-stepping.
// The closure has this name and shape in Go 1.19 to 1.26.
const (
	FuncNewprocClosure = "runtime.newproc.func1"
	FuncRunqput        = "runtime.runqput"
)

// FuncNewproc1 is the fallback: its RETs, where the new goroutine is the
// result, in a binary whose closure does not call runqput exactly once.
const FuncNewproc1 = "runtime.newproc1"

// ProgNewprocRunqput is the BPF program at the closure's call of runqput.
const ProgNewprocRunqput = "uprobe_newproc_runqput"

// ProgNewproc1Return is the BPF program at newproc1's RETs.
const ProgNewproc1Return = "uprobe_newproc1_return"

// Probe describes the probe to the loader: 1 hit per goroutine created, so
// it is attached only where it is needed.
var Probe = &probes.Probe{
	Name: Name,
	Uprobes: []probes.Uprobe{{
		Symbol: FuncNewprocClosure, CallsOf: FuncRunqput, SingleCall: true, Return: ProgNewprocRunqput,
		Fallback: &probes.Uprobe{Symbol: FuncNewproc1, Return: ProgNewproc1Return},
	}},
	Fields:       httpserver.GoroutineFields,
	CarriesSpans: true,
	NeedlessWith: []fields.ID{fields.RuntimeGParentGoid},
}
