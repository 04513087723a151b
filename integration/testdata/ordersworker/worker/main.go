// Command worker is the consuming side of the Kafka join's end-to-end
// test: it reads the orders topic in a consumer group (kafka-go
// ReadMessage) and stores each order in PostgreSQL (database/sql, lib/pq,
// one INSERT per message). GET /stored on -addr answers how many orders it
// stored. An ordinary program: nothing in it knows about tracing.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/lib/pq"
	kafka "github.com/segmentio/kafka-go"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address (GET /stored)")
	dsn := flag.String("db", "", "PostgreSQL URL")
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated brokers")
	topic := flag.String("topic", "orders", "topic")
	group := flag.String("group", "workers", "consumer group")
	flag.Parse()

	db, err := sql.Open("postgres", *dsn)
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS orders (id serial PRIMARY KEY, body text NOT NULL)`); err != nil {
		log.Fatal(err)
	}
	var stored atomic.Int64
	http.HandleFunc("/stored", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, stored.Load())
	})
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     strings.Split(*brokers, ","),
		GroupID:     *group,
		Topic:       *topic,
		MinBytes:    1,
		MaxBytes:    1 << 20,
		MaxWait:     100 * time.Millisecond,
		StartOffset: kafka.FirstOffset,
	})
	go func() {
		for {
			m, err := reader.ReadMessage(context.Background())
			if err != nil {
				log.Printf("read: %v", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if _, err := db.Exec("INSERT INTO orders (body) VALUES ($1)", string(m.Value)); err != nil {
				log.Printf("insert: %v", err)
				continue
			}
			stored.Add(1)
		}
	}()
	log.Fatal(http.ListenAndServe(*addr, nil))
}
