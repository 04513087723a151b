package redis

import (
	"strings"
	"testing"
)

// A started server answers, keeps what it is given, replies with errors,
// and is gone after Stop.
func TestStartStop(t *testing.T) {
	s := Start(t)
	if got, err := s.Reply("PING"); err != nil || got != "+PONG" {
		t.Fatalf("PING: %q, %v", got, err)
	}
	if err := s.Do("SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Reply("GET", "k"); err != nil || got != "$1" {
		t.Fatalf("GET: %q, %v", got, err)
	}
	if err := s.Do("INCR", "k"); err == nil || !strings.Contains(err.Error(), "ERR") {
		t.Fatalf("INCR of a string: %v, want an ERR reply", err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Do("PING"); err == nil {
		t.Fatal("PING answered after Stop")
	}
}
