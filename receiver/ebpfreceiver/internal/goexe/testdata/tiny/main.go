// Command tiny is the smallest Go program worth inspecting: the fuzz test
// mutates its binary.
package main

import "os"

var answer = 42

func main() {
	if len(os.Args) > 1 {
		answer++
	}
	os.Exit(answer - 42)
}
