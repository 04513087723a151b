// Command orders is the producing side of the Kafka join's end-to-end
// test: an HTTP service whose handler GET /order?id=N reads the product's
// price from PostgreSQL (database/sql, lib/pq), the stock from Redis
// (go-redis v9 GET) and sends the order to Kafka (kafka-go, one message
// per order, a synchronous Writer). An ordinary program: nothing in it
// knows about tracing.
package main

import (
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"time"

	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"
	kafka "github.com/segmentio/kafka-go"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	dsn := flag.String("db", "", "PostgreSQL URL")
	redisAddr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated brokers")
	topic := flag.String("topic", "orders", "topic")
	flag.Parse()

	db, err := sql.Open("postgres", *dsn)
	if err != nil {
		log.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS products (id int PRIMARY KEY, price int NOT NULL);
		INSERT INTO products VALUES (1, 42) ON CONFLICT DO NOTHING`); err != nil {
		log.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: *redisAddr, PoolSize: 1, Protocol: 2})
	writer := &kafka.Writer{
		Addr:         kafka.TCP(strings.Split(*brokers, ",")...),
		Topic:        *topic,
		BatchTimeout: 2 * time.Millisecond,
		RequiredAcks: kafka.RequireOne,
	}

	http.HandleFunc("/order", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.Atoi(r.URL.Query().Get("id"))
		if err != nil {
			http.Error(w, "want id", http.StatusBadRequest)
			return
		}
		var price int
		if err := db.QueryRowContext(r.Context(), "SELECT price FROM products WHERE id = $1", 1).Scan(&price); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		stock, err := rdb.Get(r.Context(), "stock:1").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		msg := kafka.Message{Key: []byte(strconv.Itoa(id)), Value: []byte(fmt.Sprintf("order %d price %d stock %q", id, price, stock))}
		if err := writer.WriteMessages(r.Context(), msg); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "order %d sent\n", id)
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
