package main

// A C function linked into the binary makes the Go linker link externally,
// which puts C runtime code at the start of .text, before runtime.text.

// static int cgo_answer(void) { return 42; }
import "C"

func cgoAnswer() int { return int(C.cgo_answer()) }
