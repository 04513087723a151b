// Package kafkago is what the kafka-go probes (kafkaproducer,
// kafkaconsumer) share: github.com/segmentio/kafka-go's struct layout for
// binaries without DWARF, and the messaging attributes of their spans.
package kafkago

import (
	"strings"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// Module is kafka-go's module path.
const Module = "github.com/segmentio/kafka-go"

// Attribute names and values (semantic conventions, messaging spans).
const (
	AttrSystem          = "messaging.system"
	AttrOperationType   = "messaging.operation.type"
	AttrOperationName   = "messaging.operation.name"
	AttrDestinationName = "messaging.destination.name"
	AttrPartitionID     = "messaging.destination.partition.id"
	AttrOffset          = "messaging.kafka.offset"
	AttrConsumerGroup   = "messaging.consumer.group.name"
	AttrBatchCount      = "messaging.batch.message_count"
	SystemKafka         = "kafka"
)

// Fields are the kafka-go fields the probes read.
var Fields = []fields.ID{
	fields.KafkaWriterTopic,
	fields.KafkaMessageTopic,
	fields.KafkaMessagePartition,
	fields.KafkaMessageOffset,
	fields.KafkaMessageHeaders,
	fields.KafkaReaderConfig,
	fields.KafkaReaderConfigGroupID,
}

// OffsetFields are what the producer's offsets need (the kafkaoffsets
// probe, and the producer probe's note of each message's span): a group of
// its own, so that a kafka-go without them still gets its spans.
var OffsetFields = []fields.ID{
	fields.KafkaMessageKey,
	fields.KafkaMessageValue,
	fields.KafkaWriteBatchMsgs,
	fields.KafkaWriteBatchErr,
	fields.KafkaWriterRequiredAcks,
	fields.KafkaPartitionWriterW,
}

// MessageSize is sizeof(kafka.Message) in every v0.4 release: the stride
// of the BPF programs' walk over a []Message (KAFKA_MESSAGE_SIZE). Time,
// its last field (time.Time, 24 bytes), is at MessageTimeOffset.
const (
	MessageSize       = 152
	MessageTimeOffset = 128
)

// Layout is the offsets of Fields in every kafka-go v0.4 release the
// module proxy serves (v0.4.42 through v0.4.51; TestLayoutRule checks the
// oldest and the newest against DWARF): Writer{Addr net.Addr; Topic
// string; ...}, Message{Topic string; Partition int; Offset int64;
// HighWaterMark int64; Key, Value []byte; Headers []Header; ...},
// Reader{config ReaderConfig; ...}, ReaderConfig{Brokers []string; GroupID
// string; ...}, writeBatch{time time.Time; msgs []Message; size int; bytes
// int64; ready, done chan struct{}; timer *time.Timer; err error} (done
// is err-16: the offsets programs check the batch they read against the
// channel being closed), Writer.RequiredAcks after Addr, Topic, Balancer
// and eight int-sized settings,
// partitionWriter.w after meta, queue, mutex and currBatch.
var Layout = map[fields.ID]uint64{
	fields.KafkaWriterTopic:         16,
	fields.KafkaMessageTopic:        0,
	fields.KafkaMessagePartition:    16,
	fields.KafkaMessageOffset:       24,
	fields.KafkaMessageHeaders:      88,
	fields.KafkaReaderConfig:        0,
	fields.KafkaReaderConfigGroupID: 24,
	fields.KafkaMessageKey:          40,
	fields.KafkaMessageValue:        64,
	fields.KafkaWriteBatchMsgs:      24,
	fields.KafkaWriteBatchErr:       88,
	fields.KafkaWriterRequiredAcks:  112,
	fields.KafkaPartitionWriterW:    88,
}

// Complete fills the fields DWARF did not give for a binary built with
// kafka-go v0.4 (its build info names the version, stripped or not).
func Complete(exe *goexe.Executable, t *fields.Table) {
	if !HasKnownLayout(exe) {
		return
	}
	for id, v := range Layout {
		if !t.Known(id) {
			t[id] = v
		}
	}
}

// HasKnownLayout: the binary uses a kafka-go release whose layout is
// Layout.
func HasKnownLayout(exe *goexe.Executable) bool {
	v, ok := exe.Modules[Module]
	return ok && strings.HasPrefix(v, "v0.4.")
}
