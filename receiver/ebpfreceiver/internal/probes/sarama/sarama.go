// Package sarama is what the sarama probes (saramaproducer,
// saramaconsumer) share: the module paths and probed functions of
// github.com/IBM/sarama and its former home github.com/Shopify/sarama,
// and their struct layout for binaries without DWARF.
package sarama

import (
	"strconv"
	"strings"

	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/fields"
	"github.com/otelcol-goebpf/otelcol-goebpf/receiver/ebpfreceiver/internal/goexe"
)

// Module paths: sarama moved from Shopify to IBM at v1.40.
const (
	Module        = "github.com/IBM/sarama"
	ShopifyModule = "github.com/Shopify/sarama"
)

// Modules are both paths, IBM first.
var Modules = []string{Module, ShopifyModule}

// Probed functions, by module path.
func FuncSendMessage(module string) string {
	return module + ".(*syncProducer).SendMessage"
}

// FuncSendMessages is the SyncProducer's batch send.
func FuncSendMessages(module string) string {
	return module + ".(*syncProducer).SendMessages"
}

// FuncReturnSuccesses hands an acknowledged batch of an AsyncProducer's
// messages back (each message's Partition and Offset set).
func FuncReturnSuccesses(module string) string {
	return module + ".(*asyncProducer).returnSuccesses"
}

// FuncReturnErrors fails a batch of an AsyncProducer's messages (IBM
// v1.41 on; returnError, inlined, calls it).
func FuncReturnErrors(module string) string {
	return module + ".(*asyncProducer).returnErrors"
}

// FuncReturnError fails one message (IBM v1.40 and Shopify v1.38, where
// returnErrors is an inlined loop calling it).
func FuncReturnError(module string) string {
	return module + ".(*asyncProducer).returnError"
}

// FuncBuildRequest encodes a produce set into the request the broker
// producer sends (once per request).
func FuncBuildRequest(module string) string {
	return module + ".(*produceSet).buildRequest"
}

// FuncHandleSuccess handles a broker's answer to a produce request (its
// closure calls returnSuccesses).
func FuncHandleSuccess(module string) string {
	return module + ".(*brokerProducer).handleSuccess"
}

// FuncParseResponse turns one partition's part of a fetch response into
// the messages the partition consumer then feeds to the application.
func FuncParseResponse(module string) string {
	return module + ".(*partitionConsumer).parseResponse"
}

// FuncConsume starts a consumer group session.
func FuncConsume(module string) string {
	return module + ".(*consumerGroup).Consume"
}

// ProducerFields are read by the producer probe, ConsumerFields and
// GroupFields by the consumer probe (GroupFields for the group's name
// only).
var (
	ProducerFields = []fields.ID{
		fields.SaramaProducerMessageTopic,
		fields.SaramaProducerMessageOffset,
		fields.SaramaProducerMessagePartition,
	}
	// AsyncFields are read by the producer probe's AsyncProducer
	// programs besides ProducerFields: a message's expectation channel
	// (set by a SyncProducer).
	AsyncFields = []fields.ID{
		fields.SaramaProducerMessageExpectation,
	}
	// AsyncHeaderFields: an async message's headers ([]RecordHeader),
	// searched for a traceparent the application set.
	AsyncHeaderFields = []fields.ID{
		fields.SaramaProducerMessageHeaders,
		fields.SaramaRecordHeaderKey,
		fields.SaramaRecordHeaderValue,
	}
	ConsumerFields = []fields.ID{
		fields.SaramaConsumerMessageTopic,
		fields.SaramaConsumerMessagePartition,
		fields.SaramaConsumerMessageOffset,
	}
	GroupFields = []fields.ID{
		fields.SaramaPartitionConsumerConsumer,
		fields.SaramaConsumerGroupConsumer,
		fields.SaramaConsumerGroupGroupID,
	}
	// HeaderFields: a consumed message's headers, searched for a
	// traceparent the producing application set.
	HeaderFields = []fields.ID{
		fields.SaramaConsumerMessageHeaders,
		fields.SaramaRecordHeaderKey,
		fields.SaramaRecordHeaderValue,
	}
)

// Layout is the offsets of the fields in every release from
// github.com/Shopify/sarama v1.38 through github.com/IBM/sarama v1.61
// (TestLayoutRule checks the oldest and the newest IBM release and
// Shopify's last against DWARF): ProducerMessage{Topic string; Key, Value
// Encoder; Headers []RecordHeader; Metadata any; Offset int64; Partition
// int32; Timestamp time.Time; retries int; flags int8; expectation chan
// *ProducerError; ...}, ConsumerMessage{Headers []*RecordHeader; Timestamp,
// BlockTimestamp time.Time; Key, Value []byte; Topic string; Partition
// int32; Offset int64}, RecordHeader{Key, Value []byte},
// partitionConsumer{highWaterMarkOffset int64 (an
// atomic.Int64 from v1.46); consumer *consumer; ...},
// consumerGroup{client Client; config *Config; consumer Consumer; groupID
// string; ...}.
var Layout = map[fields.ID]uint64{
	fields.SaramaProducerMessageTopic:      0,
	fields.SaramaProducerMessageOffset:     88,
	fields.SaramaProducerMessagePartition:  96,
	fields.SaramaConsumerMessageTopic:      120,
	fields.SaramaConsumerMessagePartition:  136,
	fields.SaramaConsumerMessageOffset:     144,
	fields.SaramaPartitionConsumerConsumer: 8,
	fields.SaramaConsumerGroupConsumer:     24,
	fields.SaramaConsumerGroupGroupID:      40,
	fields.SaramaConsumerMessageHeaders:    0,
	fields.SaramaRecordHeaderKey:           0,
	fields.SaramaRecordHeaderValue:         24,
	// ProducerMessage{...; Timestamp time.Time (104); retries int; flags
	// flagSet; expectation chan *ProducerError; ...}
	fields.SaramaProducerMessageExpectation: 144,
	fields.SaramaProducerMessageHeaders:     48,
}

// Complete fills the fields DWARF did not give for a binary built with a
// sarama release whose layout is Layout (its build info names the
// version, stripped or not). Other releases get nothing: their probes are
// left out rather than read at guessed offsets.
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

// HasKnownLayout: the binary uses a sarama release whose layout is Layout.
func HasKnownLayout(exe *goexe.Executable) bool {
	if v, ok := exe.Modules[Module]; ok {
		return minorIn(v, 40, 61)
	}
	if v, ok := exe.Modules[ShopifyModule]; ok {
		return minorIn(v, 38, 38)
	}
	return false
}

// minorIn: v is v1.<minor>.* with lo <= minor <= hi.
func minorIn(v string, lo, hi int) bool {
	rest, ok := strings.CutPrefix(v, "v1.")
	if !ok {
		return false
	}
	minor, _, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	n, err := strconv.Atoi(minor)
	return err == nil && n >= lo && n <= hi
}
