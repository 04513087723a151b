// Command broker is the Kafka broker of the kafka-go tests: kfake (a
// broker in Go speaking the real Kafka protocol) with one node on
// 127.0.0.1 (-port, 0 for a free one) and the topics of -topics seeded with
// one partition each. It prints "listening <addr>" and runs until killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 0, "port (0: a free one)")
	topics := flag.String("topics", "orders", "comma-separated topics to create, one partition each")
	flag.Parse()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(*port), kfake.SeedTopics(1, strings.Split(*topics, ",")...))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println("listening", c.ListenAddrs()[0])
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
