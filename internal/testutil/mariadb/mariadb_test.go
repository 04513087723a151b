package mariadb

import (
	"net"
	"strconv"
	"testing"
)

// The server accepts TCP connections on its port while the test runs.
func TestStart(t *testing.T) {
	s := Start(t)
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}
