// Command saramademo is an ordinary github.com/IBM/sarama program the ebpf
// receiver's tests trace. At start it creates its topic with -partitions
// partitions. Its HTTP server's handler /produce?n=N&p=P sends N messages
// to partition P (a manual partitioner) with a SyncProducer: one
// SendMessage call for N=1, one SendMessages call for more; tp=<traceparent>
// puts that traceparent header in each message, as an application with an
// OpenTelemetry SDK would; big=1 makes the message larger than
// Producer.MaxMessageBytes, so the send fails. It
// answers "partition:offset" of each message sent, as the broker gave
// them. /start starts a consumer group (-group) whose handler reads
// claim.Messages(); /consumed answers the "partition:offset" of every
// message consumed so far, one per line. /bench?n=N&batch=B makes N
// sends one after the other (SendMessage for B=1, SendMessages of B
// messages otherwise) and answers the time they took in nanoseconds.
// /async?n=N&p=P[&big=1][&noack=1][&tp=<traceparent>] hands N messages to an AsyncProducer's
// Input() (with noack=1 one whose RequiredAcks is NoResponse) and answers
// each one's outcome, "partition:offset" or "error";
// /asyncbench?n=N&batch=B makes N rounds of B messages with an
// AsyncProducer that flushes every B messages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

type handler struct {
	mu       sync.Mutex
	consumed []string
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *handler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for m := range claim.Messages() {
		h.mu.Lock()
		h.consumed = append(h.consumed, fmt.Sprintf("%d:%d", m.Partition, m.Offset))
		h.mu.Unlock()
		sess.MarkMessage(m, "")
	}
	return nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	brokers := flag.String("brokers", "127.0.0.1:9092", "comma-separated brokers")
	topic := flag.String("topic", "orders", "topic")
	partitions := flag.Int("partitions", 3, "partitions of the topic created at start")
	group := flag.String("group", "workers", "consumer group")
	flag.Parse()
	addrs := strings.Split(*brokers, ",")

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_8_0_0
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond

	admin, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		log.Fatal(err)
	}
	err = admin.CreateTopic(*topic, &sarama.TopicDetail{NumPartitions: int32(*partitions), ReplicationFactor: 1}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		log.Fatal(err)
	}
	producer, err := sarama.NewSyncProducer(addrs, cfg)
	if err != nil {
		log.Fatal(err)
	}

	http.HandleFunc("/produce", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, _ := strconv.Atoi(q.Get("n"))
		p, _ := strconv.Atoi(q.Get("p"))
		if n <= 0 {
			http.Error(w, "want n > 0", http.StatusBadRequest)
			return
		}
		msgs := make([]*sarama.ProducerMessage, n)
		for i := range msgs {
			value := []byte(fmt.Sprintf("order %d of %d", i+1, n))
			if q.Get("big") == "1" {
				value = make([]byte, 2<<20)
			}
			msgs[i] = &sarama.ProducerMessage{Topic: *topic, Partition: int32(p), Value: sarama.ByteEncoder(value)}
			if tp := q.Get("tp"); tp != "" {
				msgs[i].Headers = []sarama.RecordHeader{{Key: []byte("origin"), Value: []byte("demo")}, {Key: []byte("traceparent"), Value: []byte(tp)}}
			}
		}
		if n == 1 {
			part, off, err := producer.SendMessage(msgs[0])
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "%d:%d\n", part, off)
			return
		}
		if err := producer.SendMessages(msgs); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, m := range msgs {
			fmt.Fprintf(w, "%d:%d\n", m.Partition, m.Offset)
		}
	})

	http.HandleFunc("/bench", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		batch, _ := strconv.Atoi(r.URL.Query().Get("batch"))
		if n <= 0 || batch <= 0 {
			http.Error(w, "want n > 0 and batch > 0", http.StatusBadRequest)
			return
		}
		start := time.Now()
		for i := 0; i < n; i++ {
			var err error
			if batch == 1 {
				_, _, err = producer.SendMessage(&sarama.ProducerMessage{Topic: *topic, Value: sarama.StringEncoder("bench")})
			} else {
				msgs := make([]*sarama.ProducerMessage, batch)
				for j := range msgs {
					msgs[j] = &sarama.ProducerMessage{Topic: *topic, Value: sarama.StringEncoder("bench")}
				}
				err = producer.SendMessages(msgs)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintln(w, time.Since(start).Nanoseconds())
	})

	// The AsyncProducers: one flushing as soon as it can (/async), and
	// one per batch size B flushing every B messages (/asyncbench).
	async, err := sarama.NewAsyncProducer(addrs, cfg)
	if err != nil {
		log.Fatal(err)
	}
	noAckCfg := *cfg
	noAckCfg.Producer.RequiredAcks = sarama.NoResponse
	noAck, err := sarama.NewAsyncProducer(addrs, &noAckCfg)
	if err != nil {
		log.Fatal(err)
	}
	var asyncMu sync.Mutex
	asyncBatched := map[int]sarama.AsyncProducer{}
	// roundTrip hands msgs to ap by Input() and waits for each one's
	// outcome: "partition:offset", or "error" for a failed message.
	roundTrip := func(ap sarama.AsyncProducer, msgs []*sarama.ProducerMessage) []string {
		go func() {
			for _, m := range msgs {
				ap.Input() <- m
			}
		}()
		var out []string
		for range msgs {
			select {
			case m := <-ap.Successes():
				out = append(out, fmt.Sprintf("%d:%d", m.Partition, m.Offset))
			case <-ap.Errors():
				out = append(out, "error")
			}
		}
		return out
	}
	http.HandleFunc("/async", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, _ := strconv.Atoi(q.Get("n"))
		p, _ := strconv.Atoi(q.Get("p"))
		if n <= 0 {
			http.Error(w, "want n > 0", http.StatusBadRequest)
			return
		}
		msgs := make([]*sarama.ProducerMessage, n)
		for i := range msgs {
			value := []byte(fmt.Sprintf("async order %d of %d", i+1, n))
			if q.Get("big") == "1" {
				value = make([]byte, 2<<20)
			}
			msgs[i] = &sarama.ProducerMessage{Topic: *topic, Partition: int32(p), Value: sarama.ByteEncoder(value)}
			if tp := q.Get("tp"); tp != "" {
				msgs[i].Headers = []sarama.RecordHeader{{Key: []byte("origin"), Value: []byte("demo")}, {Key: []byte("traceparent"), Value: []byte(tp)}}
			}
		}
		asyncMu.Lock()
		defer asyncMu.Unlock()
		ap := async
		if q.Get("noack") == "1" {
			ap = noAck
		}
		for _, line := range roundTrip(ap, msgs) {
			fmt.Fprintln(w, line)
		}
	})
	http.HandleFunc("/asyncbench", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		batch, _ := strconv.Atoi(r.URL.Query().Get("batch"))
		if n <= 0 || batch <= 0 {
			http.Error(w, "want n > 0 and batch > 0", http.StatusBadRequest)
			return
		}
		asyncMu.Lock()
		defer asyncMu.Unlock()
		ap := asyncBatched[batch]
		if ap == nil {
			bcfg := *cfg
			bcfg.Producer.Flush.Messages = batch
			bcfg.Producer.Flush.Frequency = time.Second
			if ap, err = sarama.NewAsyncProducer(addrs, &bcfg); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			asyncBatched[batch] = ap
		}
		start := time.Now()
		for i := 0; i < n; i++ {
			msgs := make([]*sarama.ProducerMessage, batch)
			for j := range msgs {
				msgs[j] = &sarama.ProducerMessage{Topic: *topic, Value: sarama.StringEncoder("bench")}
			}
			for _, line := range roundTrip(ap, msgs) {
				if line == "error" {
					http.Error(w, "a message failed", http.StatusInternalServerError)
					return
				}
			}
		}
		fmt.Fprintln(w, time.Since(start).Nanoseconds())
	})

	h := &handler{}
	var startOnce sync.Once
	http.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		startOnce.Do(func() {
			cg, err := sarama.NewConsumerGroup(addrs, *group, cfg)
			if err != nil {
				log.Fatal(err)
			}
			go func() {
				for {
					if err := cg.Consume(context.Background(), []string{*topic}, h); err != nil {
						log.Printf("consume: %v", err)
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		})
		fmt.Fprintln(w, "started")
	})
	http.HandleFunc("/consumed", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, c := range h.consumed {
			fmt.Fprintln(w, c)
		}
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
