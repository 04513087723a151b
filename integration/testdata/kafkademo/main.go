// Command kafkademo is an ordinary github.com/segmentio/kafka-go program
// the ebpf receiver's tests trace: an HTTP server whose handler
// /produce?n=N sends N messages to the topic in one WriteMessages call
// (topic=writer: the Writer names the topic; topic=message: each message
// does; tp=<traceparent>: each message carries that traceparent header, as
// an application with an OpenTelemetry SDK would set it; acks=none: a
// Writer with kafka-go's default RequiredAcks, none; big=1: the first
// message is larger than the Writer's BatchBytes, so WriteMessages fails
// at once), and a consumer
// goroutine reading the topic in a consumer group with ReadMessage.
// With -ack, the consumer calls its own /ack?offset=N over HTTP after each
// message (what it does with the message). /consumed answers how many
// messages it has read. /bench?n=N&batch=B
// makes N WriteMessages calls of B messages each, one after the other, and
// answers the time they took in nanoseconds. /burst?g=G&calls=C starts G
// goroutines at once, goroutine g making C WriteMessages calls of g+1
// messages each (values "burst g=<g> c=<call> m=<message>") on the same
// Writer, and answers when all are sent. /values lists the messages
// consumed, one "offset value" per line.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kafka "github.com/segmentio/kafka-go"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated brokers")
	topic := flag.String("topic", "orders", "topic")
	group := flag.String("group", "workers", "consumer group")
	ack := flag.Bool("ack", false, "GET /ack after each message consumed")
	flag.Parse()
	addrs := strings.Split(*brokers, ",")

	topicWriter := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: *topic, BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne}
	plainWriter := &kafka.Writer{Addr: kafka.TCP(addrs...), BatchTimeout: 5 * time.Millisecond, RequiredAcks: kafka.RequireOne}
	// kafka-go's default RequiredAcks: none (no produce response).
	noAckWriter := &kafka.Writer{Addr: kafka.TCP(addrs...), Topic: *topic, BatchTimeout: 5 * time.Millisecond}
	http.HandleFunc("/produce", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, _ := strconv.Atoi(q.Get("n"))
		if n <= 0 {
			http.Error(w, "want n > 0", http.StatusBadRequest)
			return
		}
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			msgs[i].Value = []byte(fmt.Sprintf("order %d of %d", i+1, n))
			if tp := q.Get("tp"); tp != "" {
				msgs[i].Headers = []kafka.Header{{Key: "origin", Value: []byte("demo")}, {Key: "traceparent", Value: []byte(tp)}}
			}
		}
		if q.Get("big") == "1" {
			msgs[0].Value = make([]byte, 2<<20)
		}
		wr := topicWriter
		if q.Get("acks") == "none" {
			wr = noAckWriter
		}
		if q.Get("topic") == "message" {
			wr = plainWriter
			for i := range msgs {
				msgs[i].Topic = *topic
			}
		}
		if err := wr.WriteMessages(r.Context(), msgs...); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "sent %d\n", n)
	})

	http.HandleFunc("/bench", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		batch, _ := strconv.Atoi(r.URL.Query().Get("batch"))
		if n <= 0 || batch <= 0 {
			http.Error(w, "want n > 0 and batch > 0", http.StatusBadRequest)
			return
		}
		msgs := make([]kafka.Message, batch)
		for i := range msgs {
			msgs[i].Value = []byte("bench")
		}
		start := time.Now()
		for i := 0; i < n; i++ {
			if err := topicWriter.WriteMessages(r.Context(), msgs...); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, time.Since(start).Nanoseconds())
	})

	http.HandleFunc("/burst", func(w http.ResponseWriter, r *http.Request) {
		g, _ := strconv.Atoi(r.URL.Query().Get("g"))
		calls, _ := strconv.Atoi(r.URL.Query().Get("calls"))
		if g <= 0 || calls <= 0 {
			http.Error(w, "want g > 0 and calls > 0", http.StatusBadRequest)
			return
		}
		start := make(chan struct{})
		errs := make(chan error, g)
		var wg sync.WaitGroup
		for i := 0; i < g; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				for c := 0; c < calls; c++ {
					msgs := make([]kafka.Message, i+1)
					for m := range msgs {
						msgs[m].Value = []byte(fmt.Sprintf("burst g=%d c=%d m=%d", i, c, m))
					}
					if err := topicWriter.WriteMessages(r.Context(), msgs...); err != nil {
						errs <- err
						return
					}
				}
			}(i)
		}
		close(start)
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "sent")
	})

	var valuesMu sync.Mutex
	values := map[int64]string{}
	http.HandleFunc("/values", func(w http.ResponseWriter, r *http.Request) {
		valuesMu.Lock()
		defer valuesMu.Unlock()
		for off, v := range values {
			fmt.Fprintf(w, "%d %s\n", off, v)
		}
	})

	http.HandleFunc("/ack", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})

	var consumed atomic.Int64
	http.HandleFunc("/consumed", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, consumed.Load())
	})
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        addrs,
		GroupID:        *group,
		Topic:          *topic,
		MinBytes:       1,
		MaxBytes:       1 << 20,
		MaxWait:        100 * time.Millisecond,
		StartOffset:    kafka.FirstOffset,
		CommitInterval: 0,
	})
	go func() {
		for {
			m, err := reader.ReadMessage(context.Background())
			if err != nil {
				log.Printf("read: %v", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			if *ack {
				resp, err := http.Get(fmt.Sprintf("http://%s/ack?offset=%d", *addr, m.Offset))
				if err != nil {
					log.Printf("ack: %v", err)
				} else {
					resp.Body.Close()
				}
			}
			valuesMu.Lock()
			values[m.Offset] = string(m.Value)
			valuesMu.Unlock()
			consumed.Add(1)
		}
	}()
	log.Fatal(http.ListenAndServe(*addr, nil))
}
